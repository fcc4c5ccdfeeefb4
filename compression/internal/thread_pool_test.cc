#include "compression/internal/thread_pool.h"

#include <atomic>
#include <vector>

#include "gtest/gtest.h"

namespace strata::compression::internal {
namespace {

TEST(ThreadPoolTest, RunsEveryTaskExactlyOnce) {
  for (int threads : {1, 2, 4}) {
    ThreadPool pool(threads);
    for (size_t n : {0u, 1u, 7u, 1000u}) {
      std::vector<std::atomic<int>> hits(n);
      pool.ParallelFor(n, [&](size_t task, int worker) {
        ASSERT_GE(worker, 0);
        ASSERT_LT(worker, threads);
        hits[task].fetch_add(1);
      });
      for (size_t i = 0; i < n; ++i) EXPECT_EQ(hits[i].load(), 1) << i;
    }
  }
}

TEST(ThreadPoolTest, ManyConsecutiveLoopsAllComplete) {
  ThreadPool pool(3);
  std::atomic<int64_t> sum{0};
  for (int round = 0; round < 2000; ++round) {
    pool.ParallelFor(5, [&](size_t task, int) { sum.fetch_add(task + 1); });
  }
  EXPECT_EQ(sum.load(), 2000 * 15);
}

TEST(ThreadPoolTest, ResolveThreadsMapsNonPositiveToHardware) {
  EXPECT_EQ(ResolveThreads(3), 3);
  EXPECT_GE(ResolveThreads(0), 1);
  EXPECT_GE(ResolveThreads(-1), 1);
}

}  // namespace
}  // namespace strata::compression::internal
