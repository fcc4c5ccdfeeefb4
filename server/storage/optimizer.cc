#include "server/storage/optimizer.h"

#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "proto/base/cpu_dispatch.h"
#include "proto/base/status_macros.h"

namespace strata {
namespace {

constexpr float kMaxFloat = std::numeric_limits<float>::max();

// x clamped to [-FLT_MAX, FLT_MAX]; NaN becomes -FLT_MAX. Written as two
// selects rather than std::fmin/fmax: at -O2 those are libm calls, while
// these compile to maxss/minss (maxps/minps when a loop is vectorized).
inline float Saturate(float x) {
  x = x > -kMaxFloat ? x : -kMaxFloat;
  return x < kMaxFloat ? x : kMaxFloat;
}

// w[i] = f(w[i], g[i]) for i in [0, n): in blocks of 8 (a loop of fixed
// length, which GCC vectorizes at -O2, where it leaves a loop of unknown
// length scalar; __restrict: a row and its gradient never overlap), then
// the rest one by one.
template <typename F>
inline void ApplyBlocked(float* __restrict w, const float* __restrict g,
                         size_t n, F f) {
  constexpr size_t kBlock = 8;
  size_t i = 0;
  for (; i + kBlock <= n; i += kBlock) {
    for (size_t k = 0; k < kBlock; ++k) w[i + k] = f(w[i + k], g[i + k]);
  }
  for (; i < n; ++i) w[i] = f(w[i], g[i]);
}

// w = Saturate(w - lr * (g + wd * w)) over one row (no decay term when wd
// is 0): inlined into both Sgd::Apply versions below.
inline void SgdRow(float* __restrict w, const float* __restrict g, size_t n,
                   float lr, float wd) {
  if (wd == 0.0f) {
    ApplyBlocked(w, g, n,
                 [lr](float wi, float gi) { return Saturate(wi - lr * gi); });
  } else {
    ApplyBlocked(w, g, n, [lr, wd](float wi, float gi) {
      return Saturate(wi - lr * Saturate(gi + wd * wi));
    });
  }
}

class Sgd : public Optimizer {
 public:
  explicit Sgd(const OptimizerConfig& config)
      : Optimizer(config),
        lr_(config.learning_rate()),
        wd_(config.weight_decay()) {}
  int state_per_element() const override { return 0; }
  void InitState(float* state, size_t n) const override {}
  void Apply(float* w, const float* g, float* state, int64_t* step,
             size_t n) const override {
    ++*step;
    SgdRow(w, g, n, lr_, wd_);
  }

 protected:
  const float lr_;
  const float wd_;
};

// Sgd with Apply built for AVX2 (proto/base/cpu_dispatch.h), chosen by
// Create on a CPU that has it: the same floats, 8 at a time instead of 4.
// A virtual function cannot be cloned, and a call per row through a cloned
// helper cost 2% of a dim-16 push's CPU.
class SgdAvx2 final : public Sgd {
 public:
  using Sgd::Sgd;
  STRATA_TARGET_AVX2 void Apply(float* w, const float* g, float* state,
                                int64_t* step, size_t n) const override {
    ++*step;
    SgdRow(w, g, n, lr_, wd_);
  }
};

class Adagrad final : public Optimizer {
 public:
  explicit Adagrad(const OptimizerConfig& config)
      : Optimizer(config),
        lr_(config.learning_rate()),
        wd_(config.weight_decay()),
        eps_(config.epsilon() == 0.0f ? 1e-10f : config.epsilon()),
        initial_(config.initial_accumulator()) {}
  int state_per_element() const override { return 1; }
  void InitState(float* state, size_t n) const override {
    for (size_t i = 0; i < n; ++i) state[i] = initial_;
  }
  void Apply(float* w, const float* g, float* acc, int64_t* step,
             size_t n) const override {
    ++*step;
    for (size_t i = 0; i < n; ++i) {
      const float grad = Saturate(g[i] + wd_ * w[i]);
      acc[i] = Saturate(acc[i] + grad * grad);
      w[i] = Saturate(w[i] - lr_ * grad / (std::sqrt(acc[i]) + eps_));
    }
  }

 private:
  const float lr_;
  const float wd_;
  const float eps_;
  const float initial_;
};

class Adam final : public Optimizer {
 public:
  explicit Adam(const OptimizerConfig& config)
      : Optimizer(config),
        lr_(config.learning_rate()),
        wd_(config.weight_decay()),
        beta1_(config.beta1() == 0.0f ? 0.9f : config.beta1()),
        beta2_(config.beta2() == 0.0f ? 0.999f : config.beta2()),
        eps_(config.epsilon() == 0.0f ? 1e-8f : config.epsilon()) {}
  int state_per_element() const override { return 2; }
  void InitState(float* state, size_t n) const override {
    for (size_t i = 0; i < 2 * n; ++i) state[i] = 0.0f;
  }
  void Apply(float* w, const float* g, float* state, int64_t* step,
             size_t n) const override {
    const int64_t t = ++*step;
    // Bias corrections in double: beta^t underflows gracefully for large t.
    const double c1 = 1.0 - std::pow(static_cast<double>(beta1_), t);
    const double c2 = 1.0 - std::pow(static_cast<double>(beta2_), t);
    const float inv_c1 = static_cast<float>(1.0 / c1);
    const float inv_c2 = static_cast<float>(1.0 / c2);
    float* m = state;
    float* v = state + n;
    for (size_t i = 0; i < n; ++i) {
      const float grad = Saturate(g[i] + wd_ * w[i]);
      m[i] = Saturate(beta1_ * m[i] + (1.0f - beta1_) * grad);
      v[i] = Saturate(beta2_ * v[i] + (1.0f - beta2_) * grad * grad);
      // Clamped so the ratio is never inf / inf.
      const float m_hat = Saturate(m[i] * inv_c1);
      const float v_hat = Saturate(v[i] * inv_c2);
      w[i] = Saturate(w[i] - lr_ * m_hat / (std::sqrt(v_hat) + eps_));
    }
  }

 private:
  const float lr_;
  const float wd_;
  const float beta1_;
  const float beta2_;
  const float eps_;
};

absl::Status ValidateOptimizer(const OptimizerConfig& c) {
  const std::string what = c.ShortDebugString();
  if (!std::isfinite(c.learning_rate()) || !(c.learning_rate() > 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("learning_rate must be a positive finite number, got ",
                     c.learning_rate(), " in {", what, "}"));
  }
  for (float beta : {c.beta1(), c.beta2()}) {
    if (!(beta >= 0.0f && beta < 1.0f)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "Adam betas must be in [0, 1), got ", beta, " in {", what, "}"));
    }
  }
  const struct {
    const char* name;
    float value;
  } non_negative[] = {{"epsilon", c.epsilon()},
                      {"weight_decay", c.weight_decay()},
                      {"initial_accumulator", c.initial_accumulator()}};
  for (const auto& f : non_negative) {
    if (!std::isfinite(f.value) || f.value < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(f.name, " must be finite and >= 0, got ", f.value,
                       " in {", what, "}"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateMaxAbsGradient(float bound) {
  if (!(bound > 0.0f) || !std::isfinite(bound)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--max_abs_gradient must be a positive finite float, got ", bound));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Optimizer>> Optimizer::Create(
    const OptimizerConfig& config) {
  STRATA_RETURN_IF_ERROR(ValidateOptimizer(config));
  switch (config.type()) {
    case OptimizerConfig::SGD:
      return CpuHasAvx2() ? std::unique_ptr<Optimizer>(new SgdAvx2(config))
                          : std::unique_ptr<Optimizer>(new Sgd(config));
    case OptimizerConfig::ADAGRAD:
      return std::unique_ptr<Optimizer>(new Adagrad(config));
    case OptimizerConfig::ADAM:
      return std::unique_ptr<Optimizer>(new Adam(config));
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("unknown optimizer type ", config.type()));
  }
}

}  // namespace strata
