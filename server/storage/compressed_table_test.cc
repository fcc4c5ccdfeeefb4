#include "server/storage/compressed_table.h"

#include <cmath>
#include <limits>
#include <random>

#include "gtest/gtest.h"
#include "server/router/router.h"

namespace strata {
namespace {

constexpr uint32_t kDim = 4;

uint64_t Key(uint32_t field, uint64_t feature) {
  return (uint64_t{field} << 56) | feature;
}

TableConfig Config(OptimizerConfig::Type type = OptimizerConfig::SGD) {
  TableConfig c;
  c.set_name("emb");
  c.set_dim(kDim);
  c.mutable_optimizer()->set_type(type);
  c.mutable_optimizer()->set_learning_rate(1.f);
  return c;
}

// Field 1: 2000 features in 8 tight groups (group g centred at 10 * g);
// field 2: 20 features (below min_features: stays exact).
std::unique_ptr<SparseTable> PlantedTable(const SparseTable::Options& o = {}) {
  auto t = SparseTable::Create(Config(), o);
  EXPECT_TRUE(t.ok());
  std::mt19937 rng(5);
  std::normal_distribution<float> noise(0.f, 0.01f);
  for (uint64_t i = 0; i < 2000; ++i) {
    const uint64_t key = Key(1, i);
    if (o.router && o.router->ShardForKey(key) != o.shard_id) continue;
    std::vector<float> v(kDim);
    for (auto& x : v) x = 10.f * (i % 8) + noise(rng);
    EXPECT_TRUE((*t)->InsertRow(key, v, {}, 0, 1 + i % 5).ok());
  }
  for (uint64_t i = 0; i < 20; ++i) {
    const uint64_t key = Key(2, i);
    if (o.router && o.router->ShardForKey(key) != o.shard_id) continue;
    std::vector<float> v(kDim, -float(i));
    EXPECT_TRUE((*t)->InsertRow(key, v, {}, 0, 1).ok());
  }
  return std::move(*t);
}

SaecConfig Clusters(uint64_t k) {
  SaecConfig c;
  c.set_clusters(k);
  c.set_min_features(100);
  return c;
}

// The defaults proto/ps.proto documents on SaecConfig.
TEST(CompressedTableTest, NormalizeSaecConfigAppliesTheDocumentedDefaults) {
  absl::StatusOr<SaecConfig> c = NormalizeSaecConfig(SaecConfig());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->field_bits(), 8u);
  EXPECT_EQ(c->clusters(), 0u);
  EXPECT_EQ(c->target_ratio(), 10.0);
  EXPECT_EQ(c->max_mse(), 0.0);
  EXPECT_EQ(c->head_mass(), 0.8);
  EXPECT_EQ(c->min_features(), 1000u);
  EXPECT_EQ(c->seed(), 1u);
  EXPECT_EQ(c->max_iters(), 20u);
  EXPECT_EQ(c->index_layout(), SaecConfig::MPH);
  EXPECT_EQ(c->fingerprint_bits(), 8u);
  SaecConfig no_fingerprint;
  no_fingerprint.set_fingerprint_bits(0);  // set to 0 is kept
  EXPECT_EQ(NormalizeSaecConfig(no_fingerprint)->fingerprint_bits(), 0u);
  // target_ratio takes its default only when no other rule picks k.
  SaecConfig budget;
  budget.set_max_mse(0.5);
  c = NormalizeSaecConfig(budget);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->target_ratio(), 0.0);
  SaecConfig fixed = Clusters(8);
  c = NormalizeSaecConfig(fixed);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->target_ratio(), 0.0);
  EXPECT_EQ(c->min_features(), 100u);  // set values are kept
}

TEST(CompressedTableTest, NormalizeSaecConfigRejectsOutOfRangeValues) {
  SaecConfig c;
  c.set_field_bits(17);
  EXPECT_EQ(NormalizeSaecConfig(c).status().code(),
            absl::StatusCode::kInvalidArgument);
  c = SaecConfig();
  c.set_head_mass(1.5);
  EXPECT_EQ(NormalizeSaecConfig(c).status().code(),
            absl::StatusCode::kInvalidArgument);
  c = SaecConfig();
  c.set_target_ratio(0.5);
  EXPECT_EQ(NormalizeSaecConfig(c).status().code(),
            absl::StatusCode::kInvalidArgument);
  c = SaecConfig();
  c.set_max_mse(-1);
  EXPECT_EQ(NormalizeSaecConfig(c).status().code(),
            absl::StatusCode::kInvalidArgument);
  c = SaecConfig();
  c.set_index_layout(static_cast<SaecConfig::IndexLayout>(4));  // unknown
  EXPECT_EQ(NormalizeSaecConfig(c).status().code(),
            absl::StatusCode::kInvalidArgument);
  c = SaecConfig();
  c.set_fingerprint_bits(33);
  EXPECT_EQ(NormalizeSaecConfig(c).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(CompressedTableTest, PullsServeTheClusterCentroidOfEachKey) {
  auto plain = PlantedTable();
  auto ct = CompressedTable::Compress(*plain, Clusters(8), {});
  ASSERT_TRUE(ct.ok()) << ct.status();
  std::vector<uint64_t> keys = {Key(1, 3), Key(1, 11), Key(1, 6), Key(2, 7)};
  std::vector<float> out(keys.size() * kDim);
  ASSERT_TRUE((*ct)->Pull(keys, true, false, out.data()).ok());
  EXPECT_NEAR(out[0], 30.f, 0.05f);  // group 3
  EXPECT_EQ(out[0], out[kDim]);      // key 11 is in group 3 too: same vector
  EXPECT_NEAR(out[2 * kDim], 60.f, 0.05f);
  EXPECT_EQ(out[3 * kDim], -7.f);  // small field: exact
  EXPECT_EQ((*ct)->rows(), 2020u);
}

TEST(CompressedTableTest, UnseenKeysGetTheFieldFallbackOrTheInitializer) {
  auto plain = PlantedTable();
  auto ct = CompressedTable::Compress(*plain, Clusters(8), {});
  ASSERT_TRUE(ct.ok());
  std::vector<uint64_t> keys = {Key(1, 999999), Key(9, 1)};
  std::vector<float> out(2 * kDim);
  ASSERT_TRUE((*ct)->Pull(keys, true, false, out.data()).ok());
  // Frequency-weighted mean of field 1: groups weighted by 1 + i % 5.
  double num = 0, den = 0;
  for (int i = 0; i < 2000; ++i) {
    num += (1 + i % 5) * 10.0 * (i % 8);
    den += 1 + i % 5;
  }
  EXPECT_NEAR(out[0], num / den, 0.05);
  EXPECT_EQ(out[kDim], 0.f);  // unknown field: the (zeros) initializer
  EXPECT_EQ((*ct)->unknown_field_keys(), 1u);
}

TEST(CompressedTableTest, PushSumsGradientsPerClusterAndUpdatesSharedVector) {
  auto plain = PlantedTable();
  auto ct = CompressedTable::Compress(*plain, Clusters(8), {});
  ASSERT_TRUE(ct.ok());
  std::vector<uint64_t> one = {Key(1, 3)};
  std::vector<float> before(kDim), after(kDim);
  ASSERT_TRUE((*ct)->Pull(one, false, false, before.data()).ok());
  // Keys 3 and 11 share a cluster: SGD(lr 1) moves it by the sum.
  std::vector<uint64_t> keys = {Key(1, 3), Key(1, 11)};
  std::vector<float> grads = {1, 1, 1, 1, 2, 2, 2, 2};
  ASSERT_TRUE((*ct)->Push(keys, grads).ok());
  std::vector<uint64_t> other = {Key(1, 19)};  // also group 3
  ASSERT_TRUE((*ct)->Pull(other, false, false, after.data()).ok());
  for (uint32_t j = 0; j < kDim; ++j) EXPECT_FLOAT_EQ(after[j], before[j] - 3);
}

TEST(CompressedTableTest, BadPushesChangeNothing) {
  SparseTable::Options o;
  HashRouter router(2);
  o.router = &router;
  o.shard_id = 0;
  auto plain = PlantedTable(o);
  CompressedTable::Options co;
  co.router = &router;
  co.shard_id = 0;
  auto ct = CompressedTable::Compress(*plain, Clusters(8), co);
  ASSERT_TRUE(ct.ok()) << ct.status();
  uint64_t mine = 0, theirs = 0;
  for (uint64_t i = 0; i < 2000; ++i) {
    (router.ShardForKey(Key(1, i)) == 0 ? mine : theirs) = Key(1, i);
  }
  std::vector<float> before(kDim), after(kDim);
  std::vector<uint64_t> k1 = {mine};
  ASSERT_TRUE((*ct)->Pull(k1, false, false, before.data()).ok());
  const float nan = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ((*ct)->Push(k1, {0, nan, 0, 0}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*ct)->Push(k1, {0, 0}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*ct)->Push({}, {}).code(), absl::StatusCode::kInvalidArgument);
  std::vector<uint64_t> both = {mine, theirs};
  EXPECT_EQ((*ct)->Push(both, std::vector<float>(2 * kDim, 1.f)).code(),
            absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE((*ct)->Pull(k1, false, false, after.data()).ok());
  EXPECT_EQ(before, after);
}

TEST(CompressedTableTest, StatsDescribeEveryField) {
  auto plain = PlantedTable();
  auto ct = CompressedTable::Compress(*plain, Clusters(8), {});
  ASSERT_TRUE(ct.ok());
  std::vector<FieldStats> stats = (*ct)->Stats();
  ASSERT_EQ(stats.size(), 2u);
  EXPECT_EQ(stats[0].field(), 1u);
  EXPECT_EQ(stats[0].features(), 2000u);
  EXPECT_EQ(stats[0].clusters(), 8u);
  EXPECT_EQ(stats[0].vectors_before(), 2000u);
  EXPECT_GT(stats[0].ratio(), 1.0);
  EXPECT_LT(stats[0].weighted_mse(), 0.01);
  EXPECT_EQ(stats[1].field(), 2u);
  EXPECT_EQ(stats[1].method(), "none");
  EXPECT_LT((*ct)->MemoryBytes(), plain->MemoryBytes());
}

TEST(CompressedTableTest, AdagradStateCarriesOverAsWeightedMean) {
  auto t = SparseTable::Create(Config(OptimizerConfig::ADAGRAD));
  ASSERT_TRUE(t.ok());
  for (uint64_t i = 0; i < 200; ++i) {
    std::vector<float> v(kDim, 1.f), st(kDim, i < 100 ? 1.f : 3.f);
    ASSERT_TRUE((*t)->InsertRow(Key(1, i), v, st, 1, 1).ok());
  }
  auto ct = CompressedTable::Compress(**t, Clusters(1), {});
  ASSERT_TRUE(ct.ok()) << ct.status();
  // 200 features >= min_features (100): compressed into one cluster.
  (*ct)->VisitFields([](const CompressedFieldState& f) {
    ASSERT_EQ(f.vectors.num_clusters(), 1u);
    EXPECT_FLOAT_EQ(f.state[0], 2.f);  // mean of 1 and 3 with equal weights
    EXPECT_EQ(f.steps[0], 1);
  });
}

TEST(CompressedTableTest, RejectsBadConfigsAndEmptyTables) {
  auto plain = PlantedTable();
  SaecConfig bad = Clusters(8);
  bad.set_field_bits(20);
  EXPECT_EQ(CompressedTable::Compress(*plain, bad, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  auto empty = SparseTable::Create(Config());
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(CompressedTable::Compress(**empty, Clusters(8), {}).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(CompressedTableTest, ExpandsBackIntoPlainRowsWithTheirCentroids) {
  auto plain = PlantedTable();
  SaecConfig compact = Clusters(8);  // the MPH index stores no keys
  compact.set_index_layout(SaecConfig::COMPACT);
  auto ct = CompressedTable::Compress(*plain, compact, {});
  ASSERT_TRUE(ct.ok());
  size_t n = 0;
  (*ct)->ForEachKey([&](uint64_t key, const float* v, const float*, int64_t,
                        uint64_t) {
    ++n;
    if ((key >> 56) == 1) {
      EXPECT_NEAR(v[0], 10.f * ((key & 0xffff) % 8), 0.05);
    }
  });
  EXPECT_EQ(n, 2020u);
}

TEST(CompressedTableTest, BuiltTableIsChargedToTheBudgetOrRefused) {
  auto plain = PlantedTable();
  CompressedTable::Options o;
  auto unlimited = CompressedTable::Compress(*plain, Clusters(8), o);
  ASSERT_TRUE(unlimited.ok()) << unlimited.status();
  const uint64_t bytes = (*unlimited)->BudgetBytes();
  EXPECT_EQ(bytes, (*unlimited)->MemoryBytes());

  MemoryBudget small(bytes - 1);
  o.budget = &small;
  const absl::Status s = CompressedTable::Compress(*plain, Clusters(8), o)
                             .status();
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  EXPECT_NE(s.message().find("compressed table emb: "), std::string::npos)
      << s;
  EXPECT_EQ(small.used(), 0u);

  MemoryBudget enough(bytes);
  o.budget = &enough;
  auto charged = CompressedTable::Compress(*plain, Clusters(8), o);
  ASSERT_TRUE(charged.ok()) << charged.status();
  EXPECT_EQ(enough.used(), bytes);
  charged->reset();
  EXPECT_EQ(enough.used(), 0u);
}

}  // namespace
}  // namespace strata
