#include "worker/nn/layers.h"

#include <random>

#include "absl/strings/str_cat.h"
#include "proto/base/hash.h"
#include "proto/base/status_macros.h"
#include "worker/nn/internal/init.h"

namespace strata {
namespace nn {
namespace {

absl::Status ShapeError(const Layer& l, const Shape& in, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(
      l.Kind(), " \"", l.name(), "\": input ", ShapeToString(in), " ", why));
}

absl::Status NeedSameBackend(const Layer& l, Backend* b, const Tensor& t) {
  if (t.backend() != b) {
    return absl::InvalidArgumentError(absl::StrCat(
        l.Kind(), " \"", l.name(), "\": tensor is not on the layer's backend"));
  }
  return absl::OkStatus();
}

}  // namespace

// ---------------------------------------------------------------- Layer

Parameter* Layer::AddParam(const std::string& suffix, Shape shape,
                           InitKind init, int64_t fan_in, int64_t fan_out) {
  auto p = std::make_unique<Parameter>();
  p->name = absl::StrCat(name_, "/", suffix);
  p->shape = std::move(shape);
  p->init = init;
  p->fan_in = fan_in;
  p->fan_out = fan_out;
  params_.push_back(std::move(p));
  return params_.back().get();
}

absl::Status Layer::Init(Backend* backend, uint64_t seed) {
  if (backend_ != nullptr && backend_ != backend) {
    return absl::FailedPreconditionError(
        absl::StrCat("layer \"", name_, "\" is already bound to backend ",
                     backend_->Name()));
  }
  if (backend_ == backend) return absl::OkStatus();
  for (auto& p : params_) {
    const int64_t n = NumElements(p->shape);
    std::vector<float> host(n, 0.0f);
    const uint64_t s = internal::MixSeed(seed, p->name);
    if (p->init == InitKind::kHe) {
      host = internal::HeNormal(n, p->fan_in, s);
    } else if (p->init == InitKind::kXavier) {
      host = internal::XavierUniform(n, p->fan_in, p->fan_out, s);
    }
    STRATA_ASSIGN_OR_RETURN(p->value,
                            Tensor::FromHost(backend, p->shape, host));
    STRATA_ASSIGN_OR_RETURN(p->grad, Tensor::Zeros(backend, p->shape));
  }
  backend_ = backend;
  return OnInit(internal::MixSeed(seed, name_));
}

absl::Status Layer::CheckInit() const {
  if (backend_ == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("layer \"", name_, "\" used before Init()"));
  }
  return absl::OkStatus();
}

std::vector<Parameter*> Layer::Params() {
  std::vector<Parameter*> out;
  for (auto& p : params_) out.push_back(p.get());
  return out;
}

int64_t Layer::NumParams() const {
  int64_t n = 0;
  for (const auto& p : params_) n += NumElements(p->shape);
  return n;
}

// ---------------------------------------------------------------- Conv2d

Conv2d::Conv2d(std::string name, const Options& options)
    : Layer(std::move(name)), options_(options) {
  const int64_t k = options.in_channels * options.kernel * options.kernel;
  weight_ = AddParam("weight", {options.out_channels, k}, options.init, k,
                     options.out_channels * options.kernel * options.kernel);
  bias_ = AddParam("bias", {options.out_channels}, InitKind::kZero, k, 0);
}

ConvGeometry Conv2d::Geometry(const Shape& in) const {
  ConvGeometry g;
  g.n = in[0];
  g.c = in[1];
  g.h = in[2];
  g.w = in[3];
  g.kh = g.kw = options_.kernel;
  g.stride = options_.stride;
  g.pad = options_.pad;
  return g;
}

absl::StatusOr<Shape> Conv2d::OutputShape(const Shape& in) const {
  if (in.size() != 4) return ShapeError(*this, in, "is not NCHW");
  if (in[1] != options_.in_channels) {
    return ShapeError(*this, in,
                      absl::StrCat("has ", in[1], " channels, expected ",
                                   options_.in_channels));
  }
  const ConvGeometry g = Geometry(in);
  if (g.h + 2 * g.pad < g.kh || g.w + 2 * g.pad < g.kw || g.stride < 1) {
    return ShapeError(*this, in, "is smaller than the kernel");
  }
  return Shape{in[0], options_.out_channels, g.OutH(), g.OutW()};
}

absl::Status Conv2d::Forward(const Tensor& x, Tensor* y, bool training) {
  STRATA_RETURN_IF_ERROR(CheckInit());
  STRATA_RETURN_IF_ERROR(NeedSameBackend(*this, backend_, x));
  STRATA_ASSIGN_OR_RETURN(Shape out, OutputShape(x.shape()));
  const ConvGeometry g = Geometry(x.shape());
  const int64_t k = g.c * g.kh * g.kw, cols = g.n * g.OutH() * g.OutW();
  STRATA_RETURN_IF_ERROR(col_.EnsureShape(backend_, {k, cols}));
  STRATA_RETURN_IF_ERROR(
      tmp_.EnsureShape(backend_, {options_.out_channels, cols}));
  STRATA_RETURN_IF_ERROR(y->EnsureShape(backend_, out));
  STRATA_RETURN_IF_ERROR(backend_->Im2Col(g, x.data(), col_.data()));
  STRATA_RETURN_IF_ERROR(backend_->Gemm(
      false, false, options_.out_channels, cols, k, 1.0f, weight_->value.data(),
      k, col_.data(), cols, 0.0f, tmp_.data(), cols));
  return backend_->CnhwToNchw(tmp_.data(), bias_->value.data(), g.n,
                              options_.out_channels, g.OutH() * g.OutW(),
                              y->data());
}

absl::Status Conv2d::Backward(const Tensor& x, const Tensor& y,
                              const Tensor& dy, Tensor* dx) {
  STRATA_RETURN_IF_ERROR(CheckInit());
  const ConvGeometry g = Geometry(x.shape());
  const int64_t hw = g.OutH() * g.OutW();
  const int64_t k = g.c * g.kh * g.kw, cols = g.n * hw;
  const int64_t oc = options_.out_channels;
  if (dy.shape() != y.shape() || col_.size() != k * cols) {
    return absl::FailedPreconditionError(absl::StrCat(
        "Conv2d \"", name(), "\": Backward without a matching Forward"));
  }
  STRATA_RETURN_IF_ERROR(
      backend_->NchwToCnhw(dy.data(), g.n, oc, hw, tmp_.data()));
  STRATA_RETURN_IF_ERROR(backend_->Gemm(false, true, oc, k, cols, 1.0f,
                                        tmp_.data(), cols, col_.data(), cols,
                                        0.0f, weight_->grad.data(), k));
  STRATA_RETURN_IF_ERROR(
      backend_->ChannelBiasGrad(dy.data(), g.n, oc, hw, bias_->grad.data()));
  if (dx == nullptr) return absl::OkStatus();
  // The columns are no longer needed: reuse them for dL/dcol.
  STRATA_RETURN_IF_ERROR(backend_->Gemm(true, false, k, cols, oc, 1.0f,
                                        weight_->value.data(), k, tmp_.data(),
                                        cols, 0.0f, col_.data(), cols));
  STRATA_RETURN_IF_ERROR(dx->EnsureShape(backend_, x.shape()));
  return backend_->Col2Im(g, col_.data(), dx->data());
}

int64_t Conv2d::ForwardFlops(const Shape& in) const {
  const ConvGeometry g = Geometry(in);
  return 2 * g.n * g.OutH() * g.OutW() * options_.out_channels * g.c * g.kh *
         g.kw;
}

int64_t Conv2d::BackwardFlops(const Shape& in, bool need_dx) const {
  return (need_dx ? 2 : 1) * ForwardFlops(in);
}

// ---------------------------------------------------------------- MaxPool2d

MaxPool2d::MaxPool2d(std::string name, int64_t kernel, int64_t stride)
    : Layer(std::move(name)), kernel_(kernel), stride_(stride) {}

ConvGeometry MaxPool2d::Geometry(const Shape& in) const {
  ConvGeometry g;
  g.n = in[0];
  g.c = in[1];
  g.h = in[2];
  g.w = in[3];
  g.kh = g.kw = kernel_;
  g.stride = stride_;
  return g;
}

absl::StatusOr<Shape> MaxPool2d::OutputShape(const Shape& in) const {
  if (in.size() != 4) return ShapeError(*this, in, "is not NCHW");
  if (in[2] < kernel_ || in[3] < kernel_ || stride_ < 1) {
    return ShapeError(*this, in, "is smaller than the window");
  }
  const ConvGeometry g = Geometry(in);
  return Shape{in[0], in[1], g.OutH(), g.OutW()};
}

absl::Status MaxPool2d::Forward(const Tensor& x, Tensor* y, bool training) {
  STRATA_RETURN_IF_ERROR(CheckInit());
  STRATA_RETURN_IF_ERROR(NeedSameBackend(*this, backend_, x));
  STRATA_ASSIGN_OR_RETURN(Shape out, OutputShape(x.shape()));
  STRATA_RETURN_IF_ERROR(y->EnsureShape(backend_, out));
  return backend_->MaxPoolForward(Geometry(x.shape()), x.data(), y->data());
}

absl::Status MaxPool2d::Backward(const Tensor& x, const Tensor& y,
                                 const Tensor& dy, Tensor* dx) {
  STRATA_RETURN_IF_ERROR(CheckInit());
  if (dx == nullptr) return absl::OkStatus();
  STRATA_RETURN_IF_ERROR(dx->EnsureShape(backend_, x.shape()));
  return backend_->MaxPoolBackward(Geometry(x.shape()), x.data(), y.data(),
                                   dy.data(), dx->data());
}

// ---------------------------------------------------------------- Relu

absl::Status Relu::Forward(const Tensor& x, Tensor* y, bool training) {
  STRATA_RETURN_IF_ERROR(CheckInit());
  STRATA_RETURN_IF_ERROR(NeedSameBackend(*this, backend_, x));
  STRATA_RETURN_IF_ERROR(y->EnsureShape(backend_, x.shape()));
  return backend_->ReluForward(x.data(), x.size(), y->data());
}

absl::Status Relu::Backward(const Tensor& x, const Tensor& y,
                            const Tensor& dy, Tensor* dx) {
  STRATA_RETURN_IF_ERROR(CheckInit());
  if (dx == nullptr) return absl::OkStatus();
  STRATA_RETURN_IF_ERROR(dx->EnsureShape(backend_, x.shape()));
  return backend_->ReluBackward(y.data(), dy.data(), y.size(), dx->data());
}

// ---------------------------------------------------------------- Flatten

absl::StatusOr<Shape> Flatten::OutputShape(const Shape& in) const {
  if (in.empty()) return ShapeError(*this, in, "has no batch dimension");
  return Shape{in[0], in[0] == 0 ? 0 : NumElements(in) / in[0]};
}

absl::Status Flatten::Forward(const Tensor& x, Tensor* y, bool training) {
  STRATA_RETURN_IF_ERROR(CheckInit());
  STRATA_RETURN_IF_ERROR(NeedSameBackend(*this, backend_, x));
  STRATA_ASSIGN_OR_RETURN(Shape out, OutputShape(x.shape()));
  STRATA_RETURN_IF_ERROR(y->EnsureShape(backend_, out));
  return backend_->Copy(x.data(), x.size(), y->data());
}

absl::Status Flatten::Backward(const Tensor& x, const Tensor& y,
                               const Tensor& dy, Tensor* dx) {
  STRATA_RETURN_IF_ERROR(CheckInit());
  if (dx == nullptr) return absl::OkStatus();
  STRATA_RETURN_IF_ERROR(dx->EnsureShape(backend_, x.shape()));
  return backend_->Copy(dy.data(), dy.size(), dx->data());
}

// ---------------------------------------------------------------- Linear

Linear::Linear(std::string name, const Options& options)
    : Layer(std::move(name)), options_(options) {
  weight_ = AddParam("weight", {options.out_features, options.in_features},
                     options.init, options.in_features, options.out_features);
  bias_ = AddParam("bias", {options.out_features}, InitKind::kZero,
                   options.in_features, 0);
}

absl::StatusOr<Shape> Linear::OutputShape(const Shape& in) const {
  if (in.size() != 2 || in[1] != options_.in_features) {
    return ShapeError(*this, in,
                      absl::StrCat("is not [N, ", options_.in_features, "]"));
  }
  return Shape{in[0], options_.out_features};
}

absl::Status Linear::Forward(const Tensor& x, Tensor* y, bool training) {
  STRATA_RETURN_IF_ERROR(CheckInit());
  STRATA_RETURN_IF_ERROR(NeedSameBackend(*this, backend_, x));
  STRATA_ASSIGN_OR_RETURN(Shape out, OutputShape(x.shape()));
  STRATA_RETURN_IF_ERROR(y->EnsureShape(backend_, out));
  const int64_t n = x.dim(0), in = options_.in_features,
                o = options_.out_features;
  STRATA_RETURN_IF_ERROR(backend_->Gemm(false, true, n, o, in, 1.0f, x.data(),
                                        in, weight_->value.data(), in, 0.0f,
                                        y->data(), o));
  return backend_->AddChannelBias(y->data(), bias_->value.data(), n, o, 1);
}

absl::Status Linear::Backward(const Tensor& x, const Tensor& y,
                              const Tensor& dy, Tensor* dx) {
  STRATA_RETURN_IF_ERROR(CheckInit());
  const int64_t n = x.dim(0), in = options_.in_features,
                o = options_.out_features;
  STRATA_RETURN_IF_ERROR(backend_->Gemm(true, false, o, in, n, 1.0f, dy.data(),
                                        o, x.data(), in, 0.0f,
                                        weight_->grad.data(), in));
  STRATA_RETURN_IF_ERROR(
      backend_->ChannelBiasGrad(dy.data(), n, o, 1, bias_->grad.data()));
  if (dx == nullptr) return absl::OkStatus();
  STRATA_RETURN_IF_ERROR(dx->EnsureShape(backend_, x.shape()));
  return backend_->Gemm(false, false, n, in, o, 1.0f, dy.data(), o,
                        weight_->value.data(), in, 0.0f, dx->data(), in);
}

int64_t Linear::ForwardFlops(const Shape& in) const {
  return 2 * in[0] * options_.in_features * options_.out_features;
}

int64_t Linear::BackwardFlops(const Shape& in, bool need_dx) const {
  return (need_dx ? 2 : 1) * ForwardFlops(in);
}

// ---------------------------------------------------------------- Dropout

Dropout::Dropout(std::string name, float p) : Layer(std::move(name)), p_(p) {}

absl::Status Dropout::OnInit(uint64_t seed) {
  if (!(p_ >= 0.0f && p_ < 1.0f)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Dropout \"", name(), "\": p = ", p_, " is not in [0, 1)"));
  }
  seed_ = seed;
  return absl::OkStatus();
}

absl::Status Dropout::Forward(const Tensor& x, Tensor* y, bool training) {
  STRATA_RETURN_IF_ERROR(CheckInit());
  STRATA_RETURN_IF_ERROR(NeedSameBackend(*this, backend_, x));
  STRATA_RETURN_IF_ERROR(y->EnsureShape(backend_, x.shape()));
  last_training_ = training && p_ > 0.0f;
  if (!last_training_) return backend_->Copy(x.data(), x.size(), y->data());
  std::mt19937_64 rng(seed_ ^ (kGoldenGamma * (counter_++ + 1)));
  const float scale = 1.0f / (1.0f - p_);
  const uint64_t threshold = static_cast<uint64_t>(p_ * 16777216.0);
  host_mask_.resize(x.size());
  for (float& m : host_mask_) m = (rng() >> 40) < threshold ? 0.0f : scale;
  STRATA_RETURN_IF_ERROR(mask_.EnsureShape(backend_, x.shape()));
  STRATA_RETURN_IF_ERROR(mask_.CopyFromHost(host_mask_));
  return backend_->Multiply(x.data(), mask_.data(), x.size(), y->data());
}

absl::Status Dropout::Backward(const Tensor& x, const Tensor& y,
                               const Tensor& dy, Tensor* dx) {
  STRATA_RETURN_IF_ERROR(CheckInit());
  if (dx == nullptr) return absl::OkStatus();
  STRATA_RETURN_IF_ERROR(dx->EnsureShape(backend_, x.shape()));
  if (!last_training_) return backend_->Copy(dy.data(), dy.size(), dx->data());
  return backend_->Multiply(dy.data(), mask_.data(), dy.size(), dx->data());
}

}  // namespace nn
}  // namespace strata
