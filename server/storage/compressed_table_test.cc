#include "server/storage/compressed_table.h"

#include <atomic>
#include <cmath>
#include <limits>
#include <random>
#include <thread>
#include <utility>

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
  for (double bad : {std::numeric_limits<double>::quiet_NaN(),
                     std::numeric_limits<double>::infinity()}) {
    c = SaecConfig();
    c.set_max_mse(bad);
    EXPECT_EQ(NormalizeSaecConfig(c).status().code(),
              absl::StatusCode::kInvalidArgument);
    c = SaecConfig();
    c.set_target_ratio(bad);
    EXPECT_EQ(NormalizeSaecConfig(c).status().code(),
              absl::StatusCode::kInvalidArgument);
  }
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

TEST(CompressedTableTest, NewKeysGetRowsOfTheirOwnFromTheInitializer) {
  auto plain = PlantedTable();
  auto ct = CompressedTable::Compress(*plain, Clusters(8), {});
  ASSERT_TRUE(ct.ok());
  std::vector<uint64_t> keys = {Key(1, 999999), Key(9, 1)};
  std::vector<float> out(2 * kDim, 7.f);
  // read_only: the initializer's values, nothing created.
  ASSERT_TRUE((*ct)->Pull(keys, true, true, out.data()).ok());
  EXPECT_EQ(out, std::vector<float>(2 * kDim, 0.f));
  EXPECT_EQ((*ct)->rows(), 2020u);
  ASSERT_TRUE((*ct)->Pull(keys, true, false, out.data()).ok());
  EXPECT_EQ(out, std::vector<float>(2 * kDim, 0.f));  // the (zeros) initializer
  EXPECT_EQ((*ct)->rows(), 2022u);
  EXPECT_EQ((*ct)->unknown_field_keys(), 2u);  // Key(9, 1), twice
}

TEST(CompressedTableTest, NewKeysTrainTheirOwnRowsNotTheClusters) {
  auto plain = PlantedTable();
  auto ct = CompressedTable::Compress(*plain, Clusters(8), {});
  ASSERT_TRUE(ct.ok());
  std::vector<uint64_t> keys = {Key(1, 999999), Key(1, 3), Key(9, 1)};
  std::vector<float> before(3 * kDim), after(3 * kDim);
  ASSERT_TRUE((*ct)->Pull(keys, false, false, before.data()).ok());
  std::vector<float> grads(3 * kDim);
  for (size_t i = 0; i < grads.size(); ++i) grads[i] = float(1 + i / kDim);
  ASSERT_TRUE((*ct)->Push(keys, grads).ok());
  ASSERT_TRUE((*ct)->Pull(keys, false, false, after.data()).ok());
  for (size_t i = 0; i < after.size(); ++i) {  // SGD, learning rate 1
    EXPECT_FLOAT_EQ(after[i], before[i] - grads[i]) << i;
  }
  const std::vector<FieldStats> stats = (*ct)->Stats();
  ASSERT_EQ(stats.size(), 3u);  // fields 1, 2 and the new field 9
  EXPECT_EQ(stats[0].new_rows(), 1u);
  EXPECT_EQ(stats[0].frequency(), 2u);  // one push each: Key(1, 3), new key
  EXPECT_GT(stats[0].growth_bytes(), 0u);
  EXPECT_EQ(stats[2].field(), 9u);
  EXPECT_EQ(stats[2].method(), "new");
  EXPECT_EQ(stats[2].new_rows(), 1u);
  EXPECT_EQ(stats[2].clusters(), 0u);
}

TEST(CompressedTableTest, CompressedTablesKeepCountingFrequencyPerCluster) {
  auto plain = PlantedTable();
  auto ct = CompressedTable::Compress(*plain, Clusters(8), {});
  ASSERT_TRUE(ct.ok());
  std::vector<uint64_t> keys = {Key(1, 3), Key(1, 11), Key(1, 4)};
  std::vector<float> out(3 * kDim);
  ASSERT_TRUE((*ct)->Pull(keys, true, false, out.data()).ok());
  ASSERT_TRUE((*ct)->Pull(keys, false, false, out.data()).ok());  // uncounted
  ASSERT_TRUE((*ct)->Push(keys, std::vector<float>(3 * kDim, 0.f)).ok());
  EXPECT_EQ((*ct)->Stats()[0].frequency(), 6u);
  const CompressedGrowth g = (*ct)->Growth();
  ASSERT_EQ(g.fields.size(), 2u);
  uint64_t group3 = 0, total = 0;
  (*ct)->VisitFields([&](const CompressedFieldState& f) {
    if (f.field != 1) return;
    const uint32_t c = f.vectors.ClusterOf(Key(1, 3)).value();
    group3 = g.fields[0].frequency[c];
    for (uint64_t n : g.fields[0].frequency) total += n;
  });
  EXPECT_EQ(group3, 4u);  // keys 3 and 11 share a cluster: 2 pulls, 2 pushes
  EXPECT_EQ(total, 6u);
}

TEST(CompressedTableTest, FrozenTablesServeNewKeysTheFieldFallback) {
  auto plain = PlantedTable();
  SaecConfig config = Clusters(8);
  config.set_freeze_new_keys(true);
  auto ct = CompressedTable::Compress(*plain, config, {});
  ASSERT_TRUE(ct.ok());
  std::vector<uint64_t> keys = {Key(1, 999999), Key(1, 888888), Key(9, 1)};
  std::vector<float> before(3 * kDim), after(3 * kDim);
  ASSERT_TRUE((*ct)->Pull(keys, true, false, before.data()).ok());
  // Frequency-weighted mean of field 1: groups weighted by 1 + i % 5.
  double num = 0, den = 0;
  for (int i = 0; i < 2000; ++i) {
    num += (1 + i % 5) * 10.0 * (i % 8);
    den += 1 + i % 5;
  }
  EXPECT_NEAR(before[0], num / den, 0.05);
  EXPECT_EQ(before[kDim], before[0]);  // one shared fallback
  EXPECT_EQ(before[2 * kDim], 0.f);    // unknown field: the initializer
  ASSERT_TRUE((*ct)->Push(keys, std::vector<float>(3 * kDim, 1.f)).ok());
  ASSERT_TRUE((*ct)->Pull(keys, false, false, after.data()).ok());
  EXPECT_FLOAT_EQ(after[0], before[0] - 1);  // the fallback trained (mean)
  EXPECT_EQ(after[2 * kDim], 0.f);           // dropped
  EXPECT_EQ((*ct)->rows(), 2020u);           // no rows created
  EXPECT_EQ((*ct)->unknown_field_keys(), 3u);
}

TEST(CompressedTableTest, UnknownClusterGradientIsRefused) {
  SaecConfig c;
  c.set_cluster_gradient(static_cast<ClusterGradient>(7));
  EXPECT_EQ(NormalizeSaecConfig(c).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(NormalizeSaecConfig(SaecConfig())->cluster_gradient(),
            CLUSTER_GRADIENT_MEAN);
}

TEST(CompressedTableTest, NewRowsThatDoNotFitTheBudgetAreRefusedPrecisely) {
  auto plain = PlantedTable();
  auto unlimited = CompressedTable::Compress(*plain, Clusters(8), {});
  ASSERT_TRUE(unlimited.ok());
  // Room for the compressed table and exactly one new row.
  MemoryBudget budget((*unlimited)->BudgetBytes() + plain->bytes_per_row());
  CompressedTable::Options o;
  o.budget = &budget;
  auto ct = CompressedTable::Compress(*plain, Clusters(8), o);
  ASSERT_TRUE(ct.ok()) << ct.status();
  std::vector<uint64_t> indexed = {Key(1, 3)};
  std::vector<float> before(kDim), after(kDim);
  ASSERT_TRUE((*ct)->Pull(indexed, false, false, before.data()).ok());
  // Two new keys do not fit: the pull and the push fail, and the push's
  // indexed key is not applied either.
  std::vector<uint64_t> two = {Key(1, 900000), Key(1, 900001)};
  std::vector<float> out(2 * kDim);
  EXPECT_EQ((*ct)->Pull(two, false, false, out.data()).code(),
            absl::StatusCode::kResourceExhausted);
  std::vector<uint64_t> mixed = {Key(1, 3), Key(1, 900000), Key(1, 900001)};
  EXPECT_EQ((*ct)->Push(mixed, std::vector<float>(3 * kDim, 1.f)).code(),
            absl::StatusCode::kResourceExhausted);
  ASSERT_TRUE((*ct)->Pull(indexed, false, false, after.data()).ok());
  EXPECT_EQ(before, after);
  EXPECT_EQ((*ct)->rows(), 2020u);
  // One fits, and is charged.
  std::vector<uint64_t> one = {Key(1, 900000)};
  ASSERT_TRUE((*ct)->Pull(one, false, false, out.data()).ok());
  EXPECT_EQ(budget.used(), budget.limit());
  EXPECT_EQ((*ct)->BudgetBytes(), budget.used());
  ct->reset();
  EXPECT_EQ(budget.used(), 0u);
}

// Pushes new keys of field 1 to (value, value, ...) with SGD at rate 1.
void TrainNewKeys(CompressedTable& ct, const std::vector<uint64_t>& keys,
                  float value) {
  std::vector<float> cur(keys.size() * kDim), grads(keys.size() * kDim);
  ASSERT_TRUE(ct.Pull(keys, false, false, cur.data()).ok());
  for (size_t i = 0; i < grads.size(); ++i) grads[i] = cur[i] - value;
  ASSERT_TRUE(ct.Push(keys, grads).ok());
}

TEST(CompressedTableTest, FoldMovesNewRowsIntoTheirNearestClusters) {
  auto plain = PlantedTable();
  MemoryBudget budget(uint64_t{1} << 30);
  CompressedTable::Options o;
  o.budget = &budget;
  auto ct = CompressedTable::Compress(*plain, Clusters(8), o);
  ASSERT_TRUE(ct.ok());
  std::vector<uint64_t> near3, near6;
  for (uint64_t i = 0; i < 50; ++i) {
    near3.push_back(Key(1, 100000 + i));
    near6.push_back(Key(1, 200000 + i));
  }
  TrainNewKeys(**ct, near3, 29.f);
  TrainNewKeys(**ct, near6, 61.f);
  TrainNewKeys(**ct, {Key(9, 1)}, 5.f);  // a field without clusters
  const uint64_t used_before = budget.used();
  auto stats = (*ct)->Fold(1);
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ((*stats)[0].folded_features(), 100u);
  EXPECT_EQ((*stats)[0].new_rows(), 0u);
  EXPECT_EQ((*stats)[2].new_rows(), 1u);  // field 9 stays
  EXPECT_EQ((*ct)->rows(), 2020u + 101u);
  EXPECT_LT(budget.used(), used_before);  // 8 B/key instead of a row
  EXPECT_EQ(budget.used(), (*ct)->BudgetBytes());
  std::vector<uint64_t> probe = {near3[0], Key(1, 3), near6[7], Key(1, 6),
                                 Key(9, 1)};
  std::vector<float> out(probe.size() * kDim);
  ASSERT_TRUE((*ct)->Pull(probe, false, false, out.data()).ok());
  EXPECT_EQ(out[0], out[kDim]);             // group 3's centroid
  EXPECT_EQ(out[2 * kDim], out[3 * kDim]);  // group 6's centroid
  EXPECT_FLOAT_EQ(out[4 * kDim], 5.f);      // still its own row
  // Folded keys train their cluster, and a second fold keeps them.
  const float c3 = out[0];
  ASSERT_TRUE((*ct)->Push({near3[1]}, {1, 1, 1, 1}).ok());
  ASSERT_TRUE((*ct)->Pull({Key(1, 3)}, false, false, out.data()).ok());
  EXPECT_FLOAT_EQ(out[0], c3 - 1);
  ASSERT_TRUE((*ct)->Fold(1).ok());
  EXPECT_EQ((*ct)->Stats()[0].folded_features(), 100u);
  ct->reset();
  EXPECT_EQ(budget.used(), 0u);
}

TEST(CompressedTableTest, FoldKeepsPushesThatArriveBeforeTheSwap) {
  auto plain = PlantedTable();
  CompressedTable* table = nullptr;
  const uint64_t moved = Key(1, 100000), late = Key(1, 100001);
  CompressedTable::Options o;
  // Between the search and the swap: `moved` is pushed from group 3 to
  // group 6, and `late` is created.
  o.before_fold_swap = [&] {
    TrainNewKeys(*table, {moved}, 60.f);
    TrainNewKeys(*table, {late}, 42.f);
  };
  auto ct = CompressedTable::Compress(*plain, Clusters(8), o);
  ASSERT_TRUE(ct.ok());
  table = ct->get();
  TrainNewKeys(*table, {moved}, 30.f);
  ASSERT_TRUE(table->Fold(1).ok());
  std::vector<uint64_t> probe = {moved, Key(1, 6), late};
  std::vector<float> out(3 * kDim);
  ASSERT_TRUE(table->Pull(probe, false, false, out.data()).ok());
  EXPECT_EQ(out[0], out[kDim]);          // folded where its last push put it
  EXPECT_FLOAT_EQ(out[2 * kDim], 42.f);  // created after the snapshot: a row
  EXPECT_EQ(table->Stats()[0].folded_features(), 1u);
  EXPECT_EQ(table->Stats()[0].new_rows(), 1u);
}

// With the exact COMPACT index: under MPH a fraction 2^-f of the new keys
// would match a stored key's fingerprint and never get a row, so the row
// count below would not be exact.
TEST(CompressedTableTest, FoldRunsWhilePullsAndPushesGoOn) {
  auto plain = PlantedTable();
  SaecConfig config = Clusters(8);
  config.set_index_layout(SaecConfig::COMPACT);
  auto ct = CompressedTable::Compress(*plain, config, {});
  ASSERT_TRUE(ct.ok());
  CompressedTable& table = **ct;
  constexpr int kThreads = 3, kKeysPerThread = 300;
  std::atomic<bool> stop{false};
  std::vector<std::thread> workers;
  for (int t = 0; t < kThreads; ++t) {
    workers.emplace_back([&, t] {
      std::vector<float> out(2 * kDim);
      for (int i = 0; i < kKeysPerThread; ++i) {
        std::vector<uint64_t> keys = {Key(1, 500000 + t * 10000 + i),
                                      Key(1, uint64_t(i % 2000))};
        ASSERT_TRUE(table.Pull(keys, true, false, out.data()).ok());
        ASSERT_TRUE(table.Push(keys, std::vector<float>(2 * kDim, 0.f)).ok());
      }
    });
  }
  int folds = 0;
  for (; folds < 3 || table.rows() < 2020u + kThreads * kKeysPerThread;
       ++folds) {
    ASSERT_LT(folds, 1000000) << "the new keys never all arrived";
    ASSERT_TRUE(table.Fold(1).ok());
  }
  for (std::thread& w : workers) w.join();
  ASSERT_TRUE(table.Fold(1).ok());
  // Every new key is still known (folded now), and every pull and push of
  // it was counted: 2 per key, plus 2 per indexed-key visit.
  EXPECT_EQ(table.rows(), 2020u + kThreads * kKeysPerThread);
  const FieldStats f = table.Stats()[0];
  EXPECT_EQ(f.folded_features(), uint64_t{kThreads * kKeysPerThread});
  EXPECT_EQ(f.new_rows(), 0u);
  EXPECT_EQ(f.frequency(), uint64_t{4 * kThreads * kKeysPerThread});
}
// Keys 3 and 11 share a cluster: a push of gradients 1 and 2 for them moves
// it (SGD at rate 1) by their sum or by their mean.
TEST(CompressedTableTest, PushCombinesGradientsPerClusterSumOrMean) {
  for (auto [mode, step] : {std::pair{CLUSTER_GRADIENT_SUM, 3.f},
                            std::pair{CLUSTER_GRADIENT_MEAN, 1.5f}}) {
    SCOPED_TRACE(ClusterGradient_Name(mode));
    auto plain = PlantedTable();
    SaecConfig config = Clusters(8);
    config.set_cluster_gradient(mode);
    auto ct = CompressedTable::Compress(*plain, config, {});
    ASSERT_TRUE(ct.ok());
    std::vector<uint64_t> one = {Key(1, 3)};
    std::vector<float> before(kDim), after(kDim);
    ASSERT_TRUE((*ct)->Pull(one, false, false, before.data()).ok());
    std::vector<uint64_t> keys = {Key(1, 3), Key(1, 11)};
    ASSERT_TRUE((*ct)->Push(keys, {1, 1, 1, 1, 2, 2, 2, 2}).ok());
    std::vector<uint64_t> other = {Key(1, 19)};  // also group 3
    ASSERT_TRUE((*ct)->Pull(other, false, false, after.data()).ok());
    for (uint32_t j = 0; j < kDim; ++j) {
      EXPECT_FLOAT_EQ(after[j], before[j] - step);
    }
  }
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
  EXPECT_EQ((*ct)->Push({}, absl::Span<const float>()).code(),
            absl::StatusCode::kInvalidArgument);
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
  (*ct)->ForEachKey(
      [&](uint64_t key, const float* v, const float*, int64_t, uint64_t) {
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
  EXPECT_LE(bytes, (*unlimited)->MemoryBytes());  // + the empty overflow

  MemoryBudget small(bytes - 1);
  o.budget = &small;
  const absl::Status s =
      CompressedTable::Compress(*plain, Clusters(8), o).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  EXPECT_NE(s.message().find("compressed table emb: "), std::string::npos) << s;
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
