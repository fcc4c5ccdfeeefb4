// What every task of a CNN_TRAIN job agrees on (docs/stanza.md): the step
// plan (which images each conv worker trains on at step t, the learning
// rate), the data, the conv-worker <-> FC-node mapping, and DenseSync, which
// keeps a set of model parameters on the parameter-server shards.
#ifndef STRATA_WORKER_CNN_CNN_JOB_H_
#define STRATA_WORKER_CNN_CNN_JOB_H_

#include <cstdint>
#include <future>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "proto/job.pb.h"
#include "server/client/ps_client.h"
#include "worker/nn/data.h"
#include "worker/nn/layers.h"
#include "worker/nn/model_zoo.h"
#include "worker/cnn/wire.h"

namespace strata {
namespace cnn {

// The network `spec` trains: its preset (model) or its own layers
// (model_spec), built by the one builder (nn::BuildModel of the
// description); INVALID_ARGUMENT as at submit.
absl::StatusOr<nn::Model> BuildJobModel(const CnnTrainSpec& spec);

// The step plan. Step t (1-based) of epoch e = (t-1) / steps_per_epoch uses
// the global batch of B = conv_workers x batch images at offset
// ((t-1) mod steps_per_epoch) x B of ShuffledIndices(N, seed + e); conv
// rank r takes rows [r x batch, (r+1) x batch) of it. A plain value type.
struct CnnPlan {
  CnnTrainSpec spec;  // validated, defaults applied
  uint32_t conv_workers = 1;
  uint32_t fc_nodes = 0;
  int64_t batch = 64;
  int64_t train_size = 0;
  int64_t steps_per_epoch = 0;
  int64_t total_steps = 0;

  // INVALID_ARGUMENT when the data holds fewer than one global batch.
  static absl::StatusOr<CnnPlan> Make(const CnnTrainSpec& spec,
                                      int64_t train_size);
  int64_t Epoch(int64_t step) const { return (step - 1) / steps_per_epoch; }
  float LearningRate(int64_t step) const;
  // FC node serving conv rank r: r mod fc_nodes.
  uint32_t FcOf(uint32_t conv_rank) const { return conv_rank % fc_nodes; }
  // Conv ranks served by FC node f, ascending.
  std::vector<uint32_t> ConvRanksOf(uint32_t fc_rank) const;
  // With more than one FC node, the FC nodes average their FC weights after
  // every fc_average_every-th step and after the last one.
  bool AveragesAfter(int64_t step) const;
  // The first averaging step (round) after `step`; 0 when none is left.
  int64_t NextAveragingStep(int64_t step) const;
  // Whether rank 0 evaluates the test set after `step` during training:
  // every data.eval_every_steps steps, else after every epoch (the last
  // step is evaluated when training ends, not here).
  bool EvaluatesAfter(int64_t step) const;
  // Test-set evaluations of the whole job, the final one included.
  int64_t Evaluations() const;
};

// Train and test images, each channel normalised by the mean and standard
// deviation of the training images loaded (after max_train), test images
// with the training set's statistics.
struct CnnData {
  nn::Dataset train, test;
};
// An MNIST-layout IDX directory (MNIST, Fashion-MNIST) from
// spec.data.mnist_dir, CIFAR-10 binary from spec.data.cifar10_dir, or else
// synthetic separable images of `image_shape` ({C, H, W}). The readers
// check `read`'s caps before allocating the dataset. INVALID_ARGUMENT when
// the images do not have `image_shape`.
absl::StatusOr<CnnData> LoadCnnData(const CnnTrainSpec& spec,
                                    const std::vector<int64_t>& image_shape,
                                    const nn::ReadOptions& read = {});

// Whether training batches are augmented (CIFAR-10 data): random crops with
// kCifarCropPad pixels of zero padding and horizontal flips
// (nn::RandomCropFlip).
bool Augments(const CnnTrainSpec& spec);
inline constexpr int64_t kCifarCropPad = 4;

// Copies conv rank `rank`'s images and labels of step `step` (see CnnPlan),
// augmented when Augments(spec): seeded by the job's seed, the step and
// the image's row in the global batch, so identical in STANZA and PS mode.
// Caches the epoch's permutation. Not thread-safe.
class BatchSource {
 public:
  BatchSource(const CnnPlan* plan, const nn::Dataset* data)
      : plan_(plan), data_(data) {}
  absl::Status Get(int64_t step, uint32_t rank, std::vector<float>* images,
                   std::vector<int32_t>* labels);

 private:
  const CnnPlan* plan_;
  const nn::Dataset* data_;
  int64_t epoch_ = -1;
  std::vector<int64_t> order_;
};

// Keeps `params` on the shards as dense tensors "<prefix>/<param name>"
// (SGD with learning rate 1, no decay, zero initializer). The worker keeps
// the momentum velocity v locally and pushes lr x v, so with BSP the shards
// apply w -= lr x mean_r(v_r) = lr x V, where V follows the momentum
// recurrence of the averaged gradient (the recurrence is linear): exactly
// nn::Sgd on the mean gradient. Step 0 initialises the tensors: every worker
// pushes -w0 (BSP; the mean is w0), or rank 0 alone (ASYNC).
//
// Resuming (Options::resume, a restarted job): the tensors keep what the
// previous attempt trained. Init reads their steps, initialises only those
// still at step 0, and (BSP) first_step() is the step to train next: the
// least tensor step (tensors may differ by one when the previous attempt
// died within a step; the coordinator has discarded that step's partial
// pushes). A push for step t skips a tensor whose step is already past t.
// The momentum velocity is not kept: it restarts at zero.
//
// Does not own the client or the parameters. Not thread-safe.
class DenseSync {
 public:
  struct Options {
    std::string prefix;   // "<job id>/conv" or "<job id>/all"
    bool bsp = true;
    uint32_t num_workers = 1;
    uint32_t rank = 0;
    float momentum = 0.9f;
    float weight_decay = 0.0f;
    // ASYNC start-up: how long ranks > 0 wait for rank 0's initial push.
    absl::Duration init_timeout = absl::Seconds(60);
    // TaskAssignment.attempt > 0: resume from the tensors' steps.
    bool resume = false;
  };
  DenseSync(PsClient* client, std::vector<nn::Parameter*> params,
            Options options, Traffic* traffic);

  // Creates the tensors (if absent) and pushes the initial values held by
  // the parameters (resuming: only to tensors still at step 0).
  // ALREADY_EXISTS when they exist with another shape or worker count.
  absl::Status Init();
  // After Init: the first training step, 1 unless resuming a BSP job.
  int64_t first_step() const { return first_step_; }
  // Pulls every tensor at min_step `step` into the parameters.
  absl::Status Pull(int64_t step);
  // Pushes lr x v for step `step` from the parameters' gradients.
  absl::Status Push(int64_t step, float lr);

  // Overlap of communication with computation: starts pushing the
  // parameters of `layer` (their gradients must be final: call it from
  // Sequential::Backward's after_layer hook) on a background thread, while
  // backprop continues with the layers below. The values pushed are exactly
  // those of Push(); only the timing differs. WaitPushes() joins them and
  // returns the first error. Not thread-safe itself: one caller thread.
  absl::Status PushLayerAsync(nn::Layer& layer, int64_t step, float lr);
  absl::Status WaitPushes();

 private:
  // Momentum step and push of parameter i from gradient g (host copy).
  // Returns the bytes sent. Touches only velocity_[i] and host_[i].
  absl::StatusOr<uint64_t> PushOne(size_t i, std::vector<float> g,
                                   int64_t step, float lr);

  PsClient* const client_;
  const std::vector<nn::Parameter*> params_;
  const Options options_;
  Traffic* const traffic_;
  std::vector<std::vector<float>> velocity_, host_;
  // Resuming: each tensor's step when Init read it (else 0).
  std::vector<int64_t> steps_;
  int64_t first_step_ = 1;
  std::vector<std::future<absl::StatusOr<uint64_t>>> pending_;
};

// Microseconds since `start` (absl::Now()).
int64_t MicrosSince(absl::Time start);

}  // namespace cnn
}  // namespace strata

#endif  // STRATA_WORKER_CNN_CNN_JOB_H_
