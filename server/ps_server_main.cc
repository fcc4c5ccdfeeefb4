// Parameter-server shard daemon. One shard per process:
//   ps_server --listen=HOST:PORT --shard_id=I --num_shards=N
//             [--data_dir=DIR] [--coordinator=HOST:PORT] [--port_file=F]
#include <iostream>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "glog/logging.h"
#include "server/ps/ps_server.h"
#include "server/util/port_file.h"
#include "server/util/signals.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:7071",
          "HOST:PORT to serve on; port 0 picks a free port.");
ABSL_FLAG(std::string, advertise, "",
          "Address announced to the coordinator (default: the bound one).");
ABSL_FLAG(uint32_t, shard_id, 0, "This shard's index in [0, num_shards).");
ABSL_FLAG(uint32_t, num_shards, 1, "Number of shards in the cluster.");
ABSL_FLAG(std::string, data_dir, "",
          "Checkpoint directory, shared by the cluster's shards; empty "
          "disables checkpoints. The newest complete checkpoint is loaded at "
          "start-up.");
ABSL_FLAG(std::string, coordinator, "",
          "Coordinator HOST:PORT to register with; empty runs standalone.");
ABSL_FLAG(std::string, port_file, "",
          "Write the bound HOST:PORT to this file once serving.");
ABSL_FLAG(int32_t, max_message_mb, 256, "gRPC message-size limit in MiB.");
ABSL_FLAG(uint32_t, max_batch_keys, 4 << 20,
          "Largest batch of keys one Pull/Push may carry.");

int main(int argc, char** argv) {
  strata::BlockTerminationSignals();
  absl::SetProgramUsageMessage(
      "Strata parameter-server shard: ps_server --listen=HOST:PORT "
      "--shard_id=I --num_shards=N [--data_dir=DIR] [--coordinator=ADDR]");
  absl::ParseCommandLine(argc, argv);
  FLAGS_logtostderr = true;
  google::InitGoogleLogging(argv[0]);

  strata::PsServerOptions options;
  options.listen = absl::GetFlag(FLAGS_listen);
  options.advertise = absl::GetFlag(FLAGS_advertise);
  options.shard_id = absl::GetFlag(FLAGS_shard_id);
  options.num_shards = absl::GetFlag(FLAGS_num_shards);
  options.data_dir = absl::GetFlag(FLAGS_data_dir);
  options.coordinator = absl::GetFlag(FLAGS_coordinator);
  options.max_message_bytes = absl::GetFlag(FLAGS_max_message_mb) << 20;
  options.service.max_batch_keys = absl::GetFlag(FLAGS_max_batch_keys);

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
