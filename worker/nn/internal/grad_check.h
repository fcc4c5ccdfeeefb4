// Numerical gradient checking (tests only). The scalar under test is
// L = sum_i y_i * r_i for a fixed random r, accumulated in float64; the
// numerical derivative is the float64 central difference
// (L(x + eps) - L(x - eps)) / (2 eps) and is compared with the analytic
// gradient from backward(dy = r).
#ifndef STRATA_WORKER_NN_INTERNAL_GRAD_CHECK_H_
#define STRATA_WORKER_NN_INTERNAL_GRAD_CHECK_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/nn/layers.h"
#include "worker/nn/tensor.h"

namespace strata {
namespace nn {
namespace internal {

struct GradCheckOptions {
  double eps = 1e-2;
  // At most this many entries of each tensor are perturbed (chosen with a
  // fixed seed); all when the tensor is smaller.
  int max_entries = 120;
  uint64_t seed = 7;
};

// Relative error per checked tensor: ||analytic - numeric||_2 /
// max(||analytic||_2, ||numeric||_2, 1e-12), keyed "input" or the
// parameter name.
struct GradCheckReport {
  std::vector<std::pair<std::string, double>> errors;
  double Max() const;
  std::string ToString() const;
};

using ForwardFn = std::function<absl::StatusOr<const Tensor*>(const Tensor&)>;
using BackwardFn = std::function<absl::Status(const Tensor& dy, Tensor* dx)>;

absl::StatusOr<GradCheckReport> CheckGradients(
    Backend* backend, const Shape& x_shape, const std::vector<float>& x_host,
    const ForwardFn& forward, const BackwardFn& backward,
    const std::vector<Parameter*>& params, const GradCheckOptions& options);

// CheckGradients for one layer (already Init'ed on `backend`). `before_forward` runs
// before every forward (e.g. to repeat a dropout mask).
absl::StatusOr<GradCheckReport> CheckLayerGradients(
    Backend* backend, Layer* layer, const Shape& x_shape, const std::vector<float>& x_host,
    const GradCheckOptions& options,
    std::function<void()> before_forward = nullptr);

}  // namespace internal
}  // namespace nn
}  // namespace strata

#endif  // STRATA_WORKER_NN_INTERNAL_GRAD_CHECK_H_
