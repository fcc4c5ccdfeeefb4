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
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "proto/ps.pb.h"
#include "server/storage/memory_budget.h"
#include "server/storage/optimizer.h"

namespace strata {

// Largest dense tensor, in elements (4 GiB of float values). Below it, the
// shard's memory budget is the bound: a tensor larger than one message is
// pulled and pushed in chunks (element ranges).
inline constexpr uint64_t kMaxDenseSize = uint64_t{1} << 30;

// Elements [offset, offset + count) of a dense tensor.
struct DenseRange {
  uint64_t offset = 0;
  uint64_t count = 0;
};

// One dense tensor: values, optimizer state and the update step.
//
// Pulls and pushes name an element range (a chunk), so a tensor larger than
// one message travels in several; the whole tensor is one range.
//
// ASYNC: every push is applied to its range on arrival, with the optimizer's
// update count t = step + 1; the step advances when the range ends at the
// last element. A tensor pushed whole, or in consecutive chunks, is one
// update; chunks of different pushes may interleave (as in ps-lite).
// BSP: the num_workers pushes of step t are summed into an accumulator; a
// worker's push may come as chunks, in order (each starts where its last one
// ended). When every worker has pushed every element, the sum is averaged,
// the optimizer applied once and the step advanced to t + 1, waking pulls
// that wait for it. The pending accumulator is not part of checkpoints: a
// checkpoint taken mid-step restores the tensor at the start of that step.
//
// BSP resync: a restored tensor (Restore: a checkpoint load, at start-up or
// by an admin Load) is usually older than the workers, who go on from
// where they were and never push the steps in between again. Until a step
// completes normally the tensor is "resyncing": a push for a step above
// the tensor's moves it to that step (discarding the pushes accumulated for
// the old one); a push for a step below it, or a chunk whose earlier chunks
// were lost with the old process, is answered and dropped; a pull whose
// min_step is above the step moves it there (applying nothing) — at once
// when nobody pushed the open step yet (the puller's push of it died with
// the old process), else after Options::resync_pull_wait, so that a step
// the other workers are completing normally is not thrown away. Steps
// skipped that way are updates lost, counted (resync_counters()).
// docs/failures.md, "Shard restart", walks through the cases.
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
    // BSP resync (class comment): how long a pull above the open step waits
    // for the workers that pushed it to complete it before moving the
    // tensor on. Longer: fewer steps thrown away when a worker is slow;
    // shorter: a worker whose push died with the old process waits less.
    absl::Duration resync_pull_wait = absl::Seconds(1);
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

  // The range a request names: [offset, offset + count), where count 0
  // means [offset, size()). OUT_OF_RANGE unless it lies inside the tensor
  // (offset < size(), offset + count <= size(); overflow-safe).
  absl::StatusOr<DenseRange> Range(uint64_t offset, uint64_t count) const;

  // Appends the float32 values (little-endian) of Range(offset, count) to
  // *out_bytes and returns the step they belong to. OUT_OF_RANGE as Range.
  // BSP: first waits until step >= min_step; DEADLINE_EXCEEDED if
  // `deadline` passes first (use absl::InfiniteFuture() to wait forever),
  // ABORTED if the tensor is cancelled (dropped or replaced) meanwhile.
  // While resyncing, a min_step above the step moves the tensor there
  // instead of waiting. ASYNC ignores min_step.
  absl::StatusOr<int64_t> Pull(uint64_t offset, uint64_t count,
                               int64_t min_step, absl::Time deadline,
                               std::string* out_bytes);
  // The whole tensor.
  absl::StatusOr<int64_t> Pull(int64_t min_step, absl::Time deadline,
                               std::string* out_bytes) {
    return Pull(0, 0, min_step, deadline, out_bytes);
  }
  // As Pull, but the values go to out(step, bytes): called once, on success
  // only, under the tensor's lock, with the step they belong to and the
  // range's count x 4 bytes; it returns room for them (any alignment). For a caller that
  // writes the step next to the values (a DensePullResponse encoded in
  // place, server/ps/payload_wire.h).
  absl::StatusOr<int64_t> PullInto(uint64_t offset, uint64_t count,
                                   int64_t min_step, absl::Time deadline,
                                   absl::FunctionRef<char*(int64_t step, size_t bytes)> out);

  // Applies (ASYNC) or accumulates (BSP) the gradient of Range(offset,
  // count) and returns the step after this push. OUT_OF_RANGE as Range;
  // INVALID_ARGUMENT when grads does not hold the range's count of floats,
  // for a gradient that is non-finite or beyond max_abs_gradient, or (BSP)
  // worker >= num_workers. BSP: FAILED_PRECONDITION if `step` is not the
  // current step or the chunk does not start where `worker`'s last one of
  // this step ended; ALREADY_EXISTS if `worker` already pushed (some of)
  // these elements in this step. ASYNC ignores step and worker. A refused
  // push changes nothing. While resyncing (class comment) a push for
  // another step or out of chunk order is not refused.
  absl::StatusOr<int64_t> Push(uint64_t offset, uint64_t count,
                               absl::Span<const float> grads, int64_t step,
                               uint32_t worker);
  // The whole tensor.
  absl::StatusOr<int64_t> Push(absl::Span<const float> grads, int64_t step,
                               uint32_t worker) {
    return Push(0, 0, grads, step, worker);
  }

  // Floats [first, first + n) of a gradient held in pieces (a received
  // message's slices): a pointer to them in place, or `buffer` (room for n
  // floats) after copying them there.
  using GradientReader =
      absl::FunctionRef<const float*(size_t first, size_t n, float* buffer)>;
  // As Push with a span of `num_grads` floats, read block by block through
  // `read` instead: the same checks, errors and effects, without copying
  // the gradient whole (ASYNC with at most one optimizer state plane reads
  // it twice in blocks: checked, then applied or, BSP, accumulated; Adam's
  // split state planes, and a push that fails a check, copy it once and
  // take the span path).
  absl::StatusOr<int64_t> Push(uint64_t offset, uint64_t count,
                               size_t num_grads, GradientReader read,
                               int64_t step, uint32_t worker);

  // BSP: discards the pushes accumulated for the open step (the step,
  // values and optimizer state stay; pulls waiting for the step keep
  // waiting for it to complete). True if there were any. ASYNC: false.
  bool ResetStep();

  // What resyncing cost since the tensor was made (class comment).
  struct ResyncCounters {
    int64_t steps_skipped = 0;   // steps moved over: their updates are lost
    int64_t pushes_dropped = 0;  // pushes (chunks) answered and dropped
  };
  ResyncCounters resync_counters() const;
  // True while a restored BSP tensor has not completed a step.
  bool resyncing() const { return resyncing_.load(); }

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
  // Replaces values, state and step (restore); drops pending BSP pushes and
  // starts a resync (BSP; class comment). INVALID_ARGUMENT for wrong sizes,
  // non-finite values or a negative step.
  absl::Status Restore(absl::Span<const float> values,
                       absl::Span<const float> state, int64_t step);

 private:
  DenseTable(const DenseConfig& config, const Options& options,
             std::unique_ptr<Optimizer> optimizer);

  // ASYNC: applies grads to [offset, offset + grads.size()).
  void PushAsync(uint64_t offset, absl::Span<const float> grads)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // BSP: accumulates one chunk of `worker`'s gradient of `step` (n floats
  // read through `read`).
  absl::StatusOr<int64_t> PushBsp(uint64_t offset, size_t n,
                                  GradientReader read, int64_t step,
                                  uint32_t worker)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Resync: moves the open step to `step` (> step_), discarding its pushes
  // and counting the steps skipped.
  void SkipTo(int64_t step) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // While resyncing: moves the tensor to min_step if it is behind it (after
  // resync_pull_wait, or `deadline`, when the open step has pushes).
  void ResyncForPull(int64_t min_step, absl::Time deadline)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Resync: true if this push is dropped rather than refused (a step
  // below the tensor's, or a chunk past `worker`'s next offset); moves the
  // tensor to a step above its own.
  bool ResyncPush(uint64_t offset, int64_t step, uint32_t worker)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Drops the open step's accumulated pushes; true if there were any.
  bool ClearPending() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // True if some worker pushed (part of) the open step.
  bool HasPending() const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // OK if `offset` is where `worker`'s next chunk of `step` must start.
  absl::Status CheckChunkOrder(uint64_t offset, int64_t step,
                               uint32_t worker) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);

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
  // BSP: sum of this step's gradients (allocated on first use), how many
  // elements each worker has pushed of it (a prefix), and how many workers
  // have pushed all.
  std::vector<float> accumulator_ ABSL_GUARDED_BY(mu_);
  std::vector<uint64_t> pushed_ ABSL_GUARDED_BY(mu_);
  uint32_t num_pushed_ ABSL_GUARDED_BY(mu_) = 0;
  // Resync state: written under mu_ (exclusive); atomic so that pulls test
  // it without taking mu_ exclusively.
  std::atomic<bool> resyncing_{false};
  ResyncCounters resync_ ABSL_GUARDED_BY(mu_);
};

}  // namespace strata

#endif  // STRATA_SERVER_STORAGE_DENSE_TABLE_H_
