#include "worker/nn/loss.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "proto/base/status_macros.h"

namespace strata {
namespace nn {
namespace {

absl::Status CheckLogits(const Tensor& logits, size_t labels) {
  if (logits.shape().size() != 2 ||
      logits.dim(0) != static_cast<int64_t>(labels)) {
    return absl::InvalidArgumentError(
        absl::StrCat("loss: logits ", ShapeToString(logits.shape()),
                     " do not match ", labels, " labels (want [N, K])"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<float> SoftmaxCrossEntropyLoss::Compute(
    const Tensor& logits, absl::Span<const int32_t> labels) {
  STRATA_RETURN_IF_ERROR(CheckLogits(logits, labels.size()));
  const int64_t n = logits.dim(0), k = logits.dim(1);
  Backend* b = logits.backend();
  host_labels_.resize(n);
  for (int64_t i = 0; i < n; ++i) {
    if (labels[i] < 0 || labels[i] >= k) {
      return absl::InvalidArgumentError(absl::StrCat(
          "loss: label ", labels[i], " of row ", i, " is outside [0, ", k, ")"));
    }
    host_labels_[i] = static_cast<float>(labels[i]);
  }
  STRATA_RETURN_IF_ERROR(labels_.EnsureShape(b, {n}));
  STRATA_RETURN_IF_ERROR(labels_.CopyFromHost(host_labels_));
  STRATA_RETURN_IF_ERROR(grad_.EnsureShape(b, logits.shape()));
  STRATA_RETURN_IF_ERROR(row_loss_.EnsureShape(b, {n}));
  STRATA_RETURN_IF_ERROR(b->SoftmaxCrossEntropy(
      logits.data(), labels_.data(), n, k, grad_.data(), row_loss_.data()));
  host_loss_.resize(n);
  STRATA_RETURN_IF_ERROR(row_loss_.CopyToHost(absl::MakeSpan(host_loss_)));
  double sum = 0.0;
  for (float l : host_loss_) sum += l;
  return static_cast<float>(n == 0 ? 0.0 : sum / n);
}

absl::StatusOr<int64_t> CountCorrect(const Tensor& logits,
                                     absl::Span<const int32_t> labels) {
  STRATA_RETURN_IF_ERROR(CheckLogits(logits, labels.size()));
  STRATA_ASSIGN_OR_RETURN(std::vector<float> host, logits.ToHost());
  const int64_t k = logits.dim(1);
  int64_t correct = 0;
  for (size_t i = 0; i < labels.size(); ++i) {
    const float* row = host.data() + i * k;
    if (std::max_element(row, row + k) - row == labels[i]) ++correct;
  }
  return correct;
}

}  // namespace nn
}  // namespace strata
