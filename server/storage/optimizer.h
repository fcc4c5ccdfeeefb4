// Per-row optimizers applied by the parameter server.
#ifndef STRATA_SERVER_STORAGE_OPTIMIZER_H_
#define STRATA_SERVER_STORAGE_OPTIMIZER_H_

#include <cstddef>
#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "proto/ps.pb.h"

namespace strata {

// The default bound on |gradient| a push may carry (ps_server
// --max_abs_gradient; TableStore::Options::max_abs_gradient). Pushes with a
// larger (or non-finite) element are rejected whole with INVALID_ARGUMENT
// before anything changes (internal/validation.h). Real gradients are many
// orders of magnitude smaller; the bound keeps one gradient's square (1e30)
// and sums of a batch's gradients far below FLT_MAX, so a garbage push gets
// a clear error instead of slamming rows to the saturation limit.
inline constexpr float kDefaultMaxAbsGradient = 1e15f;

// INVALID_ARGUMENT naming --max_abs_gradient unless `bound` is a positive
// finite float.
absl::Status ValidateMaxAbsGradient(float bound);

// Applies gradient updates to one row (or one dense tensor) at a time.
//
// Each row carries `state_per_element() * n` floats of optimizer state and an
// int64 update count `step`, owned by the caller (the table). State layout
// for a row of n elements:
//   SGD:     none (state_per_element 0)
//   ADAGRAD: acc[0, n)                       (state_per_element 1)
//   ADAM:    m[0, n) then v[n, 2n)           (state_per_element 2)
//
// Update rules, with g' = g + weight_decay * w (L2 weight decay), and t the
// row's step after incrementing it (Apply increments *step for every type):
//   SGD:     w -= lr * g'
//   ADAGRAD: acc += g'^2;  w -= lr * g' / (sqrt(acc) + eps)
//   ADAM:    m = b1 m + (1-b1) g';  v = b2 v + (1-b2) g'^2;
//            w -= lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)
// Zero-valued config fields take defaults: Adam beta1 0.9, beta2 0.999,
// eps 1e-8; Adagrad eps 1e-10.
//
// Numerics: Apply saturates. The gradient g' (after weight decay), Adam's
// bias-corrected m and v, and every value and state float it stores are
// clamped to [-FLT_MAX, FLT_MAX], so no input, not even a NaN or infinite
// gradient, can make a row hold a non-finite float (NaN, which validated
// pushes never carry, saturates to -FLT_MAX). Any config Create accepts
// keeps rows finite, so learning_rate and weight_decay need no upper bound.
// Pushes are bounded before they get here (kDefaultMaxAbsGradient), so
// saturation is a last line of defence, not a training mode.
//
// Immutable after creation and thread-safe; Apply is re-entrant (callers
// serialise updates of the same row).
class Optimizer {
 public:
  // INVALID_ARGUMENT for an unknown type, a learning rate that is not a
  // positive finite number, betas outside [0, 1), a negative or non-finite
  // epsilon, weight decay or initial accumulator.
  static absl::StatusOr<std::unique_ptr<Optimizer>> Create(
      const OptimizerConfig& config);

  virtual ~Optimizer() = default;

  // Floats of state per parameter element (0, 1 or 2).
  virtual int state_per_element() const = 0;

  // Writes the initial state of a row of n elements to
  // state[0, state_per_element() * n).
  virtual void InitState(float* state, size_t n) const = 0;

  // Updates w[0, n) with gradient g[0, n), the row's `state` and `step`.
  virtual void Apply(float* w, const float* g, float* state, int64_t* step,
                     size_t n) const = 0;

  // The config as given (zeros not replaced by defaults).
  const OptimizerConfig& config() const { return config_; }

 protected:
  explicit Optimizer(const OptimizerConfig& config) : config_(config) {}

 private:
  const OptimizerConfig config_;
};

}  // namespace strata

#endif  // STRATA_SERVER_STORAGE_OPTIMIZER_H_
