#include "worker/nn/sequential.h"

#include "absl/strings/str_cat.h"
#include "proto/base/status_macros.h"

namespace strata {
namespace nn {

absl::Status Sequential::Add(std::shared_ptr<Layer> layer) {
  if (layer == nullptr || layer->name().empty()) {
    return absl::InvalidArgumentError("Sequential::Add: unnamed layer");
  }
  for (const auto& l : layers_) {
    if (l->name() == layer->name()) {
      return absl::InvalidArgumentError(
          absl::StrCat("Sequential::Add: duplicate layer name ", l->name()));
    }
  }
  layers_.push_back(std::move(layer));
  return absl::OkStatus();
}

absl::Status Sequential::Init(Backend* backend, uint64_t seed) {
  for (auto& l : layers_) STRATA_RETURN_IF_ERROR(l->Init(backend, seed));
  return absl::OkStatus();
}

absl::StatusOr<Shape> Sequential::OutputShape(const Shape& in) const {
  Shape s = in;
  for (const auto& l : layers_) {
    STRATA_ASSIGN_OR_RETURN(s, l->OutputShape(s));
  }
  return s;
}

absl::StatusOr<const Tensor*> Sequential::Forward(const Tensor& x,
                                                  bool training) {
  if (layers_.empty()) {
    return absl::FailedPreconditionError("Sequential::Forward: no layers");
  }
  acts_.resize(layers_.size());
  const Tensor* in = &x;
  for (size_t i = 0; i < layers_.size(); ++i) {
    STRATA_RETURN_IF_ERROR(layers_[i]->Forward(*in, &acts_[i], training));
    in = &acts_[i];
  }
  input_ = &x;
  return in;
}

absl::Status Sequential::Backward(const Tensor& dy, Tensor* dx) {
  return Backward(dy, dx, nullptr);
}

absl::Status Sequential::Backward(
    const Tensor& dy, Tensor* dx,
    const std::function<absl::Status(Layer&)>& after_layer) {
  if (input_ == nullptr || acts_.size() != layers_.size()) {
    return absl::FailedPreconditionError(
        "Sequential::Backward called before Forward");
  }
  if (dy.shape() != acts_.back().shape()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Sequential::Backward: gradient ", ShapeToString(dy.shape()),
        " does not match output ", ShapeToString(acts_.back().shape())));
  }
  const Tensor* grad = &dy;
  for (size_t i = layers_.size(); i-- > 0;) {
    const Tensor& x = i == 0 ? *input_ : acts_[i - 1];
    Tensor* out = nullptr;
    if (i > 0) {
      out = (grad == &grad_a_) ? &grad_b_ : &grad_a_;
    } else {
      out = dx;
    }
    STRATA_RETURN_IF_ERROR(layers_[i]->Backward(x, acts_[i], *grad, out));
    if (after_layer) STRATA_RETURN_IF_ERROR(after_layer(*layers_[i]));
    grad = out;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::pair<Sequential, Sequential>> Sequential::SplitAt(
    absl::string_view boundary) const {
  size_t cut = layers_.size();
  for (size_t i = 0; i < layers_.size(); ++i) {
    if (layers_[i]->name() == boundary) cut = i + 1;
  }
  if (cut == layers_.size() && (layers_.empty() ||
                                layers_.back()->name() != boundary)) {
    return absl::NotFoundError(
        absl::StrCat("SplitAt: no layer named \"", boundary, "\""));
  }
  std::pair<Sequential, Sequential> parts;
  for (size_t i = 0; i < layers_.size(); ++i) {
    (i < cut ? parts.first : parts.second).layers_.push_back(layers_[i]);
  }
  return parts;
}

std::vector<Parameter*> Sequential::Params() const {
  std::vector<Parameter*> out;
  for (const auto& l : layers_) {
    for (Parameter* p : l->Params()) out.push_back(p);
  }
  return out;
}

int64_t Sequential::NumParams() const {
  int64_t n = 0;
  for (const auto& l : layers_) n += l->NumParams();
  return n;
}

int64_t Sequential::ForwardFlops(const Shape& in) const {
  int64_t flops = 0;
  Shape s = in;
  for (const auto& l : layers_) {
    flops += l->ForwardFlops(s);
    auto next = l->OutputShape(s);
    if (!next.ok()) return -1;
    s = *next;
  }
  return flops;
}

int64_t Sequential::BackwardFlops(const Shape& in, bool need_dx) const {
  int64_t flops = 0;
  Shape s = in;
  for (size_t i = 0; i < layers_.size(); ++i) {
    flops += layers_[i]->BackwardFlops(s, need_dx || i > 0);
    auto next = layers_[i]->OutputShape(s);
    if (!next.ok()) return -1;
    s = *next;
  }
  return flops;
}

}  // namespace nn
}  // namespace strata
