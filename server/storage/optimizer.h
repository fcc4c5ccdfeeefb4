// Per-row optimizers applied by the parameter server.
#ifndef STRATA_SERVER_STORAGE_OPTIMIZER_H_
#define STRATA_SERVER_STORAGE_OPTIMIZER_H_

#include <cstddef>
#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "proto/ps.pb.h"

namespace strata {

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
