// Cost of the coordinator's hot paths with and without a state store:
// Heartbeat (registry), ReportTask(PROGRESS) (the job's progress, throttled
// to the store) and SubmitJob (a state change, fsync'ed). In process, no
// gRPC. Figures: docs/coordinator.md ("State store").
//
//   bazel run -c opt //server/coordinator:coordinator_bench -- \
//       --state_dir=/tmp/bench-state
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "glog/logging.h"
#include "server/coordinator/coordinator.h"

ABSL_FLAG(std::string, state_dir, "",
          "state store directory for the stored runs (emptied first); empty "
          "measures in memory only");
ABSL_FLAG(int32_t, heartbeats, 1000000, "heartbeats per run");
ABSL_FLAG(int32_t, reports, 200000, "progress reports per run");
ABSL_FLAG(int32_t, submits, 200, "job submissions per run");

namespace strata {
namespace {

struct Fixture {
  std::unique_ptr<Coordinator> coordinator;
  std::vector<NodeCredentials> nodes;  // nodes[0] is the ps shard
};

Fixture Make(const std::string& state_dir, absl::Duration progress_interval) {
  Coordinator::Options options;
  options.background_thread = false;
  options.state_dir = state_dir;
  options.jobs.progress_write_interval = progress_interval;
  options.jobs.max_pending_jobs = 1 << 20;
  if (!state_dir.empty()) std::filesystem::remove_all(state_dir);
  Fixture f;
  f.coordinator = *Coordinator::Create(options);
  for (int i = 0; i < 100; ++i) {
    NodeInfo node;
    if (i == 0) {
      node.set_role("ps");
      node.set_address("127.0.0.1:1");
      node.set_num_shards(1);
    }
    const RegisterNodeResponse r = *f.coordinator->RegisterNode(node);
    f.nodes.push_back({r.node_id(), r.node_secret()});
  }
  return f;
}

double NanosPerOp(absl::Time start, int ops) {
  return absl::ToDoubleNanoseconds(absl::Now() - start) / ops;
}

double Heartbeats(Fixture& f, int n) {
  const absl::Time start = absl::Now();
  for (int i = 0; i < n; ++i) {
    const NodeCredentials& node = f.nodes[i % f.nodes.size()];
    CHECK(f.coordinator->registry().Heartbeat(node.node_id, node.secret).ok());
  }
  return NanosPerOp(start, n);
}

double Reports(Fixture& f, int n) {
  JobSpec spec;
  spec.mutable_ps_load_test();
  const std::string job = *f.coordinator->jobs().Submit(spec);
  f.coordinator->Tick();
  const NodeCredentials& worker = f.nodes[1];
  CHECK(f.coordinator->OpenTaskStream(worker.node_id, worker.secret).ok());
  TaskReport report;
  report.set_task_id(job + "/task-0");
  report.set_node_id(worker.node_id);
  report.set_node_secret(worker.secret);
  report.set_kind(TaskReport::PROGRESS);
  report.set_total_steps(n);
  for (const char* m : {"loss", "examples_per_s", "pull_keys_per_s", "auc"}) {
    (*report.mutable_metrics())[m] = 1.5;
  }
  const absl::Time start = absl::Now();
  for (int i = 1; i <= n; ++i) {
    report.set_step(i);
    CHECK(f.coordinator->ReportTask(report).ok());
  }
  return NanosPerOp(start, n);
}

double Submits(Fixture& f, int n) {
  JobSpec spec;
  spec.set_num_workers(1000);  // never placed: stays PENDING
  spec.mutable_ps_load_test();
  const absl::Time start = absl::Now();
  for (int i = 0; i < n; ++i) CHECK(f.coordinator->jobs().Submit(spec).ok());
  return NanosPerOp(start, n);
}

void Run(const std::string& label, const std::string& dir,
         absl::Duration progress_interval) {
  Fixture f = Make(dir, progress_interval);
  const double hb = Heartbeats(f, absl::GetFlag(FLAGS_heartbeats));
  const double report = Reports(f, absl::GetFlag(FLAGS_reports));
  const double submit = Submits(f, absl::GetFlag(FLAGS_submits));
  std::printf("%-44s heartbeat %8.0f ns  report %8.0f ns  submit %10.0f ns\n",
              label.c_str(), hb, report, submit);
}

}  // namespace
}  // namespace strata

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  FLAGS_minloglevel = 2;  // no per-registration logs
  google::InitGoogleLogging(argv[0]);
  strata::Run("in memory (no --state_dir)", "", absl::Seconds(1));
  const std::string dir = absl::GetFlag(FLAGS_state_dir);
  if (dir.empty()) return 0;
  strata::Run("state store, progress every 1 s (default)", dir,
              absl::Seconds(1));
  strata::Run("state store, every progress report written", dir,
              absl::ZeroDuration());
  return 0;
}
