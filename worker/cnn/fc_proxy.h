// The StanzaFc front door of a worker daemon whose tasks run in child
// processes (worker/task_process.h). The daemon keeps serving StanzaFc (and
// gRPC health) on the address it registered with the coordinator; an FC
// task's child serves the real FcServiceHost on a private Unix socket, and
// FcProxy relays each Train stream and AverageFc call of that job to it.
// A crash of the child then fails the job's streams, not the daemon.
//
// Routing is by job id, as in FcServiceHost: a call for a job that has no
// route yet waits up to `session_wait` for its FC task to start (conv
// workers may connect before the FC node got its assignment), then gets
// NOT_FOUND. Everything else (validation, the job secret, step order) is
// the child's FcServiceHost's business; its statuses pass through.
//
// Costs one extra local hop per message (parse, serialize, a Unix socket
// copy); `worker --task_isolation=thread` serves FC in the daemon instead.
// Thread-safe. Owns the channels to the children.
#ifndef STRATA_WORKER_CNN_FC_PROXY_H_
#define STRATA_WORKER_CNN_FC_PROXY_H_

#include <map>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "proto/stanza.grpc.pb.h"

namespace strata {
namespace cnn {

class FcProxy final : public StanzaFc::Service {
 public:
  struct Options {
    // How long a call waits for its job's FC task to start here.
    absl::Duration session_wait = absl::Seconds(60);
    int max_message_bytes = 256 << 20;
  };
  FcProxy() : FcProxy(Options()) {}
  explicit FcProxy(Options options) : options_(options) {}

  // Relays job_id's calls to `child_address` (e.g. "unix:/tmp/x/fc.sock")
  // until RemoveRoute. ALREADY_EXISTS when the job already has a route.
  absl::Status AddRoute(const std::string& job_id,
                        const std::string& child_address);
  void RemoveRoute(const std::string& job_id);

  grpc::Status Train(
      grpc::ServerContext* ctx,
      grpc::ServerReaderWriter<GradientBatch, ActivationBatch>* stream)
      override;
  grpc::Status AverageFc(grpc::ServerContext* ctx,
                         const AverageFcRequest* req,
                         AverageFcResponse* resp) override;

 private:
  absl::StatusOr<std::shared_ptr<StanzaFc::Stub>> Find(
      const std::string& job_id);

  const Options options_;
  absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<StanzaFc::Stub>> routes_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace cnn
}  // namespace strata

#endif  // STRATA_WORKER_CNN_FC_PROXY_H_
