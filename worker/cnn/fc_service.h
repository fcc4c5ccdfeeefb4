// The FC side of Stanza (docs/stanza.md): FcSession holds one job's FC part
// on one FC node and merges its conv workers' batches into one FC step;
// FcStream is one Train stream's state (membership, the conv rank it holds);
// FcServiceHost is the StanzaFc gRPC service a worker process serves
// (--listen), routing each stream to the session of its job.
#ifndef STRATA_WORKER_CNN_FC_SERVICE_H_
#define STRATA_WORKER_CNN_FC_SERVICE_H_

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "proto/stanza.grpc.pb.h"
#include "worker/cnn/cnn_job.h"
#include "worker/cnn/wire.h"
#include "worker/nn/backend.h"
#include "worker/nn/loss.h"
#include "worker/nn/sequential.h"
#include "worker/nn/sgd.h"

namespace strata {
namespace cnn {

// How a Train stream that held a conv rank ended (FcSession::Release).
enum class StreamEnd {
  kClean,     // WritesDone: that conv worker is done with this FC node
  kRejected,  // the FC node refused one of its batches: that stream only
  kBroken,    // cancelled or unwritable: the conv worker is gone; the
              // session fails
};

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
// Progress checkpoints (docs/stanza.md): every checkpoint_every-th step
// (not the last), after the step and its averaging, the session hands its
// FC weights and momentum buffers to Options::checkpoint while the step's
// conv workers wait for their answers. A restarted job's session starts at
// Options::start_step from the weights given to Restore.
//
// Hostile input: a stream must prove it belongs to the job (the job secret)
// and hold its conv rank alone; every batch is validated completely before
// anything changes, so a refused batch or AverageFc request fails that
// stream or call only (docs/protocol.md lists the codes).
//
// Owns the FC part's backend, model, optimizer and buffers. Thread-safe:
// every stream handler calls in concurrently; one FC step runs at a time
// under mu_.
class FcSession {
 public:
  struct Options {
    uint32_t fc_rank = 0;
    std::string job_id;
    // TaskAssignment.job_secret; streams and AverageFc calls must carry it.
    // Empty: nothing is admitted.
    std::string job_secret;
    // Addresses of the job's FC nodes (averaging goes to [0]).
    std::vector<std::string> fc_addresses;
    // Longest wait for the other conv workers of a step, or for the FC nodes
    // of an averaging round; DEADLINE_EXCEEDED after it.
    absl::Duration step_timeout = absl::Seconds(120);
    // The first training step (a restarted job's resume step).
    int64_t start_step = 1;
    // Every this many steps (0: never) `checkpoint` gets the FC weights and
    // momentum buffers after that step; its error fails the session.
    int64_t checkpoint_every = 0;
    std::function<absl::Status(int64_t step, const std::vector<float>& weights,
                               const std::vector<float>& velocity)>
        checkpoint;
  };
  // The FC part of plan.spec.model(), initialised from the spec's seed on
  // `backend` (what every FC node of the job starts from).
  static absl::StatusOr<std::shared_ptr<FcSession>> Create(
      const CnnPlan& plan, std::unique_ptr<nn::Backend> backend,
      Options options);

  // Whether `secret` is the job's (constant-time; false when either is
  // empty).
  bool Authorized(absl::string_view secret) const;
  // A stream's first batch claims `conv_rank` for that stream:
  // PERMISSION_DENIED for a wrong or missing secret, INVALID_ARGUMENT for a
  // rank this FC node does not serve, ALREADY_EXISTS while another stream
  // holds it. After OK the caller holds the rank until Release.
  absl::Status Claim(absl::string_view secret, uint32_t conv_rank);
  // One batch of the stream holding `conv_rank`: validated (nothing changes
  // when it is refused), then a training step (blocks until the merged step
  // ran) or, for eval, forward only on the sender's rows.
  absl::StatusOr<GradientBatch> Handle(uint32_t conv_rank,
                                       const ActivationBatch& in);
  // The stream holding `conv_rank` ended (see StreamEnd); the rank is free.
  void Release(uint32_t conv_rank, StreamEnd end, const absl::Status& why);

  // An AverageFc call: checks the secret, that this is FC node 0, the
  // sender's FC rank (1..F-1) and the weights' size, then Average.
  absl::StatusOr<std::vector<float>> ServeAverage(const AverageFcRequest& req);
  // FC node 0 only: collects the weights of every FC node for `round`, the
  // next averaging step (CnnPlan::NextAveragingStep); one round is open at
  // a time. INVALID_ARGUMENT for an unknown FC rank, a wrong size or a
  // non-finite weight, FAILED_PRECONDITION for another round, ALREADY_EXISTS
  // for a second input of an FC rank, DEADLINE_EXCEEDED when not every FC
  // node arrived within the step timeout of the first (the round is dropped).
  absl::StatusOr<std::vector<float>> Average(uint32_t fc_rank, int64_t round,
                                             std::vector<float> weights);
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
  // Before the first step: replaces the FC weights and momentum buffers (a
  // snapshot's, both concatenated like Weights()). INVALID_ARGUMENT for
  // another size.
  absl::Status Restore(const std::vector<float>& weights,
                       const std::vector<float>& velocity);

 private:
  // A validated batch, unpacked.
  struct Input {
    int64_t step = 0;
    WireFormat format = FLOAT32;
    int64_t rows = 0;
    int64_t wire_bytes = 0;       // the message's size, for the counters
    std::vector<float> x;         // rows x features_, finite
    std::vector<int32_t> labels;  // rows, in [0, classes_)
  };

  FcSession(const CnnPlan& plan, std::unique_ptr<nn::Backend> backend,
            std::shared_ptr<nn::Sequential> fc, int64_t features,
            int64_t classes, Options options);

  absl::StatusOr<Input> Decode(uint32_t rank, const ActivationBatch& in) const;
  absl::StatusOr<GradientBatch> TrainStep(uint32_t rank, Input in);
  absl::StatusOr<GradientBatch> Eval(const Input& in);
  absl::Status RunStepLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status AverageLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status CheckpointLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status SetWeightsLocked(const std::vector<float>& w)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Averaging helpers, under avg_mu_.
  absl::Status AdmitAverageLocked(uint32_t fc_rank, int64_t round)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(avg_mu_);
  void CloseRoundLocked(int64_t round) ABSL_EXCLUSIVE_LOCKS_REQUIRED(avg_mu_);

  // Constant after construction.
  const CnnPlan plan_;
  const Options options_;
  const std::vector<uint32_t> ranks_;  // conv ranks served, ascending
  const int64_t features_;             // boundary activations per row
  const int64_t classes_;              // logits per row
  const std::unique_ptr<nn::Backend> backend_;
  const std::shared_ptr<nn::Sequential> fc_;
  const int64_t fc_params_;              // FC parameters, all tensors
  std::unique_ptr<StanzaFc::Stub> hub_;  // FC node 0 (fc_rank > 0 only)
  Traffic traffic_;

  mutable absl::Mutex mu_;
  absl::Status failed_ ABSL_GUARDED_BY(mu_);
  int64_t step_ ABSL_GUARDED_BY(mu_) = 1;  // next training step to run
  std::set<uint32_t> held_ ABSL_GUARDED_BY(mu_);   // ranks with a stream
  std::set<uint32_t> ended_ ABSL_GUARDED_BY(mu_);  // ranks ended cleanly
  std::map<uint32_t, Input> inputs_ ABSL_GUARDED_BY(mu_);
  std::map<uint32_t, GradientBatch> results_ ABSL_GUARDED_BY(mu_);
  double last_loss_ ABSL_GUARDED_BY(mu_) = 0;
  nn::Sgd sgd_ ABSL_GUARDED_BY(mu_);
  nn::SoftmaxCrossEntropyLoss loss_ ABSL_GUARDED_BY(mu_);
  nn::Tensor input_, dinput_ ABSL_GUARDED_BY(mu_);
  std::vector<float> host_ ABSL_GUARDED_BY(mu_);
  std::vector<int32_t> labels_ ABSL_GUARDED_BY(mu_);

  // Averaging rounds (FC node 0), separate from mu_ so that FC node 0's
  // own step (holding mu_) and the other nodes' RPCs can meet. At most one
  // round collects weights (avg_open_); its mean stays in avg_out_ until
  // every FC node read it or the next round closes, so memory is bounded by
  // two rounds whatever the requests.
  absl::Mutex avg_mu_;
  int64_t avg_done_ ABSL_GUARDED_BY(avg_mu_) = 0;     // last round closed
  int64_t avg_dropped_ ABSL_GUARDED_BY(avg_mu_) = 0;  // last round dropped
  int64_t avg_open_ ABSL_GUARDED_BY(avg_mu_) = 0;     // collecting; 0: none
  absl::Time avg_deadline_ ABSL_GUARDED_BY(avg_mu_);  // of avg_open_
  std::map<uint32_t, std::vector<float>> avg_in_ ABSL_GUARDED_BY(avg_mu_);
  std::map<int64_t, std::vector<float>> avg_out_ ABSL_GUARDED_BY(avg_mu_);
  std::map<int64_t, uint32_t> avg_readers_ ABSL_GUARDED_BY(avg_mu_);
};

// The FC side of one Train stream without its transport:
// FcServiceHost::Train hands it every message it reads, the fuzz target
// the messages it parses. The first message finds the job's session
// (through `find`), proves that the sender belongs to the job and claims
// its conv rank; later ones may leave job_id, conv_rank and job_secret
// empty, and must repeat them when set. Every message gets its answer or
// the status that ends the stream; the rank is released then and the
// session goes on. Holds the session while it holds the rank. Not
// thread-safe (one stream, one thread); the session is.
class FcStream {
 public:
  using Finder = std::function<absl::StatusOr<std::shared_ptr<FcSession>>(
      const std::string& job_id)>;
  explicit FcStream(Finder find) : find_(std::move(find)) {}
  // A stream still holding its rank ends as broken.
  ~FcStream();
  FcStream(const FcStream&) = delete;
  FcStream& operator=(const FcStream&) = delete;

  absl::StatusOr<GradientBatch> Handle(const ActivationBatch& in);
  // The stream ended after its last answer: cleanly (OK, WritesDone) or
  // not (the conv worker is gone: the session fails).
  void End(const absl::Status& status);

 private:
  absl::Status Open(const ActivationBatch& first);
  absl::Status CheckSender(const ActivationBatch& in) const;
  absl::Status Refuse(absl::Status status);

  const Finder find_;
  std::string job_id_;
  std::shared_ptr<FcSession> session_;  // set once the rank is claimed
  uint32_t rank_ = 0;
  bool holds_ = false;
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

// A started gRPC server for the StanzaFc service (and gRPC health).
struct StanzaServer {
  std::unique_ptr<grpc::Server> server;
  std::string address;  // bound HOST:PORT, or the unix: address as given
};
// Serves `service` (not owned; outlives the server) on `listen`: HOST:PORT
// (port 0: a free port) or unix:PATH. UNAVAILABLE if it cannot bind.
absl::StatusOr<StanzaServer> ServeStanzaFc(const std::string& listen,
                                           int max_message_bytes,
                                           StanzaFc::Service* service);

// A started gRPC server hosting an FcServiceHost (the worker's --listen).
struct FcServer {
  std::unique_ptr<FcServiceHost> host;
  std::unique_ptr<grpc::Server> server;
  std::string address;  // bound HOST:PORT, or the unix: address as given
};
// ServeStanzaFc with a new FcServiceHost: the FC task's own server, in the
// daemon (--task_isolation=thread) or in its task process.
absl::StatusOr<FcServer> StartFcServer(const std::string& listen,
                                       int max_message_bytes);

}  // namespace cnn
}  // namespace strata

#endif  // STRATA_WORKER_CNN_FC_SERVICE_H_
