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
  if (velocity_.empty()) {
    for (Parameter* p : params_) {
      if (p->value.empty()) {
        return absl::FailedPreconditionError(
            absl::StrCat("Sgd: parameter ", p->name, " is not initialised"));
      }
      STRATA_ASSIGN_OR_RETURN(Tensor v,
                              Tensor::Zeros(p->value.backend(), p->shape));
      velocity_.push_back(std::move(v));
    }
  }
  for (size_t i = 0; i < params_.size(); ++i) {
    Parameter* p = params_[i];
    STRATA_RETURN_IF_ERROR(p->value.backend()->SgdUpdate(
        p->value.data(), p->grad.data(), velocity_[i].data(), p->value.size(),
        options_.learning_rate, options_.momentum, options_.weight_decay));
  }
  return absl::OkStatus();
}

}  // namespace nn
}  // namespace strata
