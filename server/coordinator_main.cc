// The Strata coordinator daemon: job API for stratactl, node API for worker
// daemons and parameter-server shards. See docs/coordinator.md.
//
//   coordinator --listen=0.0.0.0:7070 --port_file=/tmp/coordinator.addr
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "glog/logging.h"
#include "proto/base/status_macros.h"
#include "server/metrics/metrics_flags.h"
#include "server/util/server_threads_flags.h"
#include "server/metrics/metrics_registry.h"
#include "server/security/credentials.h"
#include "server/security/security_flags.h"
#include "server/util/port_file.h"
#include "server/util/signals.h"
#include "server/coordinator/coordinator_server.h"
#include "server/jobs/job_type.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:7070",
          "HOST:PORT to serve on; port 0 picks a free port (see --port_file)");
ABSL_FLAG(std::string, port_file, "",
          "if set, the bound HOST:PORT is written here (atomically, via a "
          "temporary file and rename) once the server is serving");
ABSL_FLAG(std::string, state_dir, "",
          "directory of the coordinator's durable state (a LevelDB store: "
          "jobs, nodes, id counters), created if missing; a restarted "
          "coordinator resumes from it (docs/coordinator.md). Empty: state "
          "in memory only, lost on restart");
ABSL_FLAG(double, node_timeout_s, 6.0,
          "a node with no heartbeat for this many seconds is declared dead "
          "and its tasks' jobs fail");
ABSL_FLAG(int32_t, heartbeat_interval_ms, 1000,
          "heartbeat period the coordinator asks nodes to use; must be well "
          "below --node_timeout_s");
ABSL_FLAG(double, schedule_timeout_s, 30.0,
          "how long a job may wait for workers when its spec sets no "
          "schedule_timeout_s");
ABSL_FLAG(uint32_t, max_job_workers, strata::jobs::JobLimits().max_workers,
          "most tasks (worker processes) one job may use; a spec asking for "
          "more is refused at submission (docs/jobs.md)");
ABSL_FLAG(uint64_t, max_job_dataset_mb,
          strata::jobs::JobLimits().max_dataset_bytes >> 20,
          "most MiB of images one CNN_TRAIN task may synthesise (train + "
          "test, float32); a spec asking for more is refused at submission");
ABSL_FLAG(uint32_t, max_pending_jobs, 1000,
          "most jobs waiting in PENDING at once; a submission past it is "
          "RESOURCE_EXHAUSTED");
ABSL_FLAG(uint32_t, max_resume_bytes,
          strata::JobManager::Options().max_resume_bytes,
          "largest progress checkpoint (TaskReport.resume) a task may report; "
          "one per rank of every job is kept, in memory and in --state_dir, "
          "for a restarted job; bigger is INVALID_ARGUMENT");
ABSL_FLAG(uint32_t, max_nodes, strata::NodeRegistry::Options().max_nodes,
          "most nodes (worker daemons and shards, alive and dead) the "
          "coordinator holds, and the largest num_shards a shard may claim; "
          "when full, a registration forgets the node dead longest, and with "
          "this many live nodes it is RESOURCE_EXHAUSTED");
ABSL_FLAG(int32_t, max_message_mb, 256,
          "max gRPC message size in MiB, both directions");
ABSL_FLAG(double, checkpoint_every_s, 300.0,
          "Take a consistent checkpoint of the ps shards (pushes paused, one "
          "id) every this many seconds; 0 turns periodic checkpoints off. The "
          "shards keep the newest --keep_checkpoints (docs/checkpoint.md).");
ABSL_FLAG(double, shutdown_grace_s, 5.0,
          "on SIGINT/SIGTERM, how long in-flight calls may finish before "
          "they are cancelled");

namespace strata {
namespace {

absl::StatusOr<CoordinatorServer::Options> OptionsFromFlags() {
  const double node_timeout_s = absl::GetFlag(FLAGS_node_timeout_s);
  const int32_t heartbeat_ms = absl::GetFlag(FLAGS_heartbeat_interval_ms);
  const double schedule_timeout_s = absl::GetFlag(FLAGS_schedule_timeout_s);
  const int32_t max_message_mb = absl::GetFlag(FLAGS_max_message_mb);
  if (!(node_timeout_s > 0)) {
    return absl::InvalidArgumentError("--node_timeout_s must be > 0");
  }
  if (heartbeat_ms <= 0 || heartbeat_ms >= node_timeout_s * 1000) {
    return absl::InvalidArgumentError(
        "--heartbeat_interval_ms must be > 0 and below --node_timeout_s");
  }
  if (!(schedule_timeout_s > 0)) {
    return absl::InvalidArgumentError("--schedule_timeout_s must be > 0");
  }
  if (max_message_mb < 1 || max_message_mb > 2047) {
    return absl::InvalidArgumentError("--max_message_mb must be in [1, 2047]");
  }
  CoordinatorServer::Options options;
  options.listen = absl::GetFlag(FLAGS_listen);
  options.max_message_bytes = max_message_mb << 20;
  auto& c = options.coordinator;
  c.state_dir = absl::GetFlag(FLAGS_state_dir);
  c.registry.node_timeout = absl::Seconds(node_timeout_s);
  c.registry.heartbeat_interval = absl::Milliseconds(heartbeat_ms);
  c.scheduler.schedule_timeout = absl::Seconds(schedule_timeout_s);
  c.registry.max_nodes = absl::GetFlag(FLAGS_max_nodes);
  c.jobs.max_pending_jobs = absl::GetFlag(FLAGS_max_pending_jobs);
  c.jobs.max_resume_bytes = absl::GetFlag(FLAGS_max_resume_bytes);
  c.jobs.limits.max_workers = absl::GetFlag(FLAGS_max_job_workers);
  c.jobs.limits.max_dataset_bytes = absl::GetFlag(FLAGS_max_job_dataset_mb)
                                    << 20;
  const double checkpoint_every_s = absl::GetFlag(FLAGS_checkpoint_every_s);
  if (!(checkpoint_every_s >= 0) || checkpoint_every_s > 1e9) {
    return absl::InvalidArgumentError(
        "--checkpoint_every_s must be in [0, 1e9]");
  }
  c.checkpoints.every = absl::Seconds(checkpoint_every_s);
  if (c.jobs.limits.max_workers == 0 || c.jobs.max_pending_jobs == 0 ||
      c.registry.max_nodes == 0 ||
      absl::GetFlag(FLAGS_max_job_dataset_mb) > (uint64_t{1} << 40)) {
    return absl::InvalidArgumentError(
        "--max_job_workers, --max_pending_jobs and --max_nodes must be > 0 "
        "and --max_job_dataset_mb <= 2^40");
  }
  if (c.jobs.max_resume_bytes > (uint32_t{1} << 20)) {
    return absl::InvalidArgumentError("--max_resume_bytes must be <= 1048576");
  }
  STRATA_ASSIGN_OR_RETURN(
      c.credentials,
      security::Credentials::Create(security::TlsOptionsFromFlags()));
  STRATA_ASSIGN_OR_RETURN(options.threads, ServerThreadOptionsFromFlags());
  return options;
}

int Main() {
  absl::StatusOr<CoordinatorServer::Options> options = OptionsFromFlags();
  if (!options.ok()) {
    LOG(ERROR) << options.status();
    return 2;
  }
  // SIGINT/SIGTERM end up in WaitForTerminationSignal() below.
  InstallTerminationHandlers();

  // Before the server, so that it outlives the server recording into it.
  absl::StatusOr<DaemonMetrics> metrics = StartDaemonMetricsFromFlags();
  if (!metrics.ok()) {
    LOG(ERROR) << metrics.status();
    return absl::IsInvalidArgument(metrics.status()) ? 2 : 1;
  }
  options->metrics = metrics->registry.get();
  ExportInsecure(options->metrics,
                 security::PlaintextOffLoopback(
                     options->listen,
                     options->coordinator.credentials->options()));

  absl::StatusOr<std::unique_ptr<CoordinatorServer>> server =
      CoordinatorServer::Start(*options);
  if (!server.ok()) {
    LOG(ERROR) << server.status();
    return 1;  // also a state store that is locked, corrupted or unreadable
  }
  const std::string port_file = absl::GetFlag(FLAGS_port_file);
  if (!port_file.empty()) {
    if (absl::Status s = WritePortFile(port_file, (*server)->address());
        !s.ok()) {
      LOG(ERROR) << s;
      return 1;
    }
  }
  WaitForTerminationSignal();
  (*server)->Shutdown(absl::Seconds(absl::GetFlag(FLAGS_shutdown_grace_s)));
  return 0;
}

}  // namespace
}  // namespace strata

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Strata coordinator: job and node registry service.\n"
      "  coordinator --listen=HOST:PORT [--port_file=PATH] "
      "[--state_dir=DIR]");
  // --help lists this file's flags (the binary's name does not match the
  // file name, which is absl's default filter).
  absl::FlagsUsageConfig usage;
  usage.contains_help_flags = [](absl::string_view file) {
    return absl::StrContains(file, "coordinator_main.cc");
  };
  usage.contains_helpshort_flags = usage.contains_help_flags;
  absl::SetFlagsUsageConfig(usage);
  absl::ParseCommandLine(argc, argv);
  FLAGS_logtostderr = true;
  google::InitGoogleLogging(argv[0]);
  return strata::Main();
}
