#include "server/storage/memory_budget.h"

#include <thread>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

namespace strata {
namespace {

TEST(MemoryBudgetTest, ChargesUpToTheLimitAndNeverPast) {
  MemoryBudget budget(100);
  EXPECT_TRUE(budget.TryCharge(60));
  EXPECT_TRUE(budget.TryCharge(40));
  EXPECT_FALSE(budget.TryCharge(1));
  EXPECT_TRUE(budget.TryCharge(0));
  EXPECT_EQ(budget.used(), 100u);
  budget.Release(30);
  EXPECT_FALSE(budget.TryCharge(31));
  EXPECT_EQ(budget.used(), 70u);
  EXPECT_TRUE(budget.TryCharge(30));
  EXPECT_EQ(budget.limit(), 100u);
}

TEST(MemoryBudgetTest, HugeChargesDoNotOverflow) {
  MemoryBudget budget(100);
  ASSERT_TRUE(budget.TryCharge(50));
  EXPECT_FALSE(budget.TryCharge(~uint64_t{0}));
  EXPECT_EQ(budget.used(), 50u);
}

TEST(MemoryBudgetTest, ExhaustedNamesWhatTheBudgetAndTheFlag) {
  MemoryBudget budget(1000);
  ASSERT_TRUE(budget.TryCharge(900));
  const absl::Status s = budget.Charge(200, "dense tensor w");
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(s.message(),
            "dense tensor w: 200 bytes do not fit the shard's memory budget "
            "(900 of 1000 bytes in use; --max_memory_bytes)");
  EXPECT_EQ(budget.used(), 900u);
}

TEST(MemoryBudgetTest, ConcurrentChargesNeverExceedTheLimit) {
  MemoryBudget budget(10000);
  std::vector<std::thread> threads;
  std::vector<int> granted(8, 0);
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 1000; ++i) granted[t] += budget.TryCharge(7);
    });
  }
  for (std::thread& t : threads) t.join();
  int total = 0;
  for (int g : granted) total += g;
  EXPECT_EQ(total, 10000 / 7);
  EXPECT_EQ(budget.used(), uint64_t(total) * 7);
}

TEST(MemoryBudgetTest, ReservationReleasesUnlessCommitted) {
  MemoryBudget budget(100);
  {
    auto r = MemoryReservation::Make(&budget, 80, "x");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(budget.used(), 80u);
    EXPECT_EQ(MemoryReservation::Make(&budget, 30, "y").status().code(),
              absl::StatusCode::kResourceExhausted);
    r->ShrinkTo(50);
    EXPECT_EQ(budget.used(), 50u);
    MemoryReservation moved = *std::move(r);
    EXPECT_EQ(moved.bytes(), 50u);
  }
  EXPECT_EQ(budget.used(), 0u);
  {
    auto r = MemoryReservation::Make(&budget, 20, "x");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->Commit(), 20u);
  }
  EXPECT_EQ(budget.used(), 20u);
}

TEST(MemoryBudgetTest, NullBudgetIsUnlimited) {
  auto r = MemoryReservation::Make(nullptr, ~uint64_t{0}, "x");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->bytes(), 0u);
}

TEST(MemoryBudgetTest, DefaultIsThreeQuartersOfPhysicalMemory) {
  const uint64_t bytes = DefaultMemoryBudgetBytes();
  EXPECT_GT(bytes, uint64_t{64} << 20);
}

}  // namespace
}  // namespace strata
