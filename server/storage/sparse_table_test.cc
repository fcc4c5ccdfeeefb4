#include "server/storage/sparse_table.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "server/router/router.h"
#include "server/storage/gradient_rows.h"
#include "server/storage/initializer.h"
#include "server/storage/internal/sliced_floats_testing.h"

namespace strata {
namespace {

TableConfig Config(uint32_t dim,
                   OptimizerConfig::Type opt = OptimizerConfig::SGD,
                   float lr = 1.0f) {
  TableConfig c;
  c.set_name("emb");
  c.set_dim(dim);
  c.mutable_initializer()->set_type(InitializerConfig::UNIFORM);
  c.mutable_initializer()->set_low(-1);
  c.mutable_initializer()->set_high(1);
  c.mutable_initializer()->set_seed(17);
  c.mutable_optimizer()->set_type(opt);
  c.mutable_optimizer()->set_learning_rate(lr);
  return c;
}

std::unique_ptr<SparseTable> MustCreate(const TableConfig& c,
                                        SparseTable::Options o = {}) {
  auto t = SparseTable::Create(c, o);
  EXPECT_TRUE(t.ok()) << t.status();
  return t.ok() ? *std::move(t) : nullptr;
}

std::vector<float> Init(const TableConfig& c, uint64_t key) {
  std::vector<float> v(c.dim());
  InitializeRow(c.initializer(), key, c.dim(), v.data());
  return v;
}

struct Row {
  std::vector<float> values, state;
  int64_t step;
  uint64_t freq;
  bool operator==(const Row& o) const {
    return values == o.values && state == o.state && step == o.step &&
           freq == o.freq;
  }
};

std::map<uint64_t, Row> Snapshot(const SparseTable& t) {
  std::map<uint64_t, Row> rows;
  t.ForEachRow([&](uint64_t key, const float* v, const float* s, int64_t step,
                   uint64_t freq) {
    rows[key] =
        Row{std::vector<float>(v, v + t.dim()),
            std::vector<float>(s, s + t.state_floats_per_row()), step, freq};
  });
  return rows;
}

std::vector<float> PullReadOnly(SparseTable& t,
                                const std::vector<uint64_t>& keys) {
  std::vector<float> out(keys.size() * t.dim());
  EXPECT_TRUE(t.Pull(keys, false, true, out.data()).ok());
  return out;
}

TEST(SparseTableTest, CreateRejectsInvalidConfigs) {
  TableConfig c = Config(4);
  c.set_name("");
  EXPECT_EQ(SparseTable::Create(c).status().code(),
            absl::StatusCode::kInvalidArgument);
  for (uint32_t dim : {0u, kMaxSparseDim + 1}) {
    EXPECT_EQ(SparseTable::Create(Config(dim)).status().code(),
              absl::StatusCode::kInvalidArgument);
  }
  EXPECT_TRUE(SparseTable::Create(Config(kMaxSparseDim)).ok());
  c = Config(4);
  c.mutable_initializer()->set_high(-2);  // low -1 > high
  EXPECT_EQ(SparseTable::Create(c).status().code(),
            absl::StatusCode::kInvalidArgument);
  c = Config(4);
  c.mutable_optimizer()->set_learning_rate(0);
  EXPECT_EQ(SparseTable::Create(c).status().code(),
            absl::StatusCode::kInvalidArgument);
  SparseTable::Options o;
  o.num_stripes = 0;
  EXPECT_EQ(SparseTable::Create(Config(4), o).status().code(),
            absl::StatusCode::kInvalidArgument);
  o = SparseTable::Options();
  o.max_batch_keys = 0;
  EXPECT_EQ(SparseTable::Create(Config(4), o).status().code(),
            absl::StatusCode::kInvalidArgument);
  HashRouter router(2);
  o = SparseTable::Options();
  o.router = &router;
  o.shard_id = 2;
  EXPECT_EQ(SparseTable::Create(Config(4), o).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(SparseTableTest, PullCreatesRowsOnFirstTouchWithInitializerValues) {
  const TableConfig c = Config(8);
  auto t = MustCreate(c);
  EXPECT_EQ(t->rows(), 0u);
  std::vector<float> out(2 * 8);
  ASSERT_TRUE(t->Pull({5, 9}, false, false, out.data()).ok());
  EXPECT_EQ(t->rows(), 2u);
  EXPECT_EQ(std::vector<float>(out.begin(), out.begin() + 8), Init(c, 5));
  EXPECT_EQ(std::vector<float>(out.begin() + 8, out.end()), Init(c, 9));
  // Pulling again returns the stored rows and creates nothing new.
  std::vector<float> again(3 * 8);
  ASSERT_TRUE(t->Pull({9, 5, 9}, false, false, again.data()).ok());
  EXPECT_EQ(t->rows(), 2u);
  EXPECT_EQ(std::vector<float>(again.begin(), again.begin() + 8), Init(c, 9));
  EXPECT_EQ(std::vector<float>(again.begin() + 16, again.end()), Init(c, 9));
}

TEST(SparseTableTest, InitialValuesDoNotDependOnOrderOrStripes) {
  const TableConfig c = Config(16);
  SparseTable::Options few;
  few.num_stripes = 3;
  auto a = MustCreate(c);
  auto b = MustCreate(c, few);
  std::vector<uint64_t> keys;
  for (uint64_t k = 0; k < 1000; ++k) keys.push_back(k * 7919);
  std::vector<float> out_a(keys.size() * 16);
  ASSERT_TRUE(a->Pull(keys, false, false, out_a.data()).ok());
  // Table b sees the keys in reverse, in batches of 7.
  for (size_t end = keys.size(); end > 0;) {
    const size_t begin = end >= 7 ? end - 7 : 0;
    std::vector<uint64_t> batch(keys.rbegin() + (keys.size() - end),
                                keys.rbegin() + (keys.size() - begin));
    std::vector<float> out(batch.size() * 16);
    ASSERT_TRUE(b->Pull(batch, true, false, out.data()).ok());
    end = begin;
  }
  EXPECT_EQ(PullReadOnly(*b, keys), out_a);
  EXPECT_EQ(a->rows(), 1000u);
  EXPECT_EQ(b->rows(), 1000u);
}

TEST(SparseTableTest, FrequencyCountsEveryOccurrence) {
  auto t = MustCreate(Config(2));
  std::vector<float> out(3 * 2);
  ASSERT_TRUE(t->Pull({7, 7, 8}, true, false, out.data()).ok());
  EXPECT_EQ(t->Frequency(7), 2u);
  EXPECT_EQ(t->Frequency(8), 1u);
  ASSERT_TRUE(t->Pull({7, 7, 8}, false, false, out.data()).ok());
  EXPECT_EQ(t->Frequency(7), 2u) << "count_frequency=false must not count";
  ASSERT_TRUE(t->Push({8, 8}, std::vector<float>(4, 0.0f)).ok());
  EXPECT_EQ(t->Frequency(8), 3u);
  EXPECT_EQ(t->Frequency(12345), 0u);
}

TEST(SparseTableTest, ReadOnlyPullDoesNotInsert) {
  const TableConfig c = Config(4);
  auto t = MustCreate(c);
  std::vector<float> out(2 * 4);
  ASSERT_TRUE(t->Pull({1, 2}, true, true, out.data()).ok());
  EXPECT_EQ(t->rows(), 0u);
  EXPECT_EQ(t->Frequency(1), 0u);
  EXPECT_EQ(std::vector<float>(out.begin(), out.begin() + 4), Init(c, 1));
  // Once the row exists, read-only pulls see its current values and count
  // its frequency when asked.
  ASSERT_TRUE(t->Push({1}, {1, 1, 1, 1}).ok());
  ASSERT_TRUE(t->Pull({1, 2}, true, true, out.data()).ok());
  EXPECT_EQ(t->rows(), 1u);
  EXPECT_EQ(t->Frequency(1), 2u);
  const std::vector<float> init = Init(c, 1);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(out[i], init[i] - 1.0f);
}

TEST(SparseTableTest, PushAppliesSgdToExistingAndNewRows) {
  const TableConfig c = Config(3, OptimizerConfig::SGD, 0.5f);
  auto t = MustCreate(c);
  std::vector<float> out(3);
  ASSERT_TRUE(t->Pull({10}, false, false, out.data()).ok());
  ASSERT_TRUE(t->Push({10, 11}, {2, 4, 6, -2, 0, 2}).ok());
  EXPECT_EQ(t->rows(), 2u);
  const std::vector<float> got = PullReadOnly(*t, {10, 11});
  const std::vector<float> i10 = Init(c, 10), i11 = Init(c, 11);
  const float g[6] = {2, 4, 6, -2, 0, 2};
  for (int j = 0; j < 3; ++j) {
    EXPECT_FLOAT_EQ(got[j], i10[j] - 0.5f * g[j]);
    EXPECT_FLOAT_EQ(got[3 + j], i11[j] - 0.5f * g[3 + j]);
  }
}

TEST(SparseTableTest, PushAppliesDuplicateKeysInOrder) {
  // Adagrad is order-sensitive: from w=0, grads 3 then 4 give -0.5 - 0.4;
  // 4 then 3 would give -0.5 - 0.3.
  TableConfig c = Config(1, OptimizerConfig::ADAGRAD, 0.5f);
  c.mutable_initializer()->Clear();  // zeros
  auto t = MustCreate(c);
  ASSERT_TRUE(t->Push({42, 42}, {3, 4}).ok());
  EXPECT_FLOAT_EQ(PullReadOnly(*t, {42})[0], -0.9f);
  const std::map<uint64_t, Row> rows = Snapshot(*t);
  EXPECT_EQ(rows.at(42).step, 2);
  EXPECT_FLOAT_EQ(rows.at(42).state[0], 25.0f);
  EXPECT_EQ(rows.at(42).freq, 2u);
}

TEST(SparseTableTest, AdamStepIsCountedPerRow) {
  auto t = MustCreate(Config(2, OptimizerConfig::ADAM, 0.01f));
  ASSERT_TRUE(t->Push({1, 2, 1}, std::vector<float>(6, 0.5f)).ok());
  const std::map<uint64_t, Row> rows = Snapshot(*t);
  EXPECT_EQ(rows.at(1).step, 2);
  EXPECT_EQ(rows.at(2).step, 1);
  EXPECT_EQ(rows.at(1).state.size(), 4u);  // m[2], v[2]
}

TEST(SparseTableTest, BadPushesChangeNothing) {
  HashRouter router(2);
  SparseTable::Options o;
  o.router = &router;
  o.shard_id = 0;
  o.max_batch_keys = 8;
  auto t = MustCreate(Config(2), o);
  std::vector<uint64_t> mine, theirs;
  for (uint64_t k = 0; mine.size() < 4 || theirs.empty(); ++k) {
    (router.ShardForKey(k) == 0 ? mine : theirs).push_back(k);
  }
  ASSERT_TRUE(t->Push({mine[0], mine[1]}, {1, 1, 1, 1}).ok());
  const auto before = Snapshot(*t);
  const std::vector<float> good(6, 0.25f);
  std::vector<float> nan_grads = good;
  nan_grads[5] = std::numeric_limits<float>::quiet_NaN();

  absl::Status s = t->Push({mine[0], mine[2], mine[3]}, nan_grads);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("gradient 5 is not finite"), std::string::npos)
      << s;
  s = t->Push({mine[0], mine[2], mine[3]}, std::vector<float>(5, 0.0f));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("got 5 gradient floats for 3 keys"),
            std::string::npos)
      << s;
  EXPECT_NE(s.message().find("expected 6"), std::string::npos) << s;
  s = t->Push({}, absl::Span<const float>());
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("empty batch"), std::string::npos) << s;
  s = t->Push(std::vector<uint64_t>(9, mine[0]), std::vector<float>(18, 0.0f));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  // Misrouted key last, after keys that would be created.
  s = t->Push({mine[0], mine[2], theirs[0]}, good);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("key " + std::to_string(theirs[0]) +
                             " belongs to shard 1, not shard 0"),
            std::string::npos)
      << s;

  EXPECT_EQ(Snapshot(*t), before);
  EXPECT_EQ(t->rows(), 2u);
}

// Rows read in place (split over pieces, at odd addresses) update the table
// exactly as the same floats in one array do; a bad one changes nothing.
TEST(SparseTableTest, PushOfRowsInPiecesEqualsPushOfOneArray) {
  constexpr uint32_t kDim = 5;
  const TableConfig c = Config(kDim, OptimizerConfig::ADAGRAD, 0.1f);
  std::vector<uint64_t> keys;
  std::vector<float> grads;
  for (uint64_t i = 0; i < 300; ++i) {
    keys.push_back((i * 7919) % 211);  // duplicates, applied in order
    for (uint32_t j = 0; j < kDim; ++j) {
      grads.push_back(std::sin(static_cast<float>(i * kDim + j)));
    }
  }
  auto want = MustCreate(c);
  ASSERT_TRUE(want->Push(keys, grads).ok());
  ASSERT_TRUE(want->Push(keys, grads).ok());
  for (size_t cut : {size_t{3}, size_t{20}, size_t{64}, size_t{1000}}) {
    for (size_t shift : {0, 1, 2}) {
      auto t = MustCreate(c);
      internal::SlicedFloats p(grads, cut, shift);
      GradientRows rows;
      rows.Assign(p.pieces(), kDim);
      ASSERT_TRUE(t->Push(keys, rows).ok());
      ASSERT_TRUE(t->Push(keys, rows).ok());
      EXPECT_EQ(Snapshot(*t), Snapshot(*want)) << cut << " " << shift;

      std::vector<float> bad = grads;
      bad[7 * kDim + 2] = std::numeric_limits<float>::infinity();
      internal::SlicedFloats q(bad, cut, shift);
      rows.Assign(q.pieces(), kDim);
      const absl::Status s = t->Push(keys, rows);
      EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
      EXPECT_NE(s.message().find("key 7 of the batch, column 2"),
                std::string::npos)
          << s;
      EXPECT_EQ(Snapshot(*t), Snapshot(*want));
    }
  }
}

TEST(SparseTableTest, BadPullsCreateNothing) {
  HashRouter router(2);
  SparseTable::Options o;
  o.router = &router;
  o.shard_id = 1;
  auto t = MustCreate(Config(2), o);
  uint64_t mine = 0, theirs = 0;
  while (router.ShardForKey(mine) != 1) ++mine;
  while (router.ShardForKey(theirs) != 0) ++theirs;
  std::vector<float> out(4);
  EXPECT_EQ(t->Pull({mine, theirs}, true, false, out.data()).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(t->Pull({}, true, false, out.data()).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(t->rows(), 0u);
  EXPECT_EQ(t->Frequency(mine), 0u);
  EXPECT_TRUE(t->Pull({mine}, true, false, out.data()).ok());
  EXPECT_EQ(t->rows(), 1u);
}

TEST(SparseTableTest, ConcurrentPushesAndPullsSumExactly) {
  // SGD with lr 1 and gradient -1 adds exactly 1 per occurrence; every sum
  // stays an exactly representable integer in float.
  TableConfig c = Config(4);
  c.mutable_initializer()->Clear();
  SparseTable::Options o;
  o.num_stripes = 8;  // force contention
  auto t = MustCreate(c, o);
  constexpr int kPushThreads = 4, kBatches = 200, kKeys = 100;
  std::vector<uint64_t> keys;
  for (uint64_t k = 0; k < kKeys; ++k) keys.push_back(k * 1000003);
  keys.push_back(keys[0]);  // one duplicate per batch
  const std::vector<float> grads(keys.size() * 4, -1.0f);
  std::vector<std::thread> threads;
  for (int i = 0; i < kPushThreads; ++i) {
    threads.emplace_back([&] {
      for (int b = 0; b < kBatches; ++b) ASSERT_TRUE(t->Push(keys, grads).ok());
    });
  }
  for (int i = 0; i < 2; ++i) {
    threads.emplace_back([&] {
      std::vector<float> out(keys.size() * 4);
      for (int b = 0; b < kBatches; ++b) {
        ASSERT_TRUE(t->Pull(keys, false, b % 2 == 0, out.data()).ok());
        for (float v : out) ASSERT_EQ(v, std::floor(v));  // never torn
      }
    });
  }
  for (std::thread& th : threads) th.join();
  const std::vector<float> got = PullReadOnly(*t, keys);
  for (size_t i = 0; i < keys.size(); ++i) {
    const float expected =
        (i == 0 || i == kKeys ? 2.0f : 1.0f) * kPushThreads * kBatches;
    for (int j = 0; j < 4; ++j) ASSERT_EQ(got[i * 4 + j], expected) << i;
  }
  EXPECT_EQ(t->rows(), static_cast<size_t>(kKeys));
  EXPECT_EQ(t->Frequency(keys[0]), 2u * kPushThreads * kBatches);
  EXPECT_EQ(t->Frequency(keys[1]), 1u * kPushThreads * kBatches);
}

TEST(SparseTableTest, InsertRowOverwritesAndValidates) {
  auto t = MustCreate(Config(2, OptimizerConfig::ADAGRAD, 0.1f));
  ASSERT_TRUE(t->InsertRow(3, {1.5f, -2.5f}, {0.25f, 0.5f}, 7, 11).ok());
  ASSERT_TRUE(t->InsertRow(3, {4.0f, 5.0f}, {1.0f, 2.0f}, 8, 12).ok());
  EXPECT_EQ(t->rows(), 1u);
  const auto rows = Snapshot(*t);
  EXPECT_EQ(rows.at(3), (Row{{4.0f, 5.0f}, {1.0f, 2.0f}, 8, 12}));
  EXPECT_EQ(PullReadOnly(*t, {3}), (std::vector<float>{4.0f, 5.0f}));
  EXPECT_EQ(t->InsertRow(4, {1.0f}, {0, 0}, 0, 0).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(t->InsertRow(4, {1.0f, 2.0f}, {0}, 0, 0).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(t->InsertRow(4, {1.0f, std::numeric_limits<float>::infinity()},
                         {0, 0}, 0, 0)
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(t->rows(), 1u);
}

// A row's values, state and counters share one record: with an odd width
// (3 values + 6 Adam state floats, then 4 bytes of padding before the
// 8-byte counters) every row keeps its own fields through the records'
// growth (one stripe: 2,000 rows grow its array 7 times).
TEST(SparseTableTest, RowRecordsKeepEveryFieldThroughGrowth) {
  SparseTable::Options o;
  o.num_stripes = 1;
  auto t = MustCreate(Config(3, OptimizerConfig::ADAM), o);
  std::map<uint64_t, Row> want;
  for (uint64_t k = 0; k < 2000; ++k) {
    const float f = static_cast<float>(k);
    Row r{{f, -f, f + 0.5f},
          {f + 1, f + 2, f + 3, f + 4, f + 5, f + 6},
          static_cast<int64_t>(k) * 3 - 7,
          k * 5 + 1};
    ASSERT_TRUE(t->InsertRow(k, r.values, r.state, r.step, r.freq).ok());
    want[k] = r;
  }
  EXPECT_EQ(Snapshot(*t), want);
  // Pulls that count frequency touch the counters next to the values.
  const std::vector<uint64_t> keys = {1999, 0, 1000, 1000};
  std::vector<float> out(keys.size() * 3);
  ASSERT_TRUE(t->Pull(keys, true, false, out.data()).ok());
  EXPECT_EQ(std::vector<float>(out.begin(), out.begin() + 3),
            want[1999].values);
  EXPECT_EQ(t->Frequency(1000), want[1000].freq + 2);
  EXPECT_EQ(t->Frequency(0), want[0].freq + 1);
  EXPECT_EQ(Snapshot(*t).at(1000).step, want[1000].step);
}

TEST(SparseTableTest, StripeVisitsCoverEveryRowOnce) {
  auto t = MustCreate(Config(2));
  std::vector<uint64_t> keys;
  for (uint64_t k = 0; k < 500; ++k) keys.push_back(k);
  std::vector<float> out(keys.size() * 2);
  ASSERT_TRUE(t->Pull(keys, false, false, out.data()).ok());
  size_t announced = 0, visited = 0;
  std::map<uint64_t, int> seen;
  for (uint32_t s = 0; s < t->num_stripes(); ++s) {
    t->VisitStripe(
        s, [&](size_t n) { announced += n; },
        [&](uint64_t key, const float*, const float*, int64_t, uint64_t) {
          ++visited;
          ++seen[key];
        });
  }
  EXPECT_EQ(announced, 500u);
  EXPECT_EQ(visited, 500u);
  EXPECT_EQ(seen.size(), 500u);
}

TEST(SparseTableTest, MemoryBytesGrowsWithRows) {
  auto t = MustCreate(Config(16, OptimizerConfig::ADAM));
  const size_t empty = t->MemoryBytes();
  std::vector<uint64_t> keys(10000);
  for (uint64_t k = 0; k < keys.size(); ++k) keys[k] = k;
  std::vector<float> out(keys.size() * 16);
  ASSERT_TRUE(t->Pull(keys, false, false, out.data()).ok());
  // At least values + Adam state: 10000 * 16 * 3 floats.
  EXPECT_GE(t->MemoryBytes() - empty, 10000u * 16 * 3 * sizeof(float));
  EXPECT_EQ(t->config().name(), "emb");
}

// Dim 2 with Adagrad: 2 values + 2 state floats, key, step, frequency and
// two 17-byte index slots.
constexpr uint64_t kAdagradDim2RowBytes = 4 * 4 + 3 * 8 + 2 * 17;

TEST(SparseTableTest, BudgetCountsValuesStateCountersAndIndex) {
  auto t = MustCreate(Config(2, OptimizerConfig::ADAGRAD));
  EXPECT_EQ(t->bytes_per_row(), kAdagradDim2RowBytes);
}

TEST(SparseTableTest, FullBudgetRefusesNewRowsAndServesExistingOnes) {
  const TableConfig c = Config(2, OptimizerConfig::ADAGRAD);
  MemoryBudget budget(4 * kAdagradDim2RowBytes);
  SparseTable::Options o;
  o.budget = &budget;
  auto t = MustCreate(c, o);
  ASSERT_TRUE(t->Push({1, 2, 3, 4}, std::vector<float>(8, 0.5f)).ok());
  EXPECT_EQ(budget.used(), budget.limit());
  const auto before = Snapshot(*t);

  absl::Status s = t->Push({1, 2, 5, 3}, std::vector<float>(8, 0.5f));
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  EXPECT_NE(s.message().find("table emb: 1 new rows: 74 bytes do not fit"),
            std::string::npos)
      << s;
  EXPECT_NE(s.message().find("--max_memory_bytes"), std::string::npos) << s;
  std::vector<float> out(8);
  EXPECT_EQ(t->Pull({5, 1}, true, false, out.data()).code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(t->InsertRow(6, {1, 1}, {0, 0}, 0, 0).code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(Snapshot(*t), before);
  EXPECT_EQ(budget.used(), budget.limit());

  // Existing rows keep training; a read-only pull of a new key creates
  // nothing and needs no room.
  ASSERT_TRUE(t->Push({4, 1, 4}, std::vector<float>(6, 0.5f)).ok());
  ASSERT_TRUE(t->Pull({1, 2, 3, 4}, true, false, out.data()).ok());
  ASSERT_TRUE(t->Pull({9, 1}, false, true, out.data()).ok());
  ASSERT_TRUE(t->InsertRow(3, {1, 1}, {0, 0}, 0, 0).ok());
  EXPECT_EQ(t->rows(), 4u);
  EXPECT_EQ(budget.used(), budget.limit());
}

TEST(SparseTableTest, BatchFitsWhenItsNewRowsDoThoughNotAllItsKeys) {
  MemoryBudget budget(10 * kAdagradDim2RowBytes);
  SparseTable::Options o;
  o.budget = &budget;
  auto t = MustCreate(Config(2, OptimizerConfig::ADAGRAD), o);
  std::vector<uint64_t> keys = {1, 2, 3, 4, 5, 6, 7, 8};
  std::vector<float> out(20);
  ASSERT_TRUE(t->Pull(keys, false, false, out.data()).ok());
  // 10 keys, 8 of them held: the worst case (10 rows) does not fit, the 2
  // new rows do.
  keys.push_back(9);
  keys.push_back(10);
  ASSERT_TRUE(t->Pull(keys, false, false, out.data()).ok());
  EXPECT_EQ(t->rows(), 10u);
  EXPECT_EQ(budget.used(), t->BudgetBytes());
  EXPECT_EQ(budget.used(), budget.limit());
}

TEST(SparseTableTest, DestroyingTheTableReleasesItsCharge) {
  MemoryBudget budget(1 << 20);
  SparseTable::Options o;
  o.budget = &budget;
  auto t = MustCreate(Config(2, OptimizerConfig::ADAGRAD), o);
  ASSERT_TRUE(t->Push({1, 2, 1}, std::vector<float>(6, 0.5f)).ok());
  EXPECT_EQ(budget.used(), 2 * kAdagradDim2RowBytes);
  t.reset();
  EXPECT_EQ(budget.used(), 0u);

  // A table built without a budget (a checkpoint load) adopts one.
  auto loaded = MustCreate(Config(2, OptimizerConfig::ADAGRAD));
  ASSERT_TRUE(loaded->InsertRow(7, {1, 1}, {0, 0}, 0, 0).ok());
  ASSERT_TRUE(budget.TryCharge(loaded->BudgetBytes()));
  loaded->AdoptBudget(&budget);
  ASSERT_TRUE(loaded->Push({8}, {1, 1}).ok());
  EXPECT_EQ(budget.used(), 2 * kAdagradDim2RowBytes);
  loaded.reset();
  EXPECT_EQ(budget.used(), 0u);
}

TEST(SparseTableTest, ConcurrentBatchesNeverOverrunTheBudget) {
  MemoryBudget budget(1000 * kAdagradDim2RowBytes);
  SparseTable::Options o;
  o.budget = &budget;
  o.num_stripes = 4;
  auto t = MustCreate(Config(2, OptimizerConfig::ADAGRAD), o);
  std::vector<std::thread> threads;
  for (uint64_t w = 0; w < 4; ++w) {
    threads.emplace_back([&, w] {
      std::vector<uint64_t> keys(50);
      for (uint64_t b = 0; b < 10; ++b) {
        // Half the keys are shared by all threads, half are this thread's.
        for (uint64_t i = 0; i < 50; ++i) {
          keys[i] = i % 2 ? (w << 32) | (b * 50 + i) : b * 50 + i;
        }
        const absl::Status s = t->Push(keys, std::vector<float>(100, 0.25f));
        if (!s.ok()) {
          EXPECT_TRUE(absl::IsResourceExhausted(s)) << s;
        }
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_LE(t->rows(), 1000u);
  EXPECT_GT(t->rows(), 900u);
  EXPECT_EQ(budget.used(), t->BudgetBytes());
}

// Batches large enough to be sorted by home slot within each stripe
// (Bucket's fine buckets): every key still gets its own row, in any order,
// and a big batch with duplicates updates exactly as the same pushes sent
// one key at a time.
std::vector<uint64_t> ShuffledKeysWithDuplicates(size_t distinct) {
  std::vector<uint64_t> keys;
  for (uint64_t k = 0; k < distinct; ++k) keys.push_back((k * 7919) << 20);
  for (uint64_t k = 0; k < distinct; k += 3) keys.push_back((k * 7919) << 20);
  uint64_t x = 99;
  for (size_t i = keys.size() - 1; i > 0; --i) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    std::swap(keys[i], keys[(x >> 33) % (i + 1)]);
  }
  return keys;
}

TEST(SparseTableTest, LargeBatchesInAnyOrderReadEachKeysOwnRow) {
  const TableConfig c = Config(3);
  auto t = MustCreate(c);
  const std::vector<uint64_t> keys = ShuffledKeysWithDuplicates(20000);
  std::vector<float> out(keys.size() * 3);
  ASSERT_TRUE(t->Pull(keys, false, false, out.data()).ok());
  EXPECT_EQ(t->rows(), 20000u);
  for (size_t i = 0; i < keys.size(); ++i) {
    ASSERT_EQ(std::vector<float>(out.begin() + i * 3, out.begin() + i * 3 + 3),
              Init(c, keys[i]))
        << "key " << keys[i];
  }
  std::vector<uint64_t> sorted = keys;
  std::sort(sorted.begin(), sorted.end());
  ASSERT_TRUE(t->Pull(sorted, false, true, out.data()).ok());
  for (size_t i = 0; i < sorted.size(); ++i) {
    ASSERT_EQ(std::vector<float>(out.begin() + i * 3, out.begin() + i * 3 + 3),
              Init(c, sorted[i]));
  }
}

TEST(SparseTableTest, LargeBatchWithDuplicatesUpdatesAsOneKeyAtATime) {
  const TableConfig c = Config(2, OptimizerConfig::ADAGRAD, 0.1f);
  auto batched = MustCreate(c);
  auto single = MustCreate(c);
  const std::vector<uint64_t> keys = ShuffledKeysWithDuplicates(10000);
  std::vector<float> grads(keys.size() * 2);
  for (size_t i = 0; i < grads.size(); ++i) grads[i] = 0.001f * (i % 97);
  ASSERT_TRUE(batched->Push(keys, grads).ok());
  for (size_t i = 0; i < keys.size(); ++i) {
    ASSERT_TRUE(single
                    ->Push(absl::MakeConstSpan(&keys[i], 1),
                           absl::MakeConstSpan(grads).subspan(i * 2, 2))
                    .ok());
  }
  EXPECT_EQ(Snapshot(*batched), Snapshot(*single));
}

TEST(SparseTableTest, LargeBatchWithAForeignKeyIsRefusedWhole) {
  HashRouter router(2);
  SparseTable::Options o;
  o.router = &router;
  o.shard_id = 0;
  auto t = MustCreate(Config(2), o);
  std::vector<uint64_t> keys;
  for (uint64_t k = 0; keys.size() < 5000; ++k) {
    if (router.ShardForKey(k) == 0) keys.push_back(k);
  }
  uint64_t foreign = 0;
  while (router.ShardForKey(foreign) == 0) ++foreign;
  keys[4321] = foreign;
  std::vector<float> out(keys.size() * 2);
  const absl::Status s = t->Pull(keys, true, false, out.data());
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_NE(s.message().find("belongs to shard 1"), std::string::npos) << s;
  EXPECT_EQ(t->rows(), 0u);
}

}  // namespace
}  // namespace strata
