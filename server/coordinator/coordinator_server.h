// The coordinator daemon minus main(): a gRPC server hosting JobService,
// NodeService, ClusterAdminService, the standard health service and server reflection over one
// Coordinator.
#ifndef STRATA_SERVER_COORDINATOR_COORDINATOR_SERVER_H_
#define STRATA_SERVER_COORDINATOR_COORDINATOR_SERVER_H_

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "proto/rpc_util.h"
#include "server/coordinator/coordinator.h"
#include "server/coordinator/coordinator_service.h"
#include "server/util/clock.h"
#include "server/util/server_threads.h"

namespace strata {

class MetricsRegistry;

// Owns the coordinator, the services and the gRPC server. Thread-safe:
// Shutdown() may be called from any thread (e.g. a signal-waiting one) while
// another blocks in Wait().
class CoordinatorServer {
 public:
  struct Options {
    // HOST:PORT to listen on; port 0 picks a free port (see address()).
    std::string listen = "127.0.0.1:7070";
    // Max size of a message in either direction. Job specs and events are
    // small; the limit only guards against garbage.
    int max_message_bytes = kDefaultMaxMessageBytes;
    // When set, the gRPC server records per-RPC metrics
    // (strata_rpc_server_*, docs/metrics.md) into it. Not owned; null
    // disables RPC metrics.
    MetricsRegistry* metrics = nullptr;
    Coordinator::Options coordinator;
    CoordinatorServiceOptions service;
    // The gRPC server's idle and total threads (coordinator --min_pollers,
    // --max_pollers, --max_server_threads; server/util/server_threads.h).
    // Start fails with INVALID_ARGUMENT when they are not valid.
    ServerThreadOptions threads;
  };

  // Builds and starts the server over Coordinator::Create (which opens the
  // state store, if options.coordinator.state_dir is set, and resumes from
  // it: its errors are returned). UNAVAILABLE if it cannot listen on
  // options.listen, INVALID_ARGUMENT for a malformed listen address.
  static absl::StatusOr<std::unique_ptr<CoordinatorServer>> Start(
      Options options, Clock* clock = RealClock());

  ~CoordinatorServer();  // Shutdown(absl::Seconds(5)) if not done yet

  // The bound address, "HOST:PORT" with the actual port.
  const std::string& address() const { return address_; }

  // Stops accepting calls, ends open streams, and waits up to `grace` for
  // in-flight calls before cancelling them. Idempotent.
  void Shutdown(absl::Duration grace);

  // Blocks until Shutdown() has completed.
  void Wait();

  Coordinator& coordinator() { return *coordinator_; }

 private:
  CoordinatorServer() = default;

  // Constant after Start().
  std::unique_ptr<Coordinator> coordinator_;
  std::unique_ptr<JobServiceImpl> job_service_;
  std::unique_ptr<NodeServiceImpl> node_service_;
  std::unique_ptr<ClusterAdminServiceImpl> admin_service_;
  std::unique_ptr<grpc::Server> server_;
  std::string address_;

  absl::Mutex mu_;
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace strata

#endif  // STRATA_SERVER_COORDINATOR_COORDINATOR_SERVER_H_
