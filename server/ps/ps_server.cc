#include "server/ps/ps_server.h"

#include <unistd.h>

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "glog/logging.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "proto/base/status_macros.h"
#include "proto/rpc_util.h"
#include "server/metrics/metrics_registry.h"
#include "server/ps/ps_metrics.h"
#include "server/storage/compressed_table.h"
#include "server/util/clock.h"
#include "server/util/env.h"

namespace strata {
namespace {

// "HOST:PORT" with the actual port; a wildcard host becomes the hostname.
std::string BoundAddress(const std::string& listen, int port) {
  std::string host = listen.substr(0, listen.rfind(':'));
  if (host == "0.0.0.0" || host == "[::]" || host.empty()) {
    char name[256] = {0};
    gethostname(name, sizeof(name) - 1);
    host = name;
  }
  return absl::StrCat(host, ":", port);
}

// INVALID_ARGUMENT for a shard outside [0, num_shards), a listen address
// that is not HOST:PORT, a message limit below the headroom or a
// compress_on_load config the store would reject.
absl::Status ValidateOptions(const PsServerOptions& options) {
  STRATA_RETURN_IF_ERROR(ValidateServerThreadOptions(options.threads));
  if (options.num_shards == 0 || options.shard_id >= options.num_shards) {
    return absl::InvalidArgumentError(
        absl::StrCat("shard_id ", options.shard_id, " is not in [0, ",
                     options.num_shards, ")"));
  }
  if (options.listen.find(':') == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("listen address '", options.listen, "' is not HOST:PORT"));
  }
  if (MaxPayloadBytes(options.max_message_bytes) == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_message_bytes ", options.max_message_bytes,
        " leaves no room for a payload; it must exceed ",
        kMessageHeadroomBytes));
  }
  if (options.compress_on_load.has_value()) {
    const absl::Status s =
        NormalizeSaecConfig(*options.compress_on_load).status();
    if (!s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("compress_on_load: ", s.message()));
    }
  }
  return absl::OkStatus();
}

// Says loudly what LoadNewestLoadable skipped, and what the shard starts
// from.
void LogStartupLoad(const std::string& dir, const FallbackLoadInfo& load) {
  for (const SkippedCheckpoint& s : load.skipped) {
    LOG(ERROR) << "checkpoint " << s.checkpoint_id << " in " << dir
               << " cannot be loaded, skipping it: " << s.status
               << ". It is kept for inspection: this shard will neither "
                  "overwrite nor delete it; remove it by hand once it is "
                  "not needed.";
  }
  if (load.loaded.has_value()) {
    const LoadInfo& l = *load.loaded;
    if (!load.skipped.empty()) {
      LOG(ERROR) << "FELL BACK to checkpoint " << l.checkpoint_id
                 << ", older than the newest complete checkpoint "
                 << load.skipped.front().checkpoint_id
                 << ": what was trained in between is not loaded";
    }
    LOG(INFO) << "loaded checkpoint " << l.checkpoint_id << " (" << l.rows
              << " rows, written by " << l.written_by_num_shards << " shards)";
  } else if (!load.skipped.empty()) {
    LOG(ERROR) << "none of the " << load.skipped.size()
               << " complete checkpoints in " << dir
               << " could be loaded: the shard starts EMPTY. Fix the cause "
                  "above and restart, or load one by id (stratactl load "
                  "--checkpoint_id=N)";
  }
}

// Says how many updates the restart lost (UpdateCount::Recover).
void LogUpdatesLost(uint32_t shard, const std::optional<LoadInfo>& loaded,
                    const absl::StatusOr<std::optional<uint64_t>>& lost) {
  const std::string from =
      loaded.has_value() ? absl::StrCat("checkpoint ", loaded->checkpoint_id)
                         : std::string("no checkpoint (started empty)");
  if (!lost.ok()) {
    LOG(WARNING) << "shard " << shard << " cannot tell how many updates its "
                 << "restart lost: " << lost.status();
  } else if (lost->has_value()) {
    LOG_IF(WARNING, **lost > 0)
        << "shard " << shard << " restarted from " << from << " and LOST "
        << **lost << " updates (sparse rows pushed, dense pushes) applied "
        << "after it (accurate to about the update count interval)";
  } else {
    LOG(INFO) << "shard " << shard << " restarted from " << from
              << "; the updates lost are unknown (no count for it in "
                 "--data_dir)";
  }
}

void LogFieldStats(const std::vector<FieldStats>& stats) {
  for (const FieldStats& f : stats) {
    LOG(INFO) << "compressed " << f.table() << " field " << f.field() << " ("
              << f.method() << "): " << f.features() << " features -> "
              << f.clusters() << " clusters, " << f.bytes_before() << " -> "
              << f.bytes_after() << " bytes (" << f.ratio() << "x) in "
              << f.seconds() << " s";
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<PsServer>> PsServer::Start(
    PsServerOptions options) {
  std::unique_ptr<PsServer> server(new PsServer());
  STRATA_RETURN_IF_ERROR(server->Init(std::move(options)));
  return server;
}

absl::Status PsServer::Init(PsServerOptions options) {
  STRATA_RETURN_IF_ERROR(ValidateOptions(options));
  options_ = std::move(options);
  options_.service.checkpoint_dir = options_.data_dir;
  options_.service.max_response_bytes =
      MaxPayloadBytes(options_.max_message_bytes);
  STRATA_RETURN_IF_ERROR(CreateStore());
  STRATA_RETURN_IF_ERROR(LoadOnStart());
  BuildServices();
  STRATA_RETURN_IF_ERROR(StartServing());
  StartPersistingUpdates();
  if (!options_.coordinator.empty()) RegisterWithCoordinator();
  return absl::OkStatus();
}

absl::Status PsServer::CreateStore() {
  router_ = MakeHashRouter(options_.num_shards);
  TableStore::Options store_options;
  store_options.shard_id = options_.shard_id;
  store_options.num_shards = options_.num_shards;
  store_options.router = router_.get();
  store_options.max_batch_keys = options_.service.max_batch_keys;
  store_options.max_abs_gradient = options_.max_abs_gradient;
  store_options.keep_checkpoints = options_.keep_checkpoints;
  store_options.max_memory_bytes = options_.max_memory_bytes;
  store_options.max_tables = options_.max_tables;
  store_options.max_push_clients = options_.max_push_clients;
  if (!options_.data_dir.empty()) {
    store_options.update_count_path =
        JoinPath(options_.data_dir,
                 UpdateCountFileName(options_.shard_id, options_.num_shards));
  }
  store_options.env = DefaultEnv();
  store_options.clock = RealClock();
  STRATA_ASSIGN_OR_RETURN(store_, TableStore::Create(store_options));
  return absl::OkStatus();
}

absl::Status PsServer::LoadOnStart() {
  if (!options_.data_dir.empty() && options_.load_on_start) {
    absl::StatusOr<FallbackLoadInfo> load =
        store_->LoadNewestLoadable(options_.data_dir);
    if (!load.ok()) {
      return absl::Status(
          load.status().code(),
          absl::StrCat("listing checkpoints in ", options_.data_dir, ": ",
                       load.status().message()));
    }
    LogStartupLoad(options_.data_dir, *load);
    std::optional<uint64_t> loaded_id;
    if (load->loaded.has_value()) loaded_id = load->loaded->checkpoint_id;
    LogUpdatesLost(options_.shard_id, load->loaded,
                   store_->updates().Recover(loaded_id));
  }
  if (options_.compress_on_load.has_value()) {
    STRATA_ASSIGN_OR_RETURN(
        const std::vector<FieldStats> stats,
        store_->Compress("", *options_.compress_on_load,
                         options_.service.compression_threads));
    LogFieldStats(stats);
  }
  return absl::OkStatus();
}

void PsServer::BuildServices() {
  embedding_ =
      std::make_unique<EmbeddingServiceImpl>(store_.get(), options_.service);
  dense_ = std::make_unique<DenseServiceImpl>(store_.get(), options_.service);
  admin_ = std::make_unique<AdminServiceImpl>(store_.get(), options_.service);
  compression_ =
      std::make_unique<CompressionServiceImpl>(store_.get(), options_.service);
}

absl::Status PsServer::StartServing() {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int port = 0;
  STRATA_RETURN_IF_ERROR(security::ConfigureServerWith(
      options_.credentials, options_.listen, &builder, &port));
  builder.SetMaxReceiveMessageSize(options_.max_message_bytes);
  builder.SetMaxSendMessageSize(options_.max_message_bytes);
  for (const ChannelIntArgument& a : kDataPlaneHttp2Arguments) {
    builder.AddChannelArgument(a.name, a.value);
  }
  ApplyServerThreadOptions(options_.threads, &builder);
  builder.RegisterService(embedding_.get());
  builder.RegisterService(dense_.get());
  builder.RegisterService(admin_.get());
  builder.RegisterService(compression_.get());
  if (options_.metrics != nullptr) {
    table_metrics_ = std::make_shared<TableStoreCollectable>(store_.get());
    options_.metrics->AddCollectable(table_metrics_);
    options_.metrics->InstallServerInterceptors(&builder);
  }
  server_ = builder.BuildAndStart();
  if (server_ == nullptr || port == 0) {
    return absl::UnavailableError(
        absl::StrCat("could not listen on ", options_.listen));
  }
  address_ = BoundAddress(options_.listen, port);
  LOG(INFO) << "shard " << options_.shard_id << "/" << options_.num_shards
            << " serving on " << address_;
  return absl::OkStatus();
}

void PsServer::StartPersistingUpdates() {
  if (options_.data_dir.empty()) return;
  if (absl::Status s = DefaultEnv()->CreateDir(options_.data_dir); !s.ok()) {
    LOG(WARNING) << "cannot create --data_dir: " << s;
  }
  persist_thread_ = std::thread([this] {
    bool failing = false;  // log a failure once, until it succeeds again
    for (bool last = false; !last;) {
      last = stop_persisting_.WaitForNotificationWithTimeout(
          options_.update_count_interval);
      const absl::Status s = store_->updates().Persist();
      LOG_IF(WARNING, !s.ok() && !failing)
          << "persisting the update count: " << s;
      failing = !s.ok();
    }
  });
}

void PsServer::RegisterWithCoordinator() {
  NodeSessionOptions so;
  so.coordinator = options_.coordinator;
  so.credentials = options_.credentials;
  so.node.set_role("ps");
  so.node.set_address(options_.advertise.empty() ? address_
                                                 : options_.advertise);
  so.node.set_shard_id(options_.shard_id);
  so.node.set_num_shards(options_.num_shards);
  if (!options_.data_dir.empty()) {
    // A restarted process of this shard keeps its node id (and its shard).
    so.identity_file =
        JoinPath(options_.data_dir,
                 absl::StrCat("node-identity-shard-", options_.shard_id,
                              "-of-", options_.num_shards, ".txt"));
  }
  char host[256] = {0};
  gethostname(host, sizeof(host) - 1);
  so.node.set_hostname(host);
  session_ = std::make_unique<NodeSession>(so);
  // Registration waits for the coordinator; do not block serving on it.
  register_thread_ = std::thread([this] {
    absl::Status r = session_->Register();
    if (!r.ok()) {
      if (!session_->stopped()) LOG(ERROR) << "registration failed: " << r;
      return;
    }
    session_->StartHeartbeats(nullptr, nullptr);
  });
}

void PsServer::Wait() { server_->Wait(); }

void PsServer::Shutdown(absl::Duration grace) {
  std::call_once(shutdown_once_, [&] {
    if (session_ != nullptr) session_->Stop();
    if (register_thread_.joinable()) register_thread_.join();
    server_->Shutdown(absl::ToChronoTime(absl::Now() + grace));
    if (persist_thread_.joinable()) {
      stop_persisting_.Notify();  // the loop persists once more, then ends
      persist_thread_.join();
    }
  });
}

PsServer::~PsServer() {
  if (server_ != nullptr) Shutdown();
}

}  // namespace strata
