#include "server/storage/dense_table.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "server/storage/initializer.h"

namespace strata {
namespace {

DenseConfig Config(uint64_t size, SyncMode sync = ASYNC, uint32_t workers = 0,
                   float lr = 1.0f) {
  DenseConfig c;
  c.set_name("fc.w");
  c.set_size(size);
  c.set_sync(sync);
  c.set_num_workers(workers);
  c.mutable_optimizer()->set_learning_rate(lr);
  return c;
}

std::unique_ptr<DenseTable> MustCreate(const DenseConfig& c) {
  auto t = DenseTable::Create(c);
  EXPECT_TRUE(t.ok()) << t.status();
  return t.ok() ? *std::move(t) : nullptr;
}

std::vector<float> Values(DenseTable& t) {
  std::string bytes;
  EXPECT_TRUE(t.Pull(0, absl::InfinitePast(), &bytes).ok());
  std::vector<float> v(bytes.size() / sizeof(float));
  std::memcpy(v.data(), bytes.data(), bytes.size());
  return v;
}

TEST(DenseTableTest, CreateRejectsInvalidConfigs) {
  std::vector<DenseConfig> bad = {Config(0), Config(kMaxDenseSize + 1),
                                  Config(4, BSP, 0)};
  DenseConfig c = Config(6);
  c.add_shape(2);
  c.add_shape(4);
  bad.push_back(c);
  c = Config(6);
  c.add_shape(-2);
  c.add_shape(-3);
  bad.push_back(c);
  c = Config(6);
  c.set_name("");
  bad.push_back(c);
  c = Config(6);
  c.mutable_optimizer()->set_learning_rate(-1);
  bad.push_back(c);
  c = Config(6);
  c.mutable_initializer()->set_type(InitializerConfig::NORMAL);
  c.mutable_initializer()->set_stddev(-1);
  bad.push_back(c);
  c = Config(6);
  c.set_sync(static_cast<SyncMode>(5));
  bad.push_back(c);
  for (const DenseConfig& config : bad) {
    EXPECT_EQ(DenseTable::Create(config).status().code(),
              absl::StatusCode::kInvalidArgument)
        << config.ShortDebugString();
  }
  c = Config(6);
  c.add_shape(2);
  c.add_shape(3);
  EXPECT_TRUE(DenseTable::Create(c).ok());
}

TEST(DenseTableTest, StartsFromTheInitializerAtStepZero) {
  DenseConfig c = Config(100);
  c.mutable_initializer()->set_type(InitializerConfig::UNIFORM);
  c.mutable_initializer()->set_low(-1);
  c.mutable_initializer()->set_high(1);
  auto t = MustCreate(c);
  std::vector<float> expected(100);
  InitializeDense(c.initializer(), "fc.w", 100, expected.data());
  EXPECT_EQ(Values(*t), expected);
  EXPECT_EQ(t->step(), 0);
}

TEST(DenseTableTest, PullAppendsLittleEndianFloats) {
  auto t = MustCreate(Config(2));
  ASSERT_TRUE(t->Push({-1.0f, 0.5f}, 0, 0).ok());  // values 1, -0.5
  std::string bytes = "xy";
  ASSERT_TRUE(t->Pull(0, absl::InfiniteFuture(), &bytes).ok());
  ASSERT_EQ(bytes.size(), 2u + 8u);
  EXPECT_EQ(bytes.substr(0, 2), "xy");
  // 1.0f = 0x3f800000, -0.5f = 0xbf000000, least significant byte first.
  EXPECT_EQ(bytes.substr(2),
            std::string("\x00\x00\x80\x3f\x00\x00\x00\xbf", 8));
}

TEST(DenseTableTest, AsyncPushAppliesImmediatelyAndIgnoresSteps) {
  auto t = MustCreate(Config(2, ASYNC, 0, 0.5f));
  absl::StatusOr<int64_t> step = t->Push({1.0f, 2.0f}, 77, 9);
  ASSERT_TRUE(step.ok()) << step.status();
  EXPECT_EQ(*step, 1);
  EXPECT_EQ(Values(*t), (std::vector<float>{-0.5f, -1.0f}));
  EXPECT_EQ(*t->Push({1.0f, 2.0f}, 0, 0), 2);
  EXPECT_EQ(Values(*t), (std::vector<float>{-1.0f, -2.0f}));
  std::string bytes;
  // min_step is ignored: no wait even with an expired deadline.
  absl::StatusOr<int64_t> pulled = t->Pull(100, absl::InfinitePast(), &bytes);
  ASSERT_TRUE(pulled.ok());
  EXPECT_EQ(*pulled, 2);
}

TEST(DenseTableTest, BadPushesChangeNothing) {
  for (SyncMode mode : {ASYNC, BSP}) {
    auto t = MustCreate(Config(3, mode, 2));
    const std::vector<float> before = Values(*t);
    absl::StatusOr<int64_t> r = t->Push({1, 2}, 0, 0);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find("has 3 elements, got 2"),
              std::string::npos)
        << r.status();
    r = t->Push({1, std::numeric_limits<float>::quiet_NaN(), 3}, 0, 0);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find("gradient 1 is not finite"),
              std::string::npos)
        << r.status();
    EXPECT_EQ(Values(*t), before);
    EXPECT_EQ(t->step(), 0);
  }
}

TEST(DenseTableTest, BspAveragesAllWorkersAndAppliesOnce) {
  auto t = MustCreate(Config(2, BSP, 2));
  std::vector<int64_t> returned(2, -1);
  const std::vector<std::vector<float>> grads = {{1, 3}, {3, 5}};
  std::vector<std::thread> threads;
  for (uint32_t w = 0; w < 2; ++w) {
    threads.emplace_back([&, w] {
      absl::StatusOr<int64_t> s = t->Push(grads[w], 0, w);
      ASSERT_TRUE(s.ok()) << s.status();
      returned[w] = *s;
    });
  }
  for (std::thread& th : threads) th.join();
  // SGD lr 1 from zeros with the mean gradient {2, 4}.
  EXPECT_EQ(Values(*t), (std::vector<float>{-2.0f, -4.0f}));
  EXPECT_EQ(t->step(), 1);
  // One push saw the step still pending (0), the last one completed it (1).
  EXPECT_EQ(returned[0] + returned[1], 1);
}

TEST(DenseTableTest, BspStepIsNotAdvancedUntilEveryWorkerPushed) {
  auto t = MustCreate(Config(1, BSP, 3));
  EXPECT_EQ(*t->Push({3}, 0, 2), 0);
  EXPECT_EQ(*t->Push({3}, 0, 0), 0);
  EXPECT_EQ(Values(*t), std::vector<float>{0.0f});
  EXPECT_EQ(*t->Push({6}, 0, 1), 1);
  EXPECT_EQ(Values(*t), std::vector<float>{-4.0f});
}

TEST(DenseTableTest, BspRejectsPushesForAnotherStep) {
  auto t = MustCreate(Config(1, BSP, 1));
  for (int64_t s = 0; s < 6; ++s) ASSERT_TRUE(t->Push({1}, s, 0).ok());
  ASSERT_EQ(t->step(), 6);
  for (int64_t s : {4, 7}) {
    absl::StatusOr<int64_t> r = t->Push({1}, s, 0);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_NE(r.status().message().find(absl::StrCat(
                  "push for step ", s, " but dense tensor fc.w is at step 6")),
              std::string::npos)
        << r.status();
  }
  EXPECT_EQ(t->step(), 6);
}

TEST(DenseTableTest, BspRejectsDuplicateAndOutOfRangeWorkers) {
  auto t = MustCreate(Config(1, BSP, 2));
  ASSERT_TRUE(t->Push({2}, 0, 0).ok());
  EXPECT_EQ(t->Push({100}, 0, 0).status().code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(t->Push({100}, 0, 2).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(*t->Push({4}, 0, 1), 1);
  // The rejected pushes were not accumulated: mean of 2 and 4.
  EXPECT_EQ(Values(*t), std::vector<float>{-3.0f});
}

TEST(DenseTableTest, BspPullBlocksUntilTheStepIsReached) {
  auto t = MustCreate(Config(2, BSP, 2));
  absl::StatusOr<int64_t> pulled;
  std::string bytes;
  std::thread puller(
      [&] { pulled = t->Pull(1, absl::InfiniteFuture(), &bytes); });
  while (t->waiters() == 0) std::this_thread::yield();
  ASSERT_TRUE(t->Push({2, 2}, 0, 0).ok());
  EXPECT_EQ(t->waiters(), 1) << "half a step must not wake the pull";
  ASSERT_TRUE(t->Push({4, 4}, 0, 1).ok());
  puller.join();
  ASSERT_TRUE(pulled.ok()) << pulled.status();
  EXPECT_EQ(*pulled, 1);
  std::vector<float> v(2);
  ASSERT_EQ(bytes.size(), 8u);
  std::memcpy(v.data(), bytes.data(), 8);
  EXPECT_EQ(v, (std::vector<float>{-3.0f, -3.0f}));
}

TEST(DenseTableTest, BspPullFailsWithDeadlineExceeded) {
  auto t = MustCreate(Config(1, BSP, 1));
  for (int64_t s = 0; s < 3; ++s) ASSERT_TRUE(t->Push({1}, s, 0).ok());
  std::string bytes;
  absl::StatusOr<int64_t> r =
      t->Pull(5, absl::Now() + absl::Milliseconds(5), &bytes);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_NE(r.status().message().find(
                "dense tensor fc.w is at step 3, waited for step 5"),
            std::string::npos)
      << r.status();
  EXPECT_TRUE(bytes.empty());
  // A step already reached returns at once, even past the deadline.
  r = t->Pull(3, absl::InfinitePast(), &bytes);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 3);
}

TEST(DenseTableTest, CancelWakesWaitingPullsWithAborted) {
  auto t = MustCreate(Config(1, BSP, 1));
  absl::StatusOr<int64_t> pulled;
  std::thread puller([&] {
    std::string bytes;
    pulled = t->Pull(1, absl::InfiniteFuture(), &bytes);
  });
  while (t->waiters() == 0) std::this_thread::yield();
  t->Cancel();
  puller.join();
  EXPECT_EQ(pulled.status().code(), absl::StatusCode::kAborted);
  std::string bytes;
  EXPECT_EQ(t->Pull(1, absl::InfiniteFuture(), &bytes).status().code(),
            absl::StatusCode::kAborted);
}

TEST(DenseTableTest, AdamStepIsTheTensorStep) {
  DenseConfig c = Config(1, ASYNC);
  c.mutable_optimizer()->set_type(OptimizerConfig::ADAM);
  c.mutable_optimizer()->set_learning_rate(0.1f);
  auto t = MustCreate(c);
  ASSERT_TRUE(t->Push({0.5f}, 0, 0).ok());
  ASSERT_TRUE(t->Push({0.5f}, 0, 0).ok());
  // Bias-corrected Adam moves by lr per step for a constant gradient.
  EXPECT_NEAR(Values(*t)[0], -0.2f, 1e-6);
  t->Visit([](absl::Span<const float> values, absl::Span<const float> state,
              int64_t step) {
    EXPECT_EQ(values.size(), 1u);
    EXPECT_EQ(state.size(), 2u);
    EXPECT_EQ(step, 2);
  });
}

TEST(DenseTableTest, RestoreReplacesEverythingAndDropsPendingPushes) {
  DenseConfig c = Config(2, BSP, 2);
  c.mutable_optimizer()->set_type(OptimizerConfig::ADAGRAD);
  c.mutable_optimizer()->set_learning_rate(1.0f);
  auto t = MustCreate(c);
  ASSERT_TRUE(t->Push({1, 1}, 0, 0).ok());  // pending
  ASSERT_TRUE(t->Restore({5, 6}, {1, 1}, 4).ok());
  EXPECT_EQ(t->step(), 4);
  EXPECT_EQ(Values(*t), (std::vector<float>{5.0f, 6.0f}));
  // Worker 0 may push step 4; the pending step-0 gradient is gone.
  ASSERT_TRUE(t->Push({3, 3}, 4, 0).ok());
  EXPECT_EQ(*t->Push({3, 3}, 4, 1), 5);
  // acc = 1 + 9 = 10: w -= 3 / sqrt(10).
  EXPECT_NEAR(Values(*t)[0], 5.0f - 3.0f / std::sqrt(10.0f), 1e-5);
  EXPECT_EQ(t->Restore({1}, {1, 1}, 0).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(t->Restore({1, 2}, {1}, 0).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(t->Restore({1, 2}, {1, 1}, -1).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      t->Restore({1, std::numeric_limits<float>::infinity()}, {1, 1}, 0).code(),
      absl::StatusCode::kInvalidArgument);
}

// Values of elements [offset, offset + count) (count 0: to the end).
std::vector<float> RangeValues(DenseTable& t, uint64_t offset, uint64_t count) {
  std::string bytes;
  EXPECT_TRUE(t.Pull(offset, count, 0, absl::InfinitePast(), &bytes).ok());
  std::vector<float> v(bytes.size() / sizeof(float));
  std::memcpy(v.data(), bytes.data(), bytes.size());
  return v;
}

// Values, optimizer state and step, to compare tensors exactly.
struct Snapshot {
  std::vector<float> values;
  std::vector<float> state;
  int64_t step = 0;
  bool operator==(const Snapshot& o) const {
    return values == o.values && state == o.state && step == o.step;
  }
};

Snapshot Snap(const DenseTable& t) {
  Snapshot s;
  t.Visit([&s](absl::Span<const float> values, absl::Span<const float> state,
               int64_t step) {
    s.values.assign(values.begin(), values.end());
    s.state.assign(state.begin(), state.end());
    s.step = step;
  });
  return s;
}

// g[i] for a tensor of n elements; exact in float, distinct per element.
std::vector<float> Ramp(size_t n, float scale) {
  std::vector<float> g(n);
  for (size_t i = 0; i < n; ++i) g[i] = scale * float(int(i % 97) - 48);
  return g;
}

TEST(DenseTableTest, RangeResolvesCountZeroAndRefusesWhatIsOutside) {
  auto t = MustCreate(Config(10));
  const auto expect_range = [&](uint64_t offset, uint64_t count,
                                uint64_t want_offset, uint64_t want_count) {
    absl::StatusOr<DenseRange> r = t->Range(offset, count);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->offset, want_offset);
    EXPECT_EQ(r->count, want_count);
  };
  expect_range(0, 0, 0, 10);
  expect_range(3, 0, 3, 7);
  expect_range(9, 1, 9, 1);
  expect_range(2, 8, 2, 8);
  const uint64_t max = std::numeric_limits<uint64_t>::max();
  for (const auto& [offset, count] : std::vector<std::pair<uint64_t, uint64_t>>{
           {10, 0}, {11, 0}, {0, 11}, {5, 6}, {max, 2}, {2, max}, {max, 0}}) {
    EXPECT_EQ(t->Range(offset, count).status().code(),
              absl::StatusCode::kOutOfRange)
        << offset << ", " << count;
  }
  EXPECT_EQ(t->Range(5, 6).status().message(),
            "dense tensor fc.w has 10 elements; offset 5, count 6 is outside "
            "them");
}

TEST(DenseTableTest, PullOfARangeReadsThoseElements) {
  auto t = MustCreate(Config(6));
  ASSERT_TRUE(t->Push({1, 2, 3, 4, 5, 6}, 0, 0).ok());
  EXPECT_EQ(RangeValues(*t, 2, 3), (std::vector<float>{-3, -4, -5}));
  EXPECT_EQ(RangeValues(*t, 4, 0), (std::vector<float>{-5, -6}));
  EXPECT_EQ(RangeValues(*t, 0, 0), Values(*t));
  std::string bytes = "keep";
  EXPECT_EQ(t->Pull(6, 0, 0, absl::InfinitePast(), &bytes).status().code(),
            absl::StatusCode::kOutOfRange);
  EXPECT_EQ(bytes, "keep");
}

TEST(DenseTableTest, BadChunksChangeNothing) {
  for (SyncMode mode : {ASYNC, BSP}) {
    auto t = MustCreate(Config(5, mode, 2));
    const Snapshot before = Snap(*t);
    absl::StatusOr<int64_t> r = t->Push(3, 3, {1, 2, 3}, 0, 0);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kOutOfRange);
    r = t->Push(5, 0, {}, 0, 0);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kOutOfRange);
    r = t->Push(1, 2, {1, 2, 3}, 0, 0);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(r.status().message(),
              "dense tensor fc.w: elements [1, 3) need 2 gradient floats, got "
              "3");
    r = t->Push(2, 0, {1, 2}, 0, 0);  // [2, 5) needs 3
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    r = t->Push(1, 2, {1, std::numeric_limits<float>::infinity()}, 0, 0);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(Snap(*t), before);
  }
}

// A tensor pushed in consecutive chunks ends exactly where one whole push
// leaves it: same values, optimizer state and step, for every optimizer
// (Adam's state is two planes, and chunks over 16K elements are applied in
// blocks).
TEST(DenseTableTest, AsyncChunksOfATensorAreOneUpdate) {
  constexpr uint64_t kSize = 40000;
  for (auto type : {OptimizerConfig::SGD, OptimizerConfig::ADAGRAD,
                    OptimizerConfig::ADAM}) {
    DenseConfig c = Config(kSize, ASYNC, 0, 0.01f);
    c.mutable_optimizer()->set_type(type);
    c.mutable_optimizer()->set_weight_decay(0.1f);
    c.mutable_initializer()->set_type(InitializerConfig::UNIFORM);
    c.mutable_initializer()->set_low(-1);
    c.mutable_initializer()->set_high(1);
    auto whole = MustCreate(c);
    auto chunked = MustCreate(c);
    for (int round = 1; round <= 2; ++round) {
      const std::vector<float> g = Ramp(kSize, 0.25f * round);
      ASSERT_EQ(*whole->Push(g, 0, 0), round);
      const absl::Span<const float> gs(g);
      EXPECT_EQ(*chunked->Push(0, 17000, gs.subspan(0, 17000), 0, 0),
                round - 1);
      EXPECT_EQ(*chunked->Push(17000, 3, gs.subspan(17000, 3), 0, 0),
                round - 1);
      EXPECT_EQ(*chunked->Push(17003, 0, gs.subspan(17003), 0, 0), round)
          << "the chunk that reaches the end completes the update";
      EXPECT_EQ(Snap(*chunked), Snap(*whole))
          << OptimizerConfig::Type_Name(type) << " round " << round;
    }
  }
}

TEST(DenseTableTest, BspChunkedPushesCompleteTheStepOnce) {
  auto whole = MustCreate(Config(5, BSP, 2));
  auto chunked = MustCreate(Config(5, BSP, 2));
  const std::vector<float> g0 = {1, 2, 3, 4, 5}, g1 = {3, 3, 3, 3, 3};
  ASSERT_TRUE(whole->Push(g0, 0, 0).ok());
  ASSERT_TRUE(whole->Push(g1, 0, 1).ok());
  EXPECT_EQ(*chunked->Push(0, 2, {1, 2}, 0, 0), 0);
  EXPECT_EQ(*chunked->Push(0, 4, {3, 3, 3, 3}, 0, 1), 0);
  EXPECT_EQ(*chunked->Push(2, 0, {3, 4, 5}, 0, 0), 0)
      << "worker 1 has not pushed every element yet";
  EXPECT_EQ(Values(*chunked), std::vector<float>(5, 0.0f));
  EXPECT_EQ(*chunked->Push(4, 1, {3}, 0, 1), 1);
  EXPECT_EQ(Snap(*chunked), Snap(*whole));
  EXPECT_EQ(RangeValues(*chunked, 1, 2), (std::vector<float>{-2.5f, -3.0f}));
  // The next step starts from offset 0 again.
  EXPECT_EQ(*chunked->Push(0, 1, {1}, 1, 0), 1);
}

TEST(DenseTableTest, BspChunksOfAWorkerMustArriveInOrder) {
  auto t = MustCreate(Config(5, BSP, 2));
  ASSERT_TRUE(t->Push(0, 2, {1, 1}, 0, 0).ok());
  const Snapshot before = Snap(*t);
  absl::StatusOr<int64_t> r = t->Push(3, 2, {7, 7}, 0, 0);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(r.status().message(),
            "worker 0's chunks of step 0 of dense tensor fc.w must arrive in "
            "order: expected offset 2, got 3");
  r = t->Push(0, 2, {7, 7}, 0, 0);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(r.status().message(),
            "worker 0 already pushed elements [0, 2) of step 0 of dense "
            "tensor fc.w; got a chunk at offset 0");
  EXPECT_EQ(t->Push(1, 3, {7, 7, 7}, 0, 0).status().code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(t->Push(2, 3, {1, 1, 1}, 1, 0).status().code(),
            absl::StatusCode::kFailedPrecondition)
      << "a chunk of another step";
  EXPECT_EQ(t->Push(2, 0, {1, 1, 1}, 0, 0).status().code(),
            absl::StatusCode::kOk);
  r = t->Push({7, 7, 7, 7, 7}, 0, 0);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(r.status().message(),
            "worker 0 already pushed step 0 of dense tensor fc.w");
  EXPECT_EQ(Snap(*t), before) << "nothing is applied before worker 1 pushes";
  EXPECT_EQ(*t->Push({3, 3, 3, 3, 3}, 0, 1), 1);
  // Only the accepted chunks were accumulated: mean of 1 and 3.
  EXPECT_EQ(Values(*t), std::vector<float>(5, -2.0f));
}

TEST(DenseTableTest, MemoryBytesCountsValuesAndState) {
  DenseConfig c = Config(1000);
  c.mutable_optimizer()->set_type(OptimizerConfig::ADAM);
  c.mutable_optimizer()->set_learning_rate(0.1f);
  auto t = MustCreate(c);
  EXPECT_GE(t->MemoryBytes(), 3000 * sizeof(float));
  EXPECT_EQ(t->state_size(), 2000u);
}

TEST(DenseTableTest, BudgetIsChargedBeforeAllocatingAndReleasedOnDestroy) {
  MemoryBudget budget(1000);
  DenseConfig adam = Config(50);
  adam.mutable_optimizer()->set_type(OptimizerConfig::ADAM);
  // Values + Adam's two moments: 50 * 3 floats.
  DenseTable::Options o;
  o.budget = &budget;
  auto t = DenseTable::Create(adam, o);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ((*t)->BudgetBytes(), 600u);
  EXPECT_EQ(budget.used(), 600u);
  // BSP counts its accumulator: 100 * 2 floats do not fit the 400 left.
  const absl::Status s = DenseTable::Create(Config(100, BSP, 2), o).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  EXPECT_EQ(s.message(),
            "dense tensor fc.w: 800 bytes do not fit the shard's memory "
            "budget (600 of 1000 bytes in use; --max_memory_bytes)");
  EXPECT_EQ(budget.used(), 600u);
  t->reset();
  EXPECT_EQ(budget.used(), 0u);

  auto loaded = MustCreate(Config(100, BSP, 2));
  ASSERT_TRUE(budget.TryCharge(loaded->BudgetBytes()));
  loaded->AdoptBudget(&budget);
  EXPECT_EQ(budget.used(), 800u);
  loaded.reset();
  EXPECT_EQ(budget.used(), 0u);
}

TEST(DenseTableTest, ResetStepDiscardsTheOpenStepsPushesOnly) {
  auto t = MustCreate(Config(2, BSP, 2));
  ASSERT_TRUE(t->Push({2, 2}, 0, 0).ok());
  ASSERT_TRUE(t->Push({4, 4}, 0, 1).ok());  // step 0 completes: {-3, -3}
  ASSERT_TRUE(t->Push({100, 100}, 1, 0).ok());
  EXPECT_TRUE(t->ResetStep());
  EXPECT_FALSE(t->ResetStep()) << "nothing left to discard";
  EXPECT_EQ(t->step(), 1);
  // Worker 0 may push step 1 again; the discarded push is not in the mean.
  ASSERT_TRUE(t->Push({2, 2}, 1, 0).ok());
  EXPECT_EQ(*t->Push({4, 4}, 1, 1), 2);
  EXPECT_EQ(Values(*t), (std::vector<float>{-6.0f, -6.0f}));
}

TEST(DenseTableTest, ResetStepKeepsAWaitingPullWaitingForTheStep) {
  auto t = MustCreate(Config(1, BSP, 2));
  absl::StatusOr<int64_t> pulled;
  std::thread puller([&] {
    std::string bytes;
    pulled = t->Pull(1, absl::InfiniteFuture(), &bytes);
  });
  while (t->waiters() == 0) std::this_thread::yield();
  ASSERT_TRUE(t->Push({2}, 0, 0).ok());
  EXPECT_TRUE(t->ResetStep());
  EXPECT_EQ(t->waiters(), 1);
  ASSERT_TRUE(t->Push({2}, 0, 0).ok());
  ASSERT_TRUE(t->Push({4}, 0, 1).ok());
  puller.join();
  ASSERT_TRUE(pulled.ok()) << pulled.status();
  EXPECT_EQ(*pulled, 1);
}

TEST(DenseTableTest, ResetStepOfAnAsyncTensorDoesNothing) {
  auto t = MustCreate(Config(1, ASYNC));
  ASSERT_TRUE(t->Push({1}, 0, 0).ok());
  EXPECT_FALSE(t->ResetStep());
  EXPECT_EQ(t->step(), 1);
}

// A BSP tensor of `workers` workers restored (as by a checkpoint load) at
// `step` with values 0; a pull above a half-pushed step waits `wait`.
std::unique_ptr<DenseTable> Restored(
    uint32_t workers, int64_t step, uint64_t size = 1,
    absl::Duration wait = absl::Milliseconds(50)) {
  DenseTable::Options o;
  o.resync_pull_wait = wait;
  auto created = DenseTable::Create(Config(size, BSP, workers), o);
  EXPECT_TRUE(created.ok()) << created.status();
  std::unique_ptr<DenseTable> t = *std::move(created);
  EXPECT_TRUE(t->Restore(std::vector<float>(size, 0.0f), {}, step).ok());
  EXPECT_TRUE(t->resyncing());
  return t;
}

TEST(DenseTableTest, ResyncAPushAboveTheStepMovesTheTensorThere) {
  // Checkpoint at step 3; both workers were at step 5 when the shard died
  // and push step 5 to the restarted one.
  auto t = Restored(2, 3);
  EXPECT_EQ(*t->Push({2}, 5, 0), 5);
  EXPECT_EQ(*t->Push({4}, 5, 1), 6);
  EXPECT_EQ(Values(*t), std::vector<float>{-3.0f});
  EXPECT_FALSE(t->resyncing());
  EXPECT_EQ(t->resync_counters().steps_skipped, 2);
  EXPECT_EQ(t->resync_counters().pushes_dropped, 0);
  // Resynchronised: the normal rules are back.
  EXPECT_EQ(t->Push({1}, 8, 0).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(DenseTableTest, ResyncAPullAboveTheStepMovesTheTensorWithoutWaiting) {
  // Worker 0 pushed step 5 before the crash (answered, lost) and pulls step
  // 6; worker 1 had not pushed step 5 yet and pushes it.
  auto t = Restored(2, 3);
  std::string bytes;
  absl::StatusOr<int64_t> pulled = t->Pull(6, absl::InfinitePast(), &bytes);
  ASSERT_TRUE(pulled.ok()) << pulled.status();
  EXPECT_EQ(*pulled, 6);
  EXPECT_EQ(Values(*t), std::vector<float>{0.0f}) << "nothing applied";
  // Worker 1's step-5 push is answered and dropped; it then pulls step 6.
  EXPECT_EQ(*t->Push({4}, 5, 1), 6);
  ASSERT_TRUE(t->Pull(6, absl::InfinitePast(), &bytes).ok());
  ASSERT_TRUE(t->Push({2}, 6, 0).ok());
  EXPECT_EQ(*t->Push({4}, 6, 1), 7);
  EXPECT_EQ(Values(*t), std::vector<float>{-3.0f});
  EXPECT_FALSE(t->resyncing());
  EXPECT_EQ(t->resync_counters().steps_skipped, 3);
  EXPECT_EQ(t->resync_counters().pushes_dropped, 1);
}

TEST(DenseTableTest, ResyncAPullMovesPastAHalfPushedStep) {
  // Worker 1 pushes step 5 first (moving the tensor from 3 to 5); worker 0,
  // whose step-5 push died with the old process, pulls step 6: after
  // resync_pull_wait the tensor moves on, discarding worker 1's push.
  auto t = Restored(2, 3);
  EXPECT_EQ(*t->Push({4}, 5, 1), 5);
  std::string bytes;
  const absl::Time start = absl::Now();
  EXPECT_EQ(*t->Pull(6, absl::InfiniteFuture(), &bytes), 6);
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(40));
  EXPECT_EQ(*t->Pull(6, absl::InfinitePast(), &bytes), 6);
  ASSERT_TRUE(t->Push({2}, 6, 0).ok());
  EXPECT_EQ(*t->Push({4}, 6, 1), 7);
  EXPECT_EQ(Values(*t), std::vector<float>{-3.0f});
  EXPECT_EQ(t->resync_counters().steps_skipped, 3);
}

TEST(DenseTableTest, ResyncThreeWorkersSomeAnsweredBeforeTheCrash) {
  // Step 4 of 3 workers: worker 0 pushed it before the crash (lost), workers
  // 1 and 2 push it after. Worker 0 pulls step 5 while the others wait for
  // it: its pull moves the tensor and wakes them.
  auto t = Restored(3, 4);
  EXPECT_EQ(*t->Push({3}, 4, 1), 4);
  absl::StatusOr<int64_t> waited;
  std::thread waiter([&] {
    std::string bytes;
    waited = t->Pull(5, absl::InfiniteFuture(), &bytes);
  });
  EXPECT_EQ(*t->Push({3}, 4, 2), 4);
  std::string bytes;
  EXPECT_EQ(*t->Pull(5, absl::InfiniteFuture(), &bytes), 5);
  waiter.join();
  ASSERT_TRUE(waited.ok()) << waited.status();
  EXPECT_EQ(*waited, 5);
  for (uint32_t w = 0; w < 3; ++w) ASSERT_TRUE(t->Push({3}, 5, w).ok());
  EXPECT_EQ(t->step(), 6);
  EXPECT_EQ(Values(*t), std::vector<float>{-3.0f});
  EXPECT_EQ(t->resync_counters().steps_skipped, 1);
}

TEST(DenseTableTest, ResyncAPullWaitsForAStepTheOthersComplete) {
  // Both workers are at step 3 after the restart; worker 0 pushed it and
  // pulls step 4 before worker 1 pushes: the step completes normally.
  auto t = Restored(2, 3, 1, absl::Minutes(1));
  ASSERT_TRUE(t->Push({2}, 3, 0).ok());
  absl::StatusOr<int64_t> pulled;
  std::thread puller([&] {
    std::string bytes;
    pulled = t->Pull(4, absl::InfiniteFuture(), &bytes);
  });
  while (t->waiters() == 0) std::this_thread::yield();
  ASSERT_TRUE(t->Push({4}, 3, 1).ok());
  puller.join();
  ASSERT_TRUE(pulled.ok()) << pulled.status();
  EXPECT_EQ(*pulled, 4);
  EXPECT_EQ(Values(*t), std::vector<float>{-3.0f});
  EXPECT_FALSE(t->resyncing());
  EXPECT_EQ(t->resync_counters().steps_skipped, 0);
}

TEST(DenseTableTest, ResyncDropsAChunkWhoseEarlierChunksWereLost) {
  // Worker 0 had pushed elements [0, 2) of step 3 before the crash; its
  // next chunk cannot complete the step and is dropped.
  auto t = Restored(2, 3, 4);
  EXPECT_EQ(*t->Push(2, 2, std::vector<float>{1, 1}, 3, 0), 3);
  EXPECT_EQ(t->resync_counters().pushes_dropped, 1);
  EXPECT_TRUE(t->resyncing());
  std::string bytes;
  EXPECT_EQ(*t->Pull(4, absl::InfinitePast(), &bytes), 4);
  EXPECT_EQ(t->resync_counters().steps_skipped, 1);
}

TEST(DenseTableTest, ResyncEndsWhenAStepCompletes) {
  auto t = Restored(1, 2);
  ASSERT_TRUE(t->Push({1}, 2, 0).ok());
  EXPECT_FALSE(t->resyncing());
  std::string bytes;
  EXPECT_EQ(t->Pull(9, absl::InfinitePast(), &bytes).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(t->Push({1}, 1, 0).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(t->resync_counters().steps_skipped, 0);
}

TEST(DenseTableTest, RestoringAnAsyncTensorStartsNoResync) {
  auto t = MustCreate(Config(1, ASYNC));
  ASSERT_TRUE(t->Restore({0.0f}, {}, 4).ok());
  EXPECT_FALSE(t->resyncing());
}

// Push through a GradientReader (blocks in place or copied) against Push of
// a span: the same values, state, steps, and the same codes and messages.
TEST(DenseTableTest, PushFromReaderMatchesPushOfASpan) {
  constexpr uint64_t kSize = 40000;  // over two of the reader's blocks
  for (OptimizerConfig::Type opt :
       {OptimizerConfig::SGD, OptimizerConfig::ADAGRAD, OptimizerConfig::ADAM}) {
    DenseConfig c = Config(kSize, ASYNC, 0, 0.01f);
    c.mutable_optimizer()->set_type(opt);
    std::unique_ptr<DenseTable> span = MustCreate(c);
    std::unique_ptr<DenseTable> read = MustCreate(c);
    std::vector<float> g(kSize);
    for (size_t i = 0; i < kSize; ++i) g[i] = 0.001f * (i % 13) - 0.005f;
    int calls = 0;
    // Every other block copied, as a view of misaligned slices would.
    const auto reader = [&](size_t first, size_t n, float* buffer) {
      if (++calls % 2 == 0) return static_cast<const float*>(g.data() + first);
      std::memcpy(buffer, g.data() + first, n * sizeof(float));
      return static_cast<const float*>(buffer);
    };
    for (const auto& [offset, n] : std::vector<std::pair<uint64_t, size_t>>{
             {0, kSize}, {0, 20000}, {20000, kSize - 20000}, {17, 5}}) {
      const uint64_t count = n == kSize ? 0 : n;
      auto a = span->Push(offset, count, absl::MakeConstSpan(g).first(n), 0, 0);
      auto b = read->Push(offset, count, n, reader, 0, 0);
      ASSERT_TRUE(a.ok() && b.ok()) << a.status() << b.status();
      EXPECT_EQ(*a, *b);
    }
    // Refused: wrong length, a NaN at a block's first float, a bound.
    for (size_t bad_at : {size_t{16384}, kSize - 1}) {
      std::vector<float> saved = g;
      g[bad_at] = bad_at == kSize - 1 ? 1e30f : std::nanf("");
      auto a = span->Push(0, 0, g, 0, 0);
      auto b = read->Push(0, 0, kSize, reader, 0, 0);
      EXPECT_EQ(a.status(), b.status());
      EXPECT_EQ(b.status().code(), absl::StatusCode::kInvalidArgument);
      g = saved;
    }
    auto a = span->Push(0, 0, absl::MakeConstSpan(g).first(kSize - 1), 0, 0);
    auto b = read->Push(0, 0, kSize - 1, reader, 0, 0);
    EXPECT_EQ(a.status(), b.status());
    auto oa = span->Push(kSize, 1, absl::MakeConstSpan(g).first(1), 0, 0);
    auto ob = read->Push(kSize, 1, 1, reader, 0, 0);
    EXPECT_EQ(oa.status(), ob.status());
    EXPECT_EQ(ob.status().code(), absl::StatusCode::kOutOfRange);
    span->Visit([&](absl::Span<const float> v, absl::Span<const float> st,
                    int64_t step) {
      read->Visit([&](absl::Span<const float> v2, absl::Span<const float> st2,
                      int64_t step2) {
        EXPECT_TRUE(std::equal(v.begin(), v.end(), v2.begin(), v2.end()));
        EXPECT_TRUE(std::equal(st.begin(), st.end(), st2.begin(), st2.end()));
        EXPECT_EQ(step, step2);
      });
    });
  }
}

// BSP through a GradientReader: the same accumulation, steps and refusals.
TEST(DenseTableTest, BspPushFromReaderMatchesPushOfASpan) {
  constexpr uint64_t kSize = 40000;
  const DenseConfig c = Config(kSize, BSP, 2, 0.01f);
  std::unique_ptr<DenseTable> span = MustCreate(c);
  std::unique_ptr<DenseTable> read = MustCreate(c);
  std::vector<float> g(kSize);
  for (size_t i = 0; i < kSize; ++i) g[i] = 0.002f * (i % 11) - 0.01f;
  size_t base = 0;  // where the pushed chunk starts in g
  const auto reader = [&](size_t first, size_t n, float* buffer) {
    std::memcpy(buffer, g.data() + base + first, n * sizeof(float));
    return static_cast<const float*>(buffer);
  };
  for (int64_t step = 0; step < 2; ++step) {
    for (uint32_t w = 0; w < 2; ++w) {
      // Worker w pushes its gradient as two chunks.
      auto a = span->Push(0, 30000, absl::MakeConstSpan(g).first(30000), step, w);
      base = 0;
      auto b = read->Push(0, 30000, 30000, reader, step, w);
      ASSERT_TRUE(a.ok() && b.ok()) << a.status() << b.status();
      a = span->Push(30000, 0, absl::MakeConstSpan(g).subspan(30000), step, w);
      base = 30000;
      b = read->Push(30000, 0, kSize - 30000, reader, step, w);
      ASSERT_TRUE(a.ok() && b.ok()) << a.status() << b.status();
      EXPECT_EQ(*a, *b);
    }
  }
  EXPECT_EQ(span->step(), 2);
  EXPECT_EQ(Values(*span), Values(*read));
  // Refusals: another step, a worker out of range, out of chunk order.
  for (const auto& [offset, step, worker] :
       std::vector<std::tuple<uint64_t, int64_t, uint32_t>>{
           {0, 5, 0}, {0, 2, 2}, {10, 2, 0}}) {
    const size_t n = kSize - offset;
    base = offset;
    auto a = span->Push(offset, 0, absl::MakeConstSpan(g).subspan(offset),
                        step, worker);
    auto b = read->Push(offset, 0, n, reader, step, worker);
    EXPECT_FALSE(a.ok());
    EXPECT_EQ(a.status(), b.status());
  }
}

// PullInto hands out room for the range once, with the step of the values.
TEST(DenseTableTest, PullIntoWritesTheRangeWithItsStep) {
  std::unique_ptr<DenseTable> t = MustCreate(Config(10));
  ASSERT_TRUE(t->Push(std::vector<float>(10, 1.0f), 0, 0).ok());
  std::vector<float> out(3);
  int64_t seen = -1;
  auto step = t->PullInto(2, 3, 0, absl::InfiniteFuture(),
                          [&](int64_t s, size_t bytes) {
                            seen = s;
                            EXPECT_EQ(bytes, 3 * sizeof(float));
                            return reinterpret_cast<char*>(out.data());
                          });
  ASSERT_TRUE(step.ok());
  EXPECT_EQ(*step, 1);
  EXPECT_EQ(seen, 1);
  const std::vector<float> all = Values(*t);
  EXPECT_EQ(out, std::vector<float>(all.begin() + 2, all.begin() + 5));
}

}  // namespace
}  // namespace strata
