#include "server/storage/dense_table.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>

#include "absl/base/config.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "proto/base/status_macros.h"
#include "server/storage/initializer.h"
#include "server/storage/internal/validation.h"

#ifdef ABSL_IS_BIG_ENDIAN
#error "Strata payloads are little-endian; big-endian hosts are not supported"
#endif

namespace strata {
namespace {

absl::Status ValidateShape(const DenseConfig& config) {
  if (config.shape_size() == 0) return absl::OkStatus();
  uint64_t product = 1;
  for (int64_t d : config.shape()) {
    if (d < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "dense tensor ", config.name(), ": negative dimension in shape"));
    }
    // Saturate instead of overflowing; anything above the limit mismatches.
    product = product > kMaxDenseSize ? product : product * uint64_t(d);
  }
  if (product != config.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("dense tensor ", config.name(), ": shape [",
                     absl::StrJoin(config.shape(), ","), "] has ",
                     product > kMaxDenseSize ? std::string("too many")
                                             : absl::StrCat(product),
                     " elements but size is ", config.size()));
  }
  return absl::OkStatus();
}

absl::Status ValidateDense(const DenseConfig& config) {
  if (config.name().empty()) {
    return absl::InvalidArgumentError("dense tensor name must not be empty");
  }
  if (config.size() == 0 || config.size() > kMaxDenseSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("dense tensor ", config.name(), ": size must be in [1, ",
                     kMaxDenseSize, "], got ", config.size()));
  }
  STRATA_RETURN_IF_ERROR(ValidateShape(config));
  if (config.sync() != ASYNC && config.sync() != BSP) {
    return absl::InvalidArgumentError(absl::StrCat(
        "dense tensor ", config.name(), ": unknown sync mode ", config.sync()));
  }
  if (config.sync() == BSP && config.num_workers() == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "dense tensor ", config.name(), ": BSP needs num_workers > 0"));
  }
  if (absl::Status s = ValidateInitializer(config.initializer()); !s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("dense tensor ", config.name(), ": ", s.message()));
  }
  return absl::OkStatus();
}

// DenseTable::BudgetBytes() of a tensor of `config`. size <= 2^30 and at
// most 2 state floats per element: no overflow.
uint64_t BudgetBytesOf(const DenseConfig& config, const Optimizer& optimizer) {
  const uint64_t per_element =
      1 + optimizer.state_per_element() + (config.sync() == BSP ? 1 : 0);
  return config.size() * per_element * sizeof(float);
}

absl::Status CheckFinite(absl::Span<const float> v, absl::string_view name,
                         absl::string_view what) {
  absl::Status s = internal::CheckFinite(v, what);
  if (s.ok()) return s;
  return absl::InvalidArgumentError(
      absl::StrCat("dense tensor ", name, ": ", s.message()));
}

// Gradients held in pieces are read in blocks of this many floats (64 KiB:
// a block that is copied stays in the L2 cache for the pass that reads it).
constexpr size_t kGradientBlock = size_t{1} << 14;

// Calls fn(first, floats, m) for each block [first, first + m) of the `n`
// floats `read` gives, in order, while it returns true; false if one did
// not.
template <typename Fn>
bool ForEachBlock(size_t n, DenseTable::GradientReader read, Fn fn) {
  thread_local std::vector<float> buffer(kGradientBlock);
  for (size_t first = 0; first < n; first += kGradientBlock) {
    const size_t m = std::min(kGradientBlock, n - first);
    if (!fn(first, read(first, m, buffer.data()), m)) return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<std::unique_ptr<DenseTable>> DenseTable::Create(
    const DenseConfig& config, const Options& options) {
  STRATA_RETURN_IF_ERROR(ValidateDense(config));
  absl::StatusOr<std::unique_ptr<Optimizer>> optimizer =
      Optimizer::Create(config.optimizer());
  if (!optimizer.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "dense tensor ", config.name(), ": ", optimizer.status().message()));
  }
  STRATA_ASSIGN_OR_RETURN(
      MemoryReservation reserved,
      MemoryReservation::Make(options.budget,
                              BudgetBytesOf(config, **optimizer),
                              absl::StrCat("dense tensor ", config.name())));
  std::unique_ptr<DenseTable> table(
      new DenseTable(config, options, *std::move(optimizer)));
  reserved.Commit();  // released by the destructor
  return table;
}

DenseTable::DenseTable(const DenseConfig& config, const Options& options,
                       std::unique_ptr<Optimizer> optimizer)
    : config_(config),
      options_(options),
      size_(config.size()),
      optimizer_(std::move(optimizer)),
      state_size_(static_cast<size_t>(optimizer_->state_per_element()) *
                  config.size()),
      budget_bytes_(BudgetBytesOf(config, *optimizer_)),
      budget_(options.budget),
      values_(config.size()),
      state_(state_size_) {
  InitializeDense(config.initializer(), config.name(), size_, values_.data());
  optimizer_->InitState(state_.data(), size_);
}

DenseTable::~DenseTable() {
  if (budget_ != nullptr) budget_->Release(budget_bytes_);
}

absl::StatusOr<DenseRange> DenseTable::Range(uint64_t offset,
                                             uint64_t count) const {
  if (offset >= size_ || count > size_ - offset) {
    return absl::OutOfRangeError(absl::StrCat(
        "dense tensor ", config_.name(), " has ", size_, " elements; offset ",
        offset, ", count ", count, " is outside them"));
  }
  return DenseRange{offset, count == 0 ? size_ - offset : count};
}

absl::StatusOr<int64_t> DenseTable::Pull(uint64_t offset, uint64_t count,
                                         int64_t min_step, absl::Time deadline,
                                         std::string* out_bytes) {
  return PullInto(offset, count, min_step, deadline,
                  [out_bytes](int64_t, size_t bytes) {
                    const size_t old = out_bytes->size();
                    out_bytes->resize(old + bytes);
                    return &(*out_bytes)[old];
                  });
}

absl::StatusOr<int64_t> DenseTable::PullInto(
    uint64_t offset, uint64_t count, int64_t min_step, absl::Time deadline,
    absl::FunctionRef<char*(int64_t step, size_t bytes)> out) {
  STRATA_ASSIGN_OR_RETURN(const DenseRange range, Range(offset, count));
  if (config_.sync() == BSP && resyncing_.load()) {
    ResyncForPull(min_step, deadline);
  }
  absl::ReaderMutexLock lock(&mu_);
  if (config_.sync() == BSP && step_ < min_step) {
    const auto ready = [this, min_step]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
      return step_ >= min_step || cancelled_;
    };
    waiters_.fetch_add(1);
    mu_.AwaitWithDeadline(absl::Condition(&ready), deadline);
    waiters_.fetch_sub(1);
    if (cancelled_) {
      return absl::AbortedError(absl::StrCat("dense tensor ", config_.name(),
                                             " was dropped or replaced"));
    }
    if (step_ < min_step) {
      return absl::DeadlineExceededError(
          absl::StrCat("dense tensor ", config_.name(), " is at step ", step_,
                       ", waited for step ", min_step));
    }
  }
  const size_t bytes = range.count * sizeof(float);
  std::memcpy(out(step_, bytes), values_.data() + range.offset, bytes);
  return step_;
}

absl::StatusOr<int64_t> DenseTable::Push(uint64_t offset, uint64_t count,
                                         absl::Span<const float> grads,
                                         int64_t step, uint32_t worker) {
  STRATA_ASSIGN_OR_RETURN(const DenseRange range, Range(offset, count));
  if (grads.size() != range.count) {
    return absl::InvalidArgumentError(
        range.count == size_
            ? absl::StrCat("dense tensor ", config_.name(), " has ", size_,
                           " elements, got ", grads.size(), " gradient floats")
            : absl::StrCat("dense tensor ", config_.name(), ": elements [",
                           range.offset, ", ", range.offset + range.count,
                           ") need ", range.count, " gradient floats, got ",
                           grads.size()));
  }
  const bool bsp = config_.sync() == BSP;
  if (bsp && worker >= config_.num_workers()) {
    return absl::InvalidArgumentError(
        absl::StrCat("dense tensor ", config_.name(), ": worker ", worker,
                     " is outside [0, ", config_.num_workers(), ")"));
  }
  // A chunk's element indices in errors count from its offset.
  STRATA_RETURN_IF_ERROR(internal::CheckGradientValues(
      grads, options_.max_abs_gradient,
      range.count == size_ ? absl::StrCat("dense tensor ", config_.name())
                           : absl::StrCat("dense tensor ", config_.name(),
                                          ", chunk at offset ", range.offset)));
  absl::MutexLock lock(&mu_);
  if (bsp) {
    return PushBsp(range.offset, grads.size(),
                   [grads](size_t first, size_t, float*) {
                     return grads.data() + first;
                   },
                   step, worker);
  }
  PushAsync(range.offset, grads);
  return step_;
}

absl::StatusOr<int64_t> DenseTable::Push(uint64_t offset, uint64_t count,
                                         size_t num_grads,
                                         GradientReader read, int64_t step,
                                         uint32_t worker) {
  const auto whole = [&]() -> absl::StatusOr<int64_t> {
    std::vector<float> grads(num_grads);
    ForEachBlock(num_grads, read, [&](size_t first, const float* g, size_t m) {
      std::memcpy(grads.data() + first, g, m * sizeof(float));
      return true;
    });
    return Push(offset, count, grads, step, worker);
  };
  const absl::StatusOr<DenseRange> range = Range(offset, count);
  const bool bsp = config_.sync() == BSP;
  if (!range.ok() || num_grads != range->count ||
      (bsp && worker >= config_.num_workers()) ||
      (!bsp && optimizer_->state_per_element() > 1)) {
    return whole();  // the span path's checks, errors and effects
  }
  const bool good =
      ForEachBlock(num_grads, read, [this](size_t, const float* g, size_t m) {
        return internal::CheckGradientValues(absl::MakeConstSpan(g, m),
                                             options_.max_abs_gradient, "")
            .ok();
      });
  if (!good) return whole();  // for the message: the element's index
  absl::MutexLock lock(&mu_);
  if (bsp) return PushBsp(range->offset, num_grads, read, step, worker);
  const size_t planes = optimizer_->state_per_element();  // 0 or 1
  int64_t t = step_;
  ForEachBlock(num_grads, read, [&](size_t first, const float* g, size_t m) {
    const uint64_t at = range->offset + first;
    t = step_;  // Apply increments it: the update count of this push
    optimizer_->Apply(values_.data() + at, g, state_.data() + planes * at, &t,
                      m);
    return true;
  });
  if (range->offset + num_grads == size_) step_ = t;
  return step_;
}

void DenseTable::PushAsync(uint64_t offset, absl::Span<const float> grads) {
  const size_t n = grads.size();
  const size_t planes = optimizer_->state_per_element();
  int64_t t = step_;  // Apply increments it: the update count of this push
  if (planes <= 1 || n == size_) {
    // The whole tensor, or a range whose state is one contiguous slice.
    optimizer_->Apply(values_.data() + offset, grads.data(),
                      state_.data() + planes * offset, &t, n);
  } else {
    // The range's state is one slice per plane (optimizer.h's layout:
    // plane p of element i at p * size + i); the optimizer wants a row's
    // planes adjacent. Gather, apply and scatter back, a block at a time.
    constexpr size_t kBlock = size_t{1} << 14;
    std::vector<float> scratch(planes * std::min(n, kBlock));
    for (size_t b = 0; b < n; b += kBlock) {
      const size_t m = std::min(kBlock, n - b);
      float* const state = state_.data() + offset + b;
      for (size_t p = 0; p < planes; ++p) {
        std::memcpy(&scratch[p * m], state + p * size_, m * sizeof(float));
      }
      t = step_;
      optimizer_->Apply(values_.data() + offset + b, grads.data() + b,
                        scratch.data(), &t, m);
      for (size_t p = 0; p < planes; ++p) {
        std::memcpy(state + p * size_, &scratch[p * m], m * sizeof(float));
      }
    }
  }
  if (offset + n == size_) step_ = t;
}

absl::Status DenseTable::CheckChunkOrder(uint64_t offset, int64_t step,
                                         uint32_t worker) const {
  const uint64_t done = pushed_.empty() ? 0 : pushed_[worker];
  if (done == size_) {
    return absl::AlreadyExistsError(
        absl::StrCat("worker ", worker, " already pushed step ", step,
                     " of dense tensor ", config_.name()));
  }
  if (offset < done) {
    return absl::AlreadyExistsError(
        absl::StrCat("worker ", worker, " already pushed elements [0, ", done,
                     ") of step ", step, " of dense tensor ", config_.name(),
                     "; got a chunk at offset ", offset));
  }
  if (offset > done) {
    return absl::FailedPreconditionError(absl::StrCat(
        "worker ", worker, "'s chunks of step ", step, " of dense tensor ",
        config_.name(), " must arrive in order: expected offset ", done,
        ", got ", offset));
  }
  return absl::OkStatus();
}

bool DenseTable::HasPending() const {
  return std::any_of(pushed_.begin(), pushed_.end(),
                     [](uint64_t n) { return n > 0; });
}

bool DenseTable::ClearPending() {
  const bool had = HasPending();
  if (had) std::fill(accumulator_.begin(), accumulator_.end(), 0.0f);
  std::fill(pushed_.begin(), pushed_.end(), 0);
  num_pushed_ = 0;
  return had;
}

void DenseTable::SkipTo(int64_t step) {
  resync_.steps_skipped += step - step_;
  step_ = step;
  ClearPending();  // waiting pulls are woken by the unlock
}

void DenseTable::ResyncForPull(int64_t min_step, absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  const auto settled = [this, min_step]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    return step_ >= min_step || cancelled_ || !resyncing_.load();
  };
  if (settled()) return;
  if (HasPending()) {
    // Workers are completing the open step: give them time.
    waiters_.fetch_add(1);
    mu_.AwaitWithDeadline(
        absl::Condition(&settled),
        std::min(deadline, absl::Now() + options_.resync_pull_wait));
    waiters_.fetch_sub(1);
    if (settled() || absl::Now() >= deadline) return;
  }
  SkipTo(min_step);
}

bool DenseTable::ResyncPush(uint64_t offset, int64_t step, uint32_t worker) {
  if (step < step_) {
    ++resync_.pushes_dropped;
    return true;
  }
  if (step > step_) SkipTo(step);
  if (offset > (pushed_.empty() ? 0 : pushed_[worker])) {
    ++resync_.pushes_dropped;  // its earlier chunks died with the old process
    return true;
  }
  return false;
}

absl::StatusOr<int64_t> DenseTable::PushBsp(uint64_t offset, size_t n,
                                            GradientReader read, int64_t step,
                                            uint32_t worker) {
  if (resyncing_.load() && ResyncPush(offset, step, worker)) return step_;
  if (step != step_) {
    return absl::FailedPreconditionError(
        absl::StrCat("push for step ", step, " but dense tensor ",
                     config_.name(), " is at step ", step_));
  }
  STRATA_RETURN_IF_ERROR(CheckChunkOrder(offset, step, worker));
  if (pushed_.empty()) pushed_.assign(config_.num_workers(), 0);
  if (accumulator_.empty()) accumulator_.assign(size_, 0.0f);
  float* const acc = accumulator_.data() + offset;
  ForEachBlock(n, read, [acc](size_t first, const float* g, size_t m) {
    for (size_t i = 0; i < m; ++i) acc[first + i] += g[i];
    return true;
  });
  pushed_[worker] += n;
  if (pushed_[worker] < size_) return step_;
  if (++num_pushed_ < config_.num_workers()) return step_;
  // Last push of the step: average, apply once, advance. Waiting pulls are
  // woken by the unlock (their condition is re-evaluated).
  const float scale = 1.0f / static_cast<float>(config_.num_workers());
  for (uint64_t i = 0; i < size_; ++i) accumulator_[i] *= scale;
  optimizer_->Apply(values_.data(), accumulator_.data(), state_.data(), &step_,
                    size_);
  ClearPending();
  resyncing_.store(false);  // a step completed normally
  return step_;
}

bool DenseTable::ResetStep() {
  if (config_.sync() != BSP) return false;
  absl::MutexLock lock(&mu_);
  return ClearPending();
}

DenseTable::ResyncCounters DenseTable::resync_counters() const {
  absl::ReaderMutexLock lock(&mu_);
  return resync_;
}

void DenseTable::Cancel() {
  absl::MutexLock lock(&mu_);
  cancelled_ = true;
}

int64_t DenseTable::step() const {
  absl::ReaderMutexLock lock(&mu_);
  return step_;
}

size_t DenseTable::MemoryBytes() const {
  absl::ReaderMutexLock lock(&mu_);
  return (values_.capacity() + state_.capacity() + accumulator_.capacity()) *
         sizeof(float);
}

int DenseTable::waiters() const { return waiters_.load(); }

void DenseTable::Visit(
    const std::function<void(absl::Span<const float>, absl::Span<const float>,
                             int64_t)>& fn) const {
  absl::ReaderMutexLock lock(&mu_);
  fn(values_, state_, step_);
}

absl::Status DenseTable::Restore(absl::Span<const float> values,
                                 absl::Span<const float> state, int64_t step) {
  if (values.size() != size_ || state.size() != state_size_) {
    return absl::InvalidArgumentError(
        absl::StrCat("dense tensor ", config_.name(), ": restore with ",
                     values.size(), " values and ", state.size(),
                     " state floats, expected ", size_, " and ", state_size_));
  }
  if (step < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "dense tensor ", config_.name(), ": negative step ", step));
  }
  STRATA_RETURN_IF_ERROR(CheckFinite(values, config_.name(), "value"));
  STRATA_RETURN_IF_ERROR(CheckFinite(state, config_.name(), "state float"));
  absl::MutexLock lock(&mu_);
  values_.assign(values.begin(), values.end());
  state_.assign(state.begin(), state.end());
  step_ = step;
  accumulator_.clear();
  accumulator_.shrink_to_fit();
  pushed_.clear();
  num_pushed_ = 0;
  resyncing_.store(config_.sync() == BSP);
  return absl::OkStatus();
}

}  // namespace strata
