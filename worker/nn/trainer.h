// Trainer: single-process training and evaluation of a Sequential model on
// one backend (the loop train_mnist and the tests use).
#ifndef STRATA_WORKER_NN_TRAINER_H_
#define STRATA_WORKER_NN_TRAINER_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "worker/nn/data.h"
#include "worker/nn/loss.h"
#include "worker/nn/sequential.h"
#include "worker/nn/sgd.h"

namespace strata {
namespace nn {

// Does not own the model or the backend (both must outlive it); owns the
// input buffers, the loss and the optimizer state. Not thread-safe.
class Trainer {
 public:
  struct Options {
    // Examples per step; larger batches use BLAS better but take fewer steps.
    int64_t batch_size = 64;
    Sgd::Options sgd;
    // Seed of the per-epoch shuffles (epoch e uses seed + e).
    uint64_t shuffle_seed = 1;
  };
  Trainer(Sequential* net, Backend* backend, const Options& options);

  // One forward/backward/update on a batch of images [N, C, H, W] given in
  // host memory. Returns the batch's mean loss.
  absl::StatusOr<float> Step(const Shape& shape, absl::Span<const float> images,
                             absl::Span<const int32_t> labels);
  // One pass over `data` in shuffled order (a last partial batch is
  // dropped). Returns the mean loss; adds the number of steps to *steps.
  absl::StatusOr<float> TrainEpoch(const Dataset& data, int epoch,
                                   int64_t* steps);
  // Fraction of `data` classified correctly (inference mode).
  absl::StatusOr<double> Evaluate(const Dataset& data);

  Sgd& optimizer() { return sgd_; }

 private:
  Sequential* net_;
  Backend* backend_;
  Options options_;
  Sgd sgd_;
  SoftmaxCrossEntropyLoss loss_;
  Tensor input_;
  std::vector<float> host_images_;
  std::vector<int32_t> host_labels_;
};

}  // namespace nn
}  // namespace strata

#endif  // STRATA_WORKER_NN_TRAINER_H_
