// The FC side of Stanza (docs/stanza.md): FcSession holds one job's FC part
// on one FC node and merges its conv workers' batches into one FC step;
// FcServiceHost is the StanzaFc gRPC service a worker process serves
// (--listen), routing each stream to the session of its job.
#ifndef STRATA_WORKER_CNN_FC_SERVICE_H_
#define STRATA_WORKER_CNN_FC_SERVICE_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "proto/stanza.grpc.pb.h"
#include "worker/nn/backend.h"
#include "worker/nn/loss.h"
#include "worker/nn/sequential.h"
#include "worker/nn/sgd.h"
#include "worker/cnn/cnn_job.h"
#include "worker/cnn/wire.h"

namespace strata {
namespace cnn {

// One job's FC part on one FC node. Training step t waits for step t of
// every conv worker this node serves (conv ranks r with r mod F == f),
// concatenates their rows in rank order, runs one forward / loss / backward
// / SGD step on the merged batch (the same math as one process with that
// batch) and answers each worker with the gradient of its rows, scaled by
// the number of merged workers so that it is the gradient of the worker's
// own mean loss. With F > 1 FC nodes, after every fc_average_every-th and
// after the last step the FC weights are replaced by their mean over the FC
// nodes (through FC node 0's AverageFc).
//
// Owns the FC part's backend, model, optimizer and buffers. Thread-safe:
// every stream handler calls in concurrently; one FC step runs at a time
// under mu_.
class FcSession {
 public:
  struct Options {
    uint32_t fc_rank = 0;
    std::string job_id;
    // Addresses of the job's FC nodes (averaging goes to [0]).
    std::vector<std::string> fc_addresses;
    // Longest wait for the other conv workers of a step, or for the FC nodes
    // of an averaging round; DEADLINE_EXCEEDED after it.
    absl::Duration step_timeout = absl::Seconds(120);
  };
  // `fc` is the FC part, initialised on `backend`.
  FcSession(const CnnPlan& plan, std::unique_ptr<nn::Backend> backend,
            std::shared_ptr<nn::Sequential> fc, Options options);

  // One training batch of `conv_rank`; blocks until the merged step ran.
  absl::StatusOr<GradientBatch> TrainStep(const ActivationBatch& in);
  // Forward only on the sender's rows: loss and correct count.
  absl::StatusOr<GradientBatch> Eval(const ActivationBatch& in);
  // FC node 0 only: collects the weights of every FC node for `round`.
  absl::StatusOr<std::vector<float>> Average(uint32_t fc_rank, int64_t round,
                                             std::vector<float> weights);
  // A conv worker's stream ended: cleanly (ok) or not (the session fails).
  void StreamEnded(uint32_t conv_rank, const absl::Status& status);
  // Fails the session; every waiting call returns `status`.
  void Fail(const absl::Status& status);
  // Blocks until every conv worker's stream ended cleanly (OK), the session
  // failed, or `deadline`; returns OK, the failure, or DEADLINE_EXCEEDED
  // (the caller polls cancellation between calls).
  absl::Status WaitDone(absl::Time deadline);

  Traffic& traffic() { return traffic_; }
  int64_t steps_done() const;
  double last_loss() const;
  // FC weights concatenated (for tests and averaging).
  absl::StatusOr<std::vector<float>> Weights() const;

 private:
  absl::Status RunStepLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status AverageLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status SetWeightsLocked(const std::vector<float>& w)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Constant after construction.
  const CnnPlan plan_;
  const Options options_;
  const std::vector<uint32_t> ranks_;  // conv ranks served, ascending
  const std::unique_ptr<nn::Backend> backend_;
  const std::shared_ptr<nn::Sequential> fc_;
  std::unique_ptr<StanzaFc::Stub> hub_;  // FC node 0 (fc_rank > 0 only)
  Traffic traffic_;

  mutable absl::Mutex mu_;
  absl::Status failed_ ABSL_GUARDED_BY(mu_);
  int64_t step_ ABSL_GUARDED_BY(mu_) = 1;  // next training step to run
  std::map<uint32_t, ActivationBatch> inputs_ ABSL_GUARDED_BY(mu_);
  std::map<uint32_t, GradientBatch> results_ ABSL_GUARDED_BY(mu_);
  std::map<uint32_t, bool> ended_ ABSL_GUARDED_BY(mu_);
  double last_loss_ ABSL_GUARDED_BY(mu_) = 0;
  nn::Sgd sgd_ ABSL_GUARDED_BY(mu_);
  nn::SoftmaxCrossEntropyLoss loss_ ABSL_GUARDED_BY(mu_);
  nn::Tensor input_, dinput_ ABSL_GUARDED_BY(mu_);
  std::vector<float> host_ ABSL_GUARDED_BY(mu_);
  std::vector<int32_t> labels_ ABSL_GUARDED_BY(mu_);

  // Averaging rounds (FC node 0), separate from mu_ so that FC node 0's
  // own step (holding mu_) and the other nodes' RPCs can meet. Keyed by
  // round; an entry is erased once every FC node has read the mean.
  absl::Mutex avg_mu_;
  std::map<int64_t, std::map<uint32_t, std::vector<float>>> avg_in_
      ABSL_GUARDED_BY(avg_mu_);
  std::map<int64_t, std::vector<float>> avg_out_ ABSL_GUARDED_BY(avg_mu_);
  std::map<int64_t, uint32_t> avg_readers_ ABSL_GUARDED_BY(avg_mu_);
};

// The StanzaFc service of a worker process. Sessions register under their
// job id while their FC task runs. Thread-safe. Does not own the sessions
// beyond the shared_ptrs it holds while registered.
class FcServiceHost final : public StanzaFc::Service {
 public:
  struct Options {
    // How long a stream waits for its job's FC task to start here.
    absl::Duration session_wait = absl::Seconds(60);
  };
  FcServiceHost() : FcServiceHost(Options()) {}
  explicit FcServiceHost(Options options) : options_(options) {}

  // ALREADY_EXISTS when the job already has a session here.
  absl::Status Register(const std::string& job_id,
                        std::shared_ptr<FcSession> session);
  void Unregister(const std::string& job_id);

  grpc::Status Train(
      grpc::ServerContext* ctx,
      grpc::ServerReaderWriter<GradientBatch, ActivationBatch>* stream)
      override;
  grpc::Status AverageFc(grpc::ServerContext* ctx,
                         const AverageFcRequest* req,
                         AverageFcResponse* resp) override;

 private:
  absl::StatusOr<std::shared_ptr<FcSession>> Find(const std::string& job_id);

  const Options options_;
  absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<FcSession>> sessions_
      ABSL_GUARDED_BY(mu_);
};

// A started gRPC server hosting an FcServiceHost (the worker's --listen).
struct FcServer {
  std::unique_ptr<FcServiceHost> host;
  std::unique_ptr<grpc::Server> server;
  std::string address;  // bound HOST:PORT
};
// Listens on `listen` (port 0: a free port). UNAVAILABLE if it cannot bind.
absl::StatusOr<FcServer> StartFcServer(const std::string& listen,
                                       int max_message_bytes);

}  // namespace cnn
}  // namespace strata

#endif  // STRATA_WORKER_CNN_FC_SERVICE_H_
