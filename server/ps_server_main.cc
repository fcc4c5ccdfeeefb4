// Parameter-server shard daemon. One shard per process:
//   ps_server --listen=HOST:PORT --shard_id=I --num_shards=N
//             [--data_dir=DIR] [--coordinator=HOST:PORT] [--port_file=F]
//             [--compress=saec [--saec=TEXT]] [--keep_checkpoints=N]
//             [--max_abs_gradient=X] [--max_memory_bytes=N]
//             [--max_message_mb=N] [--max_tables=N] [--max_push_clients=N]
// Exits 2 for a usage error (a bad flag value), 1 when the shard cannot
// start or stops with an error.
#include <iostream>
#include <optional>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "glog/logging.h"
#include "server/metrics/metrics_flags.h"
#include "server/metrics/metrics_registry.h"
#include "server/ps/compress_on_load.h"
#include "server/ps/ps_server.h"
#include "server/security/credentials.h"
#include "server/security/security_flags.h"
#include "server/util/port_file.h"
#include "server/util/server_threads_flags.h"
#include "server/util/signals.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:7071",
          "HOST:PORT to serve on; port 0 picks a free port.");
ABSL_FLAG(std::string, advertise, "",
          "Address announced to the coordinator (default: the bound one).");
ABSL_FLAG(uint32_t, shard_id, 0, "This shard's index in [0, num_shards).");
ABSL_FLAG(uint32_t, num_shards, 1, "Number of shards in the cluster.");
ABSL_FLAG(std::string, data_dir, "",
          "Checkpoint directory, shared by the cluster's shards; empty "
          "disables checkpoints. The newest checkpoint that loads is loaded "
          "at start-up: newer ones that cannot be loaded are skipped, logged "
          "and kept (docs/checkpoint.md).");
ABSL_FLAG(uint32_t, keep_checkpoints, strata::kDefaultKeepCheckpoints,
          "After each checkpoint, keep the newest N complete checkpoints in "
          "--data_dir and delete this shard's files of older ones (never the "
          "one loaded at start-up nor one that could not be loaded); 0 keeps "
          "all.");
ABSL_FLAG(float, max_abs_gradient, strata::kDefaultMaxAbsGradient,
          "Largest |gradient| a push may carry; a push with a larger or "
          "non-finite element is rejected whole with INVALID_ARGUMENT. "
          "Positive and finite.");
ABSL_FLAG(std::string, coordinator, "",
          "Coordinator HOST:PORT to register with; empty runs standalone.");
ABSL_FLAG(std::string, port_file, "",
          "Write the bound HOST:PORT to this file once serving.");
ABSL_FLAG(int32_t, max_message_mb, strata::kDefaultMaxMessageBytes >> 20,
          "gRPC message-size limit in MiB, 1 to 2047. Also bounds a pull's "
          "response (keys x dim x 4 bytes, or a dense range at 4 bytes an "
          "element; larger tensors travel in chunks), less 64 KiB of "
          "headroom. See docs/limits.md.");
ABSL_FLAG(uint32_t, max_batch_keys, strata::kDefaultMaxBatchKeys,
          "Largest batch of keys one Pull/Push may carry.");
ABSL_FLAG(uint64_t, max_memory_bytes, 0,
          "Memory budget of the shard's tables (sparse rows, dense tensors, "
          "compressed tables); creating or growing past it fails with "
          "RESOURCE_EXHAUSTED. 0: three quarters of this machine's physical "
          "memory (set it explicitly in a container). See docs/limits.md.");
ABSL_FLAG(uint32_t, max_tables, strata::kDefaultMaxTables,
          "Most sparse tables and dense tensors this shard holds.");
ABSL_FLAG(uint32_t, max_push_clients, strata::kDefaultMaxPushClients,
          "Most clients whose applied push request ids this shard remembers "
          "(about 1.1 KiB each), so a retried push is applied once; past it "
          "the least recently seen client is forgotten. See docs/limits.md.");
ABSL_FLAG(std::string, compress, "none",
          "'saec': Saec-compress every sparse table right after loading the "
          "checkpoint at start-up, as --saec says; 'none': do not. See "
          "docs/saec.md.");
ABSL_FLAG(std::string, saec, "",
          "With --compress=saec: a text-format strata.SaecConfig, the same "
          "text `stratactl compress --saec` takes, e.g. 'clusters: 64' or "
          "'target_ratio: 30 full_kmeans: true' (fields may be separated by "
          "commas instead of spaces: 'clusters:32,min_features:200'). "
          "proto/ps.proto documents every field and default; empty: all "
          "defaults.");
ABSL_FLAG(int32_t, compression_threads, 0,
          "Threads for compression; 0 = all cores.");

// Abseil's Mutex deadlock detection, on in this Debian build of Abseil (as
// in debug builds), records every lock in a process-wide graph: 0.6-0.8% of
// a shard's CPU under pushes (docs/benchmarks.md, "Fifth step"). Off by
// default, as in optimized Abseil builds; tests keep it on.
ABSL_FLAG(bool, mutex_deadlock_detection, false,
          "Let Abseil check every Mutex acquisition for lock-order cycles "
          "(slower; for debugging a hang).");

int main(int argc, char** argv) {
  strata::InstallTerminationHandlers();
  absl::SetProgramUsageMessage(
      "Strata parameter-server shard: ps_server --listen=HOST:PORT "
      "--shard_id=I --num_shards=N [--data_dir=DIR] [--coordinator=ADDR]");
  absl::ParseCommandLine(argc, argv);
  FLAGS_logtostderr = true;
  google::InitGoogleLogging(argv[0]);
  if (!absl::GetFlag(FLAGS_mutex_deadlock_detection)) {
    absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  }

  strata::PsServerOptions options;
  options.listen = absl::GetFlag(FLAGS_listen);
  options.advertise = absl::GetFlag(FLAGS_advertise);
  options.shard_id = absl::GetFlag(FLAGS_shard_id);
  options.num_shards = absl::GetFlag(FLAGS_num_shards);
  options.data_dir = absl::GetFlag(FLAGS_data_dir);
  options.keep_checkpoints = absl::GetFlag(FLAGS_keep_checkpoints);
  options.max_abs_gradient = absl::GetFlag(FLAGS_max_abs_gradient);
  if (absl::Status s = strata::ValidateMaxAbsGradient(options.max_abs_gradient);
      !s.ok()) {
    std::cerr << "ps_server: " << s.message() << "\n";
    return 2;
  }
  options.coordinator = absl::GetFlag(FLAGS_coordinator);
  absl::StatusOr<std::shared_ptr<const strata::security::Credentials>> creds =
      strata::security::Credentials::Create(
          strata::security::TlsOptionsFromFlags());
  if (!creds.ok()) {
    std::cerr << "ps_server: " << creds.status().message() << "\n";
    return 2;
  }
  options.credentials = *creds;
  const int32_t max_message_mb = absl::GetFlag(FLAGS_max_message_mb);
  if (max_message_mb < 1 || max_message_mb > 2047) {
    std::cerr << "ps_server: --max_message_mb " << max_message_mb
              << " is outside [1, 2047]\n";
    return 2;
  }
  options.max_message_bytes = max_message_mb << 20;
  options.service.max_batch_keys = absl::GetFlag(FLAGS_max_batch_keys);
  options.max_memory_bytes = absl::GetFlag(FLAGS_max_memory_bytes);
  options.max_tables = absl::GetFlag(FLAGS_max_tables);
  if (options.max_tables == 0) {
    std::cerr << "ps_server: --max_tables must be at least 1\n";
    return 2;
  }
  options.max_push_clients = absl::GetFlag(FLAGS_max_push_clients);
  if (options.max_push_clients == 0) {
    std::cerr << "ps_server: --max_push_clients must be at least 1\n";
    return 2;
  }
  options.service.compression_threads =
      absl::GetFlag(FLAGS_compression_threads);
  absl::StatusOr<std::optional<strata::SaecConfig>> compress_on_load =
      strata::ParseCompressOnLoad(absl::GetFlag(FLAGS_compress),
                                  absl::GetFlag(FLAGS_saec));
  if (!compress_on_load.ok()) {
    std::cerr << "ps_server: " << compress_on_load.status().message() << "\n";
    return 2;
  }
  options.compress_on_load = *compress_on_load;
  absl::StatusOr<strata::ServerThreadOptions> threads =
      strata::ServerThreadOptionsFromFlags();
  if (!threads.ok()) {
    std::cerr << "ps_server: " << threads.status().message() << "\n";
    return 2;
  }
  options.threads = *threads;

  absl::StatusOr<strata::DaemonMetrics> metrics =
      strata::StartDaemonMetricsFromFlags();
  if (!metrics.ok()) {
    std::cerr << "ps_server: " << metrics.status() << "\n";
    return absl::IsInvalidArgument(metrics.status()) ? 2 : 1;
  }
  options.metrics = metrics->registry.get();
  strata::ExportInsecure(options.metrics,
                         strata::security::PlaintextOffLoopback(
                             options.listen, options.credentials->options()));

  auto server = strata::PsServer::Start(options);
  if (!server.ok()) {
    std::cerr << "ps_server: " << server.status() << "\n";
    return 1;
  }
  const std::string port_file = absl::GetFlag(FLAGS_port_file);
  if (!port_file.empty()) {
    absl::Status s = strata::WritePortFile(port_file, (*server)->address());
    if (!s.ok()) {
      std::cerr << "ps_server: " << s << "\n";
      return 1;
    }
  }
  strata::PsServer* raw = server->get();
  strata::OnTerminationSignal([raw](int) { raw->Shutdown(); });
  raw->Wait();
  LOG(INFO) << "shard stopped cleanly";
  return 0;
}
