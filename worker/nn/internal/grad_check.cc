#include "worker/nn/internal/grad_check.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "proto/base/status_macros.h"

namespace strata {
namespace nn {
namespace internal {
namespace {

std::vector<int64_t> PickEntries(int64_t n, int max_entries, uint64_t seed) {
  std::vector<int64_t> idx(n);
  for (int64_t i = 0; i < n; ++i) idx[i] = i;
  if (n <= max_entries) return idx;
  std::mt19937_64 rng(seed);
  for (int i = 0; i < max_entries; ++i) {
    std::swap(idx[i], idx[i + rng() % (n - i)]);
  }
  idx.resize(max_entries);
  return idx;
}

double RelError(const std::vector<double>& a, const std::vector<double>& b) {
  double diff = 0, na = 0, nb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff += (a[i] - b[i]) * (a[i] - b[i]);
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return std::sqrt(diff) / std::max({std::sqrt(na), std::sqrt(nb), 1e-12});
}

// Perturbs entries of `t` (whose host copy is `host`) and compares the
// central difference of `loss` with `analytic`.
absl::StatusOr<double> CheckTensor(
    Tensor* t, std::vector<float> host, const std::vector<float>& analytic,
    const std::function<absl::StatusOr<double>()>& loss,
    const GradCheckOptions& o) {
  std::vector<double> num, ana;
  for (int64_t i : PickEntries(t->size(), o.max_entries, o.seed)) {
    const float orig = host[i];
    host[i] = static_cast<float>(orig + o.eps);
    STRATA_RETURN_IF_ERROR(t->CopyFromHost(host));
    STRATA_ASSIGN_OR_RETURN(double plus, loss());
    host[i] = static_cast<float>(orig - o.eps);
    STRATA_RETURN_IF_ERROR(t->CopyFromHost(host));
    STRATA_ASSIGN_OR_RETURN(double minus, loss());
    host[i] = orig;
    num.push_back((plus - minus) / (2 * o.eps));
    ana.push_back(analytic[i]);
  }
  STRATA_RETURN_IF_ERROR(t->CopyFromHost(host));
  return RelError(ana, num);
}

}  // namespace

double GradCheckReport::Max() const {
  double m = 0;
  for (const auto& e : errors) m = std::max(m, e.second);
  return m;
}

std::string GradCheckReport::ToString() const {
  return absl::StrJoin(errors, ", ", [](std::string* out, const auto& e) {
    absl::StrAppend(out, e.first, "=", e.second);
  });
}

absl::StatusOr<GradCheckReport> CheckGradients(
    Backend* backend, const Shape& x_shape, const std::vector<float>& x_host,
    const ForwardFn& forward, const BackwardFn& backward,
    const std::vector<Parameter*>& params, const GradCheckOptions& o) {
  STRATA_ASSIGN_OR_RETURN(Tensor x, Tensor::FromHost(backend, x_shape, x_host));
  STRATA_ASSIGN_OR_RETURN(const Tensor* y, forward(x));
  std::mt19937_64 rng(o.seed + 1);
  std::vector<float> r(y->size());
  for (float& v : r) v = static_cast<float>((rng() >> 40) / 16777216.0 * 2 - 1);
  STRATA_ASSIGN_OR_RETURN(Tensor dy, Tensor::FromHost(backend, y->shape(), r));
  Tensor dx;
  STRATA_RETURN_IF_ERROR(backward(dy, &dx));
  STRATA_ASSIGN_OR_RETURN(std::vector<float> dx_host, dx.ToHost());
  std::vector<std::vector<float>> dparams;
  for (Parameter* p : params) {
    STRATA_ASSIGN_OR_RETURN(std::vector<float> g, p->grad.ToHost());
    dparams.push_back(std::move(g));
  }
  auto loss = [&]() -> absl::StatusOr<double> {
    STRATA_ASSIGN_OR_RETURN(const Tensor* out, forward(x));
    STRATA_ASSIGN_OR_RETURN(std::vector<float> h, out->ToHost());
    double l = 0;
    for (size_t i = 0; i < h.size(); ++i) l += double{h[i]} * r[i];
    return l;
  };
  GradCheckReport report;
  STRATA_ASSIGN_OR_RETURN(double e, CheckTensor(&x, x_host, dx_host, loss, o));
  report.errors.emplace_back("input", e);
  for (size_t k = 0; k < params.size(); ++k) {
    STRATA_ASSIGN_OR_RETURN(std::vector<float> w, params[k]->value.ToHost());
    STRATA_ASSIGN_OR_RETURN(
        e, CheckTensor(&params[k]->value, w, dparams[k], loss, o));
    report.errors.emplace_back(params[k]->name, e);
  }
  return report;
}

absl::StatusOr<GradCheckReport> CheckLayerGradients(
    Backend* backend, Layer* layer, const Shape& x_shape, const std::vector<float>& x_host,
    const GradCheckOptions& options, std::function<void()> before_forward) {
  Tensor y;
  const Tensor* last_x = nullptr;
  auto forward = [&](const Tensor& x) -> absl::StatusOr<const Tensor*> {
    if (before_forward) before_forward();
    STRATA_RETURN_IF_ERROR(layer->Forward(x, &y, /*training=*/true));
    last_x = &x;
    return &y;
  };
  auto backward = [&](const Tensor& dy, Tensor* dx) {
    return layer->Backward(*last_x, y, dy, dx);
  };
  return CheckGradients(backend, x_shape, x_host, forward, backward,
                        layer->Params(), options);
}

}  // namespace internal
}  // namespace nn
}  // namespace strata
