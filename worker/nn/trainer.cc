#include "worker/nn/trainer.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "proto/base/status_macros.h"

namespace strata {
namespace nn {

Trainer::Trainer(Sequential* net, Backend* backend, const Options& options)
    : net_(net),
      backend_(backend),
      options_(options),
      sgd_(net->Params(), options.sgd) {}

absl::StatusOr<float> Trainer::Step(const Shape& shape,
                                    absl::Span<const float> images,
                                    absl::Span<const int32_t> labels) {
  STRATA_RETURN_IF_ERROR(input_.EnsureShape(backend_, shape));
  STRATA_RETURN_IF_ERROR(input_.CopyFromHost(images));
  STRATA_ASSIGN_OR_RETURN(const Tensor* logits, net_->Forward(input_, true));
  STRATA_ASSIGN_OR_RETURN(float loss, loss_.Compute(*logits, labels));
  STRATA_RETURN_IF_ERROR(net_->Backward(loss_.grad(), nullptr));
  STRATA_RETURN_IF_ERROR(sgd_.Step());
  return loss;
}

absl::StatusOr<float> Trainer::TrainEpoch(const Dataset& data, int epoch,
                                          int64_t* steps) {
  const int64_t b = options_.batch_size;
  if (b <= 0 || data.size() < b) {
    return absl::InvalidArgumentError(absl::StrCat(
        "TrainEpoch: batch size ", b, " for ", data.size(), " examples"));
  }
  const std::vector<int64_t> order =
      ShuffledIndices(data.size(), options_.shuffle_seed + epoch);
  host_images_.resize(b * data.ImageSize());
  host_labels_.resize(b);
  const Shape shape = {b, data.channels, data.height, data.width};
  double sum = 0;
  int64_t n = 0;
  for (int64_t start = 0; start + b <= data.size(); start += b, ++n) {
    STRATA_RETURN_IF_ERROR(GatherBatch(data, order, start, b,
                                       absl::MakeSpan(host_images_),
                                       absl::MakeSpan(host_labels_)));
    STRATA_ASSIGN_OR_RETURN(float loss,
                            Step(shape, host_images_, host_labels_));
    sum += loss;
  }
  if (steps != nullptr) *steps += n;
  return static_cast<float>(sum / n);
}

absl::StatusOr<double> Trainer::Evaluate(const Dataset& data) {
  const int64_t b = std::max<int64_t>(1, options_.batch_size);
  std::vector<int64_t> order(data.size());
  for (int64_t i = 0; i < data.size(); ++i) order[i] = i;
  int64_t correct = 0;
  for (int64_t start = 0; start < data.size(); start += b) {
    const int64_t n = std::min(b, data.size() - start);
    host_images_.resize(n * data.ImageSize());
    host_labels_.resize(n);
    STRATA_RETURN_IF_ERROR(GatherBatch(data, order, start, n,
                                       absl::MakeSpan(host_images_),
                                       absl::MakeSpan(host_labels_)));
    STRATA_RETURN_IF_ERROR(input_.EnsureShape(
        backend_, {n, data.channels, data.height, data.width}));
    STRATA_RETURN_IF_ERROR(input_.CopyFromHost(host_images_));
    STRATA_ASSIGN_OR_RETURN(const Tensor* logits, net_->Forward(input_, false));
    STRATA_ASSIGN_OR_RETURN(int64_t c, CountCorrect(*logits, host_labels_));
    correct += c;
  }
  return data.size() == 0 ? 0.0 : static_cast<double>(correct) / data.size();
}

}  // namespace nn
}  // namespace strata
