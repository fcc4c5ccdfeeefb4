// A fixed set of worker threads that run blocking parallel-for loops.
#ifndef STRATA_COMPRESSION_INTERNAL_THREAD_POOL_H_
#define STRATA_COMPRESSION_INTERNAL_THREAD_POOL_H_

#include <atomic>
#include <cstddef>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/synchronization/mutex.h"

namespace strata::compression::internal {

// Resolves a requested thread count: values <= 0 mean "one per hardware
// thread" (std::thread::hardware_concurrency(), at least 1).
int ResolveThreads(int requested);

// Owns `num_threads - 1` worker threads (the caller of ParallelFor is the
// last one); they are joined by the destructor. ParallelFor is thread-safe:
// concurrent calls are serialised, one loop runs at a time. It must not be
// called from inside a loop body of the same pool (it would deadlock).
//
// Tasks are handed out dynamically, so a loop body must not depend on which
// worker runs which task; `worker` is only for indexing per-worker scratch.
// Deterministic callers give each task a fixed slice of the work and combine
// per-task results in task order.
class ThreadPool {
 public:
  explicit ThreadPool(int num_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int num_threads() const { return num_threads_; }

  // Runs fn(task, worker) for every task in [0, num_tasks) exactly once and
  // returns when all have finished. worker is in [0, num_threads()).
  void ParallelFor(size_t num_tasks,
                   absl::FunctionRef<void(size_t task, int worker)> fn);

 private:
  void WorkerLoop(int worker);
  // Pulls tasks of the current loop until none is left.
  void RunTasks(int worker, absl::FunctionRef<void(size_t, int)> fn,
                size_t num_tasks);

  // Constant after construction.
  const int num_threads_;
  std::vector<std::thread> threads_;

  absl::Mutex call_mu_;  // serialises ParallelFor callers
  absl::Mutex mu_;
  absl::CondVar work_cv_;
  absl::CondVar done_cv_;
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
  int busy_workers_ ABSL_GUARDED_BY(mu_) = 0;
  // The current loop; valid while busy_workers_ > 0 or the caller runs.
  const absl::FunctionRef<void(size_t, int)>* fn_ ABSL_GUARDED_BY(mu_) =
      nullptr;
  size_t num_tasks_ ABSL_GUARDED_BY(mu_) = 0;
  std::atomic<size_t> next_task_{0};
};

}  // namespace strata::compression::internal

#endif  // STRATA_COMPRESSION_INTERNAL_THREAD_POOL_H_
