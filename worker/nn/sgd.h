// SGD with momentum and weight decay (PyTorch's formulation):
//   v = momentum * v + (g + weight_decay * w);  w -= lr * v.
#ifndef STRATA_WORKER_NN_SGD_H_
#define STRATA_WORKER_NN_SGD_H_

#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "worker/nn/layers.h"
#include "worker/nn/tensor.h"

namespace strata {
namespace nn {

// Owns one velocity tensor per parameter (allocated on the first Step, on
// the parameter's backend); does not own the parameters, which must outlive
// it. Not thread-safe.
class Sgd {
 public:
  struct Options {
    // Step size. Too large diverges; 0.01-0.05 suits the models here.
    float learning_rate = 0.01f;
    // Heavy-ball momentum; 0 gives plain SGD. 0.9 speeds up convergence.
    float momentum = 0.9f;
    // L2 penalty folded into the gradient; regularises large FC layers.
    float weight_decay = 0.0f;
  };
  Sgd(std::vector<Parameter*> params, const Options& options);

  // Applies one update from the gradients currently in the parameters.
  // INVALID_ARGUMENT for a negative learning rate or momentum.
  absl::Status Step();
  void set_learning_rate(float lr) { options_.learning_rate = lr; }
  const Options& options() const { return options_; }
  // The momentum buffers of every parameter, concatenated in parameter
  // order (zeros before the first Step): what a snapshot of the optimizer
  // keeps.
  absl::StatusOr<std::vector<float>> Velocity() const;
  // Restores buffers saved by Velocity(). INVALID_ARGUMENT when `v` does
  // not hold one value per parameter element.
  absl::Status SetVelocity(absl::Span<const float> v);

 private:
  std::vector<Parameter*> params_;
  // Allocates zero buffers on the first call.
  absl::Status EnsureVelocity();

  Options options_;
  std::vector<Tensor> velocity_;
};

}  // namespace nn
}  // namespace strata

#endif  // STRATA_WORKER_NN_SGD_H_
