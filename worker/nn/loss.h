// Softmax cross-entropy loss over logits [N, K].
#ifndef STRATA_WORKER_NN_LOSS_H_
#define STRATA_WORKER_NN_LOSS_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "worker/nn/tensor.h"

namespace strata {
namespace nn {

// Owns the gradient, label and per-row loss buffers (reused across calls).
// Not thread-safe.
class SoftmaxCrossEntropyLoss {
 public:
  // Mean loss over the batch; afterwards grad() holds dL/dlogits.
  // INVALID_ARGUMENT when logits are not [N, K], labels.size() != N or a
  // label is outside [0, K).
  absl::StatusOr<float> Compute(const Tensor& logits,
                                absl::Span<const int32_t> labels);
  const Tensor& grad() const { return grad_; }

 private:
  std::vector<float> host_labels_, host_loss_;
  Tensor labels_, grad_, row_loss_;
};

// Number of rows whose arg-max equals the label. INVALID_ARGUMENT on a size
// mismatch.
absl::StatusOr<int64_t> CountCorrect(const Tensor& logits,
                                     absl::Span<const int32_t> labels);

}  // namespace nn
}  // namespace strata

#endif  // STRATA_WORKER_NN_LOSS_H_
