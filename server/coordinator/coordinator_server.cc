#include "server/coordinator/coordinator_server.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "proto/base/status_macros.h"
#include "server/metrics/metrics_registry.h"
#include "server/security/credentials.h"

namespace strata {
namespace {

// Splits "HOST:PORT" (HOST may be a bracketed IPv6 address) at the last ':'.
absl::StatusOr<std::string> ListenHost(absl::string_view listen) {
  const size_t colon = listen.rfind(':');
  if (colon == absl::string_view::npos || colon == 0 ||
      colon + 1 == listen.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "listen address '", listen, "' is not of the form HOST:PORT"));
  }
  return std::string(listen.substr(0, colon));
}

}  // namespace

absl::StatusOr<std::unique_ptr<CoordinatorServer>> CoordinatorServer::Start(
    Options options, Clock* clock) {
  STRATA_ASSIGN_OR_RETURN(const std::string host, ListenHost(options.listen));
  STRATA_RETURN_IF_ERROR(ValidateServerThreadOptions(options.threads));
  // Both are process-wide switches read when a ServerBuilder is created.
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();

  std::unique_ptr<CoordinatorServer> server(new CoordinatorServer());
  STRATA_ASSIGN_OR_RETURN(server->coordinator_,
                          Coordinator::Create(options.coordinator, clock));
  server->job_service_ = std::make_unique<JobServiceImpl>(
      server->coordinator_.get(), options.service);
  server->node_service_ = std::make_unique<NodeServiceImpl>(
      server->coordinator_.get(), options.service);
  server->admin_service_ =
      std::make_unique<ClusterAdminServiceImpl>(server->coordinator_.get());

  grpc::ServerBuilder builder;
  int port = 0;
  STRATA_RETURN_IF_ERROR(security::ConfigureServerWith(
      options.coordinator.credentials, options.listen, &builder, &port));
  builder.SetMaxReceiveMessageSize(options.max_message_bytes);
  builder.SetMaxSendMessageSize(options.max_message_bytes);
  // Clients (DefaultChannelArguments) ping every 10s even when idle; accept
  // that instead of answering with GOAWAY "too_many_pings".
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(
      GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 5000);
  // A second coordinator on the same port must fail, not share the port.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  ApplyServerThreadOptions(options.threads, &builder);
  builder.RegisterService(server->job_service_.get());
  builder.RegisterService(server->node_service_.get());
  builder.RegisterService(server->admin_service_.get());
  if (options.metrics != nullptr) {
    options.metrics->InstallServerInterceptors(&builder);
  }
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || port == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", options.listen,
                     " (address in use or not local?)"));
  }
  server->address_ = absl::StrCat(host, ":", port);
  LOG(INFO) << "coordinator serving on " << server->address_;
  return server;
}

CoordinatorServer::~CoordinatorServer() {
  Shutdown(absl::Seconds(5));
  // Destroying the Coordinator joins its background thread.
}

void CoordinatorServer::Shutdown(absl::Duration grace) {
  absl::MutexLock lock(&mu_);
  if (shut_down_ || server_ == nullptr) return;
  shut_down_ = true;
  if (auto* health = server_->GetHealthCheckService()) {
    health->SetServingStatus(false);
  }
  // Ends the streams (they wait in short slices), so Shutdown does not have
  // to wait for them until the grace period runs out.
  coordinator_->Shutdown();
  server_->Shutdown(absl::ToChronoTime(absl::Now() + grace));
  LOG(INFO) << "coordinator on " << address_ << " shut down";
}

void CoordinatorServer::Wait() {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(&shut_down_));
}

}  // namespace strata
