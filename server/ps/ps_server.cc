#include "server/ps/ps_server.h"

#include <unistd.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "glog/logging.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "server/metrics/metrics_registry.h"
#include "server/ps/ps_metrics.h"
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

}  // namespace

absl::StatusOr<std::unique_ptr<PsServer>> PsServer::Start(
    PsServerOptions options) {
  std::unique_ptr<PsServer> server(new PsServer());
  absl::Status s = server->Init(std::move(options));
  if (!s.ok()) return s;
  return server;
}

absl::Status PsServer::Init(PsServerOptions options) {
  options_ = std::move(options);
  if (options_.num_shards == 0 || options_.shard_id >= options_.num_shards) {
    return absl::InvalidArgumentError(
        absl::StrCat("shard_id ", options_.shard_id, " is not in [0, ",
                     options_.num_shards, ")"));
  }
  if (options_.listen.find(':') == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("listen address '", options_.listen,
                     "' is not HOST:PORT"));
  }
  router_ = MakeHashRouter(options_.num_shards);
  TableStore::Options store_options;
  store_options.shard_id = options_.shard_id;
  store_options.num_shards = options_.num_shards;
  store_options.router = router_.get();
  store_options.env = DefaultEnv();
  store_options.clock = RealClock();
  absl::StatusOr<std::unique_ptr<TableStore>> store =
      TableStore::Create(store_options);
  if (!store.ok()) return store.status();
  store_ = *std::move(store);
  if (!options_.data_dir.empty() && options_.load_on_start) {
    auto loaded = store_->Load(options_.data_dir, 0);
    if (loaded.ok()) {
      LOG(INFO) << "loaded checkpoint " << loaded->checkpoint_id << " ("
                << loaded->rows << " rows, written by "
                << loaded->written_by_num_shards << " shards)";
    } else if (loaded.status().code() != absl::StatusCode::kNotFound) {
      return absl::Status(loaded.status().code(),
                          absl::StrCat("loading checkpoint from ",
                                       options_.data_dir, ": ",
                                       loaded.status().message()));
    }
  }
  if (options_.compress_on_load.has_value()) {
    auto stats = store_->Compress("", *options_.compress_on_load,
                                  options_.service.compression_threads);
    if (!stats.ok()) return stats.status();
    for (const FieldStats& f : *stats) {
      LOG(INFO) << "compressed " << f.table() << " field " << f.field()
                << " (" << f.method() << "): " << f.features()
                << " features -> " << f.clusters() << " clusters, "
                << f.bytes_before() << " -> " << f.bytes_after()
                << " bytes (" << f.ratio() << "x) in " << f.seconds() << " s";
    }
  }
  options_.service.checkpoint_dir = options_.data_dir;
  embedding_ = std::make_unique<EmbeddingServiceImpl>(store_.get(),
                                                      options_.service);
  dense_ = std::make_unique<DenseServiceImpl>(store_.get(), options_.service);
  admin_ = std::make_unique<AdminServiceImpl>(store_.get(), options_.service);
  compression_ = std::make_unique<CompressionServiceImpl>(store_.get(),
                                                          options_.service);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(options_.listen, grpc::InsecureServerCredentials(),
                           &port);
  builder.SetMaxReceiveMessageSize(options_.max_message_bytes);
  builder.SetMaxSendMessageSize(options_.max_message_bytes);
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
  if (!options_.coordinator.empty()) {
    NodeSessionOptions so;
    so.coordinator = options_.coordinator;
    so.node.set_role("ps");
    so.node.set_address(options_.advertise.empty() ? address_
                                                   : options_.advertise);
    so.node.set_shard_id(options_.shard_id);
    so.node.set_num_shards(options_.num_shards);
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
  return absl::OkStatus();
}

void PsServer::Wait() { server_->Wait(); }

void PsServer::Shutdown(absl::Duration grace) {
  std::call_once(shutdown_once_, [&] {
    if (session_ != nullptr) session_->Stop();
    if (register_thread_.joinable()) register_thread_.join();
    server_->Shutdown(absl::ToChronoTime(absl::Now() + grace));
  });
}

PsServer::~PsServer() {
  if (server_ != nullptr) Shutdown();
}

}  // namespace strata
