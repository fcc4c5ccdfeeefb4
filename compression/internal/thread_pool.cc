#include "compression/internal/thread_pool.h"

#include <algorithm>

#include "glog/logging.h"

namespace strata::compression::internal {

int ResolveThreads(int requested) {
  if (requested > 0) return requested;
  return std::max(1u, std::thread::hardware_concurrency());
}

ThreadPool::ThreadPool(int num_threads) : num_threads_(num_threads) {
  CHECK_GE(num_threads, 1);
  threads_.reserve(num_threads - 1);
  for (int w = 1; w < num_threads; ++w) {
    threads_.emplace_back([this, w] { WorkerLoop(w); });
  }
}

ThreadPool::~ThreadPool() {
  {
    absl::MutexLock lock(&mu_);
    shutdown_ = true;
    work_cv_.SignalAll();
  }
  for (std::thread& t : threads_) t.join();
}

void ThreadPool::RunTasks(int worker, absl::FunctionRef<void(size_t, int)> fn,
                          size_t num_tasks) {
  for (;;) {
    const size_t task = next_task_.fetch_add(1, std::memory_order_relaxed);
    if (task >= num_tasks) return;
    fn(task, worker);
  }
}

void ThreadPool::WorkerLoop(int worker) {
  uint64_t seen = 0;
  for (;;) {
    const absl::FunctionRef<void(size_t, int)>* fn;
    size_t num_tasks;
    {
      absl::MutexLock lock(&mu_);
      while (!shutdown_ && generation_ == seen) work_cv_.Wait(&mu_);
      if (shutdown_) return;
      seen = generation_;
      // A worker that wakes only after its loop has finished finds fn_
      // cleared and goes back to waiting.
      if (fn_ == nullptr) continue;
      fn = fn_;
      num_tasks = num_tasks_;
      ++busy_workers_;
    }
    RunTasks(worker, *fn, num_tasks);
    absl::MutexLock lock(&mu_);
    if (--busy_workers_ == 0) done_cv_.SignalAll();
  }
}

void ThreadPool::ParallelFor(size_t num_tasks,
                             absl::FunctionRef<void(size_t, int)> fn) {
  if (num_tasks == 0) return;
  if (num_threads_ == 1 || num_tasks == 1) {
    for (size_t t = 0; t < num_tasks; ++t) fn(t, 0);
    return;
  }
  absl::MutexLock call_lock(&call_mu_);
  {
    absl::MutexLock lock(&mu_);
    next_task_.store(0, std::memory_order_relaxed);
    fn_ = &fn;
    num_tasks_ = num_tasks;
    ++generation_;
    work_cv_.SignalAll();
  }
  RunTasks(0, fn, num_tasks);
  absl::MutexLock lock(&mu_);
  // Every worker that took fn_ finishes before we return; one that has not
  // woken up yet will find fn_ cleared.
  while (busy_workers_ > 0) done_cv_.Wait(&mu_);
  fn_ = nullptr;
}

}  // namespace strata::compression::internal
