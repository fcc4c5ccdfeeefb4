#include "worker/nn/sgd.h"

#include "absl/strings/str_cat.h"
#include "proto/base/status_macros.h"

namespace strata {
namespace nn {

Sgd::Sgd(std::vector<Parameter*> params, const Options& options)
    : params_(std::move(params)), options_(options) {}

absl::Status Sgd::Step() {
  if (options_.learning_rate < 0 || options_.momentum < 0 ||
      options_.weight_decay < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Sgd: negative hyper-parameter (lr ", options_.learning_rate,
        ", momentum ", options_.momentum, ", weight decay ",
        options_.weight_decay, ")"));
  }
  STRATA_RETURN_IF_ERROR(EnsureVelocity());
  for (size_t i = 0; i < params_.size(); ++i) {
    Parameter* p = params_[i];
    STRATA_RETURN_IF_ERROR(p->value.backend()->SgdUpdate(
        p->value.data(), p->grad.data(), velocity_[i].data(), p->value.size(),
        options_.learning_rate, options_.momentum, options_.weight_decay));
  }
  return absl::OkStatus();
}

absl::Status Sgd::EnsureVelocity() {
  if (!velocity_.empty()) return absl::OkStatus();
  for (Parameter* p : params_) {
    if (p->value.empty()) {
      return absl::FailedPreconditionError(
          absl::StrCat("Sgd: parameter ", p->name, " is not initialised"));
    }
    STRATA_ASSIGN_OR_RETURN(Tensor v,
                            Tensor::Zeros(p->value.backend(), p->shape));
    velocity_.push_back(std::move(v));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<float>> Sgd::Velocity() const {
  std::vector<float> all;
  for (size_t i = 0; i < params_.size(); ++i) {
    if (velocity_.empty()) {
      all.resize(all.size() + params_[i]->value.size(), 0.0f);
      continue;
    }
    STRATA_ASSIGN_OR_RETURN(std::vector<float> v, velocity_[i].ToHost());
    all.insert(all.end(), v.begin(), v.end());
  }
  return all;
}

absl::Status Sgd::SetVelocity(absl::Span<const float> v) {
  size_t total = 0;
  for (Parameter* p : params_) total += p->value.size();
  if (v.size() != total) {
    return absl::InvalidArgumentError(
        absl::StrCat("Sgd: ", v.size(), " momentum values for ", total,
                     " parameter elements"));
  }
  STRATA_RETURN_IF_ERROR(EnsureVelocity());
  size_t offset = 0;
  for (size_t i = 0; i < params_.size(); ++i) {
    const size_t n = velocity_[i].size();
    STRATA_RETURN_IF_ERROR(velocity_[i].CopyFromHost(v.subspan(offset, n)));
    offset += n;
  }
  return absl::OkStatus();
}

}  // namespace nn
}  // namespace strata
