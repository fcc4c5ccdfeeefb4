// Dense tensor held by one parameter-server shard, updated asynchronously or
// in bulk-synchronous steps.
#ifndef STRATA_SERVER_STORAGE_DENSE_TABLE_H_
#define STRATA_SERVER_STORAGE_DENSE_TABLE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "proto/ps.pb.h"
#include "server/storage/memory_budget.h"
#include "server/storage/optimizer.h"

namespace strata {

// Largest dense tensor, in elements (4 GiB of float values).
inline constexpr uint64_t kMaxDenseSize = uint64_t{1} << 30;

// One dense tensor: values, optimizer state and the update step.
//
// ASYNC: every push is applied on arrival and advances the step.
// BSP: the num_workers pushes of step t are summed into an accumulator; the
// last one averages them, applies the optimizer once and advances the step to
// t + 1, waking pulls that wait for it. The pending accumulator is not part
// of checkpoints: a checkpoint taken mid-step restores the tensor at the
// start of that step, and workers re-push it.
//
// The step is also the optimizer's update count (Adam's t).
//
// Thread-safe. Owns its buffers; mutations and reads are serialised by one
// mutex (pulls share it as readers). The memory budget, if any, is not owned
// and must outlive the tensor.
class DenseTable {
 public:
  struct Options {
    // Largest |gradient| a Push may carry (optimizer.h).
    float max_abs_gradient = kDefaultMaxAbsGradient;
    // When set, BudgetBytes() is charged to it before anything is allocated
    // and released by the destructor. Null: no limit.
    MemoryBudget* budget = nullptr;
  };

  // INVALID_ARGUMENT for an empty name, size 0 or > kMaxDenseSize, a shape
  // whose product differs from size (or has a negative dimension), BSP with
  // num_workers 0, an unknown sync mode, or an invalid initializer/optimizer;
  // RESOURCE_EXHAUSTED when BudgetBytes() does not fit options.budget.
  static absl::StatusOr<std::unique_ptr<DenseTable>> Create(
      const DenseConfig& config, const Options& options);
  static absl::StatusOr<std::unique_ptr<DenseTable>> Create(
      const DenseConfig& config) {
    return Create(config, Options());
  }

  DenseTable(const DenseTable&) = delete;
  DenseTable& operator=(const DenseTable&) = delete;
  ~DenseTable();

  // Appends size() float32 values (little-endian) to *out_bytes and returns
  // the step they belong to. BSP: first waits until step >= min_step;
  // DEADLINE_EXCEEDED if `deadline` passes first (use
  // absl::InfiniteFuture() to wait forever), ABORTED if the tensor is
  // cancelled (dropped or replaced) meanwhile. ASYNC ignores min_step.
  absl::StatusOr<int64_t> Pull(int64_t min_step, absl::Time deadline,
                               std::string* out_bytes) const;

  // Applies (ASYNC) or accumulates (BSP) one gradient and returns the step
  // after this push. INVALID_ARGUMENT for a size mismatch, a gradient that
  // is non-finite or beyond max_abs_gradient, or (BSP) worker >=
  // num_workers; BSP: FAILED_PRECONDITION if `step`
  // is not the current step, ALREADY_EXISTS if `worker` already pushed it.
  // ASYNC ignores step and worker.
  absl::StatusOr<int64_t> Push(absl::Span<const float> grads, int64_t step,
                               uint32_t worker);

  // Wakes every waiting Pull with ABORTED and makes later blocking pulls
  // fail the same way. Used when the tensor is dropped or replaced.
  void Cancel();

  const DenseConfig& config() const { return config_; }
  const std::string& name() const { return config_.name(); }
  uint64_t size() const { return size_; }
  int64_t step() const;
  // Optimizer state floats (state_per_element * size).
  size_t state_size() const { return state_size_; }
  // Values + optimizer state + BSP accumulator, in bytes.
  size_t MemoryBytes() const;
  // What the tensor counts against a memory budget: values, optimizer state
  // and, for BSP, the accumulator (allocated on the first push, counted from
  // the start).
  uint64_t BudgetBytes() const { return budget_bytes_; }
  // For a tensor built without a budget (a checkpoint load): the destructor
  // releases BudgetBytes() from `budget`, which the caller has charged. Call
  // at most once, before the tensor is shared with other threads.
  void AdoptBudget(MemoryBudget* budget) { budget_ = budget; }
  // Number of pulls currently blocked waiting for a step (for tests and
  // monitoring).
  int waiters() const;

  // Checkpoint support: calls fn(values, state, step) under the lock.
  void Visit(const std::function<void(absl::Span<const float> values,
                                      absl::Span<const float> state,
                                      int64_t step)>& fn) const;
  // Replaces values, state and step (restore); drops pending BSP pushes.
  // INVALID_ARGUMENT for wrong sizes, non-finite values or a negative step.
  absl::Status Restore(absl::Span<const float> values,
                       absl::Span<const float> state, int64_t step);

 private:
  DenseTable(const DenseConfig& config, const Options& options,
             std::unique_ptr<Optimizer> optimizer);

  absl::StatusOr<int64_t> PushBsp(absl::Span<const float> grads, int64_t step,
                                  uint32_t worker)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Constant after construction.
  const DenseConfig config_;
  const Options options_;
  const uint64_t size_;
  const std::unique_ptr<Optimizer> optimizer_;
  const size_t state_size_;
  const uint64_t budget_bytes_;
  // Not owned; set at construction or once by AdoptBudget before sharing.
  MemoryBudget* budget_;

  mutable absl::Mutex mu_;
  std::vector<float> values_ ABSL_GUARDED_BY(mu_);
  std::vector<float> state_ ABSL_GUARDED_BY(mu_);
  int64_t step_ ABSL_GUARDED_BY(mu_) = 0;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  // Pulls blocked in Await (atomic: they hold mu_ only as readers).
  mutable std::atomic<int> waiters_{0};
  // BSP: sum of this step's gradients (allocated on first use) and which
  // workers have pushed it.
  std::vector<float> accumulator_ ABSL_GUARDED_BY(mu_);
  std::vector<bool> pushed_ ABSL_GUARDED_BY(mu_);
  uint32_t num_pushed_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace strata

#endif  // STRATA_SERVER_STORAGE_DENSE_TABLE_H_
