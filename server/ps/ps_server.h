// One parameter-server shard process: owns the TableStore, the gRPC server
// (embedding, dense, admin and compression services plus grpc.health.v1 and
// reflection) and, when a coordinator is configured, the node session that
// registers the shard and heartbeats.
#ifndef STRATA_SERVER_PS_PS_SERVER_H_
#define STRATA_SERVER_PS_PS_SERVER_H_

#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "prometheus/collectable.h"
#include "proto/rpc_util.h"
#include "server/node/node_session.h"
#include "server/ps/ps_service.h"
#include "server/router/router.h"
#include "server/security/credentials.h"
#include "server/storage/table_store.h"
#include "server/util/server_threads.h"

namespace strata {

class MetricsRegistry;

struct PsServerOptions {
  // HOST:PORT to listen on; port 0 picks a free port (see address()).
  std::string listen = "127.0.0.1:0";
  // Address announced to the coordinator; empty = the bound address (with
  // this machine's hostname when listening on a wildcard host).
  std::string advertise;
  uint32_t shard_id = 0;
  uint32_t num_shards = 1;
  // Checkpoint directory. Empty disables checkpoints. Loading a checkpoint
  // written with another shard count needs every shard's files, so shards
  // of one cluster share this directory (a shared filesystem on a cluster).
  std::string data_dir;
  // Load the newest loadable checkpoint from data_dir at start-up
  // (TableStore::LoadNewestLoadable: a newer one that fails to load is
  // skipped with a LOG(ERROR) and counted on /metrics; with none loadable
  // the shard starts empty, also with a LOG(ERROR)), then tell from the
  // update count file in data_dir how many updates the restart lost
  // (UpdateCount; a LOG(WARNING), ListTables and /metrics).
  bool load_on_start = true;
  // How often the shard rewrites its update count file in data_dir
  // (UpdateCount::Persist; a small file, no fsync). The updates lost that a
  // restart reports are accurate to about this much training.
  absl::Duration update_count_interval = absl::Seconds(1);
  // Newest complete checkpoints kept in data_dir; 0 keeps all
  // (TableStore::Options::keep_checkpoints, ps_server --keep_checkpoints).
  uint32_t keep_checkpoints = kDefaultKeepCheckpoints;
  // Largest |gradient| a push may carry (ps_server --max_abs_gradient;
  // server/storage/optimizer.h).
  float max_abs_gradient = kDefaultMaxAbsGradient;
  // When set, every sparse table is Saec-compressed with this config right
  // after the checkpoint is loaded at start-up (ps_server --compress=saec
  // --saec=...; see compress_on_load.h). Start fails with INVALID_ARGUMENT
  // for a config NormalizeSaecConfig rejects.
  std::optional<SaecConfig> compress_on_load;
  // Coordinator to register with; empty runs the shard standalone.
  std::string coordinator;
  // Transport security of the server and of the channel to the
  // coordinator (docs/security.md); null: plaintext.
  std::shared_ptr<const security::Credentials> credentials;
  // gRPC message-size limit, both directions. Its payload share
  // (MaxPayloadBytes: the limit less 64 KiB of headroom) also bounds a pull
  // response (service.max_response_bytes is set from it); a dense tensor
  // larger than that is pulled and pushed in chunks. Larger means bigger
  // batches and chunks, and more memory per in-flight request. Must exceed
  // the headroom (INVALID_ARGUMENT otherwise).
  int max_message_bytes = kDefaultMaxMessageBytes;
  // The shard's memory budget and table count: see TableStore::Options
  // (max_memory_bytes 0: 3/4 of physical memory).
  uint64_t max_memory_bytes = 0;
  size_t max_tables = kDefaultMaxTables;
  // Clients whose applied push ids the shard remembers (ps_server
  // --max_push_clients; TableStore::Options, PushDedup::Options).
  size_t max_push_clients = kDefaultMaxPushClients;
  // When set, the gRPC server records per-RPC metrics (strata_rpc_server_*,
  // docs/metrics.md) into it. Not owned; null disables RPC metrics.
  MetricsRegistry* metrics = nullptr;
  PsServiceOptions service;
  // The gRPC server's idle and total threads (ps_server --min_pollers,
  // --max_pollers, --max_server_threads; server/util/server_threads.h).
  // Start fails with INVALID_ARGUMENT when they are not valid.
  ServerThreadOptions threads;
};

// Thread-safe. Start() returns a serving shard; the destructor shuts it down.
class PsServer {
 public:
  static absl::StatusOr<std::unique_ptr<PsServer>> Start(
      PsServerOptions options);
  ~PsServer();

  // The bound HOST:PORT.
  const std::string& address() const { return address_; }
  TableStore* store() { return store_.get(); }
  // Blocks until Shutdown() is called from another thread.
  void Wait();
  // Stops accepting RPCs, lets in-flight ones finish within `grace`, stops
  // heartbeats. Idempotent.
  void Shutdown(absl::Duration grace = absl::Seconds(5));

 private:
  PsServer() = default;
  // Start's steps, in order; each runs once.
  absl::Status Init(PsServerOptions options);
  // The router and the empty store.
  absl::Status CreateStore();
  // Loads the newest loadable checkpoint of data_dir (none is fine) when
  // load_on_start, then compresses every sparse table when
  // compress_on_load is set.
  absl::Status LoadOnStart();
  // The four gRPC services over the store.
  void BuildServices();
  // Registers the services (and RPC metrics) with a gRPC server and starts
  // it; sets address_.
  absl::Status StartServing();
  // Starts persist_thread_, which persists the update count every
  // update_count_interval until Shutdown (with data_dir only).
  void StartPersistingUpdates();
  // Starts registering with options_.coordinator (then heartbeats) on
  // register_thread_, so serving does not wait for the coordinator.
  void RegisterWithCoordinator();

  // Constant after Start().
  PsServerOptions options_;
  std::string address_;
  std::unique_ptr<ShardRouter> router_;
  std::unique_ptr<TableStore> store_;
  std::unique_ptr<EmbeddingServiceImpl> embedding_;
  std::unique_ptr<DenseServiceImpl> dense_;
  std::unique_ptr<AdminServiceImpl> admin_;
  std::unique_ptr<CompressionServiceImpl> compression_;
  // Registered (weakly) with options_.metrics; exports tables and Saec
  // statistics on every scrape.
  std::shared_ptr<prometheus::Collectable> table_metrics_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<NodeSession> session_;
  std::thread register_thread_;
  std::thread persist_thread_;
  absl::Notification stop_persisting_;
  std::once_flag shutdown_once_;
};

}  // namespace strata

#endif  // STRATA_SERVER_PS_PS_SERVER_H_
