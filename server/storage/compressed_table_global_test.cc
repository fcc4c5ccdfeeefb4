// Cluster-wide compressed tables (docs/saec.md, "Cluster-wide clusters").
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <vector>

#include "gtest/gtest.h"
#include "server/router/router.h"
#include "server/storage/compressed_table.h"

namespace strata {
namespace {

constexpr uint32_t kDim = 4;

uint64_t Key(uint32_t field, uint64_t feature) {
  return (uint64_t{field} << 56) | feature;
}

TableConfig Config() {
  TableConfig c;
  c.set_name("emb");
  c.set_dim(kDim);
  c.mutable_optimizer()->set_type(OptimizerConfig::SGD);
  c.mutable_optimizer()->set_learning_rate(1.f);
  return c;
}

// Field 1: 800 features, feature i near 10 * (i % 8); field 2: 40
// features, feature i at -i. Keys not owned by shard_id are skipped.
std::unique_ptr<SparseTable> Planted(const ShardRouter* router = nullptr,
                                     uint32_t shard = 0) {
  SparseTable::Options o;
  o.router = router;
  o.shard_id = shard;
  auto t = SparseTable::Create(Config(), o);
  EXPECT_TRUE(t.ok());
  const auto add = [&](uint64_t key, float v, uint64_t freq) {
    if (router != nullptr && router->ShardForKey(key) != shard) return;
    EXPECT_TRUE(
        (*t)->InsertRow(key, std::vector<float>(kDim, v), {}, 0, freq).ok());
  };
  for (uint64_t i = 0; i < 800; ++i) {
    add(Key(1, i), 10.f * (i % 8) + 0.01f * (i % 3), 1 + i % 5);
  }
  for (uint64_t i = 0; i < 40; ++i) add(Key(2, i), -float(i), 1);
  return std::move(*t);
}

// Field 1: the 8 group centres (cluster g at 10 * g); field 2: 0 and -30.
FieldCentroidMap Centroids() {
  FieldCentroidMap m;
  for (int g = 0; g < 8; ++g) {
    m[1].insert(m[1].end(), kDim, 10.f * g);
  }
  m[2].insert(m[2].end(), kDim, 0.f);
  m[2].insert(m[2].end(), kDim, -30.f);
  return m;
}

SaecConfig Config8() {
  SaecConfig c;
  c.set_clusters(8);
  c.set_min_features(10);
  c.set_index_layout(SaecConfig::COMPACT);
  return c;
}

std::unique_ptr<CompressedTable> Global(const SparseTable& plain,
                                        const ShardRouter* router = nullptr,
                                        uint32_t shard = 0) {
  CompressedTable::Options o;
  o.router = router;
  o.shard_id = shard;
  auto t = CompressedTable::Compress(plain, Config8(), o, Centroids());
  EXPECT_TRUE(t.ok()) << t.status();
  return t.ok() ? std::move(*t) : nullptr;
}

TEST(ClusterKeyTest, RoundTripsAndLiesInTheReservedField) {
  for (uint32_t bits : {1u, 8u, 16u}) {
    const uint32_t top = ReservedField(bits);
    for (uint32_t field : {0u, top - 1}) {
      for (uint32_t c : {0u, 7u, 0xffffffffu}) {
        const uint64_t key = ClusterKey(bits, field, c);
        EXPECT_EQ(FieldOfKey(key, bits), top);
        const std::optional<ClusterRef> ref = ParseClusterKey(key, bits);
        ASSERT_TRUE(ref.has_value()) << bits << " " << field << " " << c;
        EXPECT_EQ(ref->field, field);
        EXPECT_EQ(ref->cluster, c);
      }
    }
  }
  // Not of the reserved field, or a field id that is the reserved one.
  EXPECT_FALSE(ParseClusterKey(Key(3, 5), 8).has_value());
  EXPECT_FALSE(ParseClusterKey(ClusterKey(8, 0, 0) | (uint64_t{255} << 32), 8)
                   .has_value());
  // Stray bits between the field and the cluster id.
  EXPECT_FALSE(ParseClusterKey(ClusterKey(8, 1, 0) | (uint64_t{1} << 50), 8)
                   .has_value());
}

TEST(CompressedTableGlobalTest, AssignsEachFeatureToTheNearestGivenCentroid) {
  const auto plain = Planted();
  const auto t = Global(*plain);
  ASSERT_NE(t, nullptr);
  EXPECT_TRUE(t->cluster_wide());
  EXPECT_TRUE(t->saec_config().cluster_wide());
  std::vector<uint64_t> keys = {Key(1, 0), Key(1, 13), Key(2, 3), Key(2, 29)};
  std::vector<uint64_t> resolved(keys.size());
  ASSERT_TRUE(t->Resolve(keys, resolved.data()).ok());
  EXPECT_EQ(resolved[0], ClusterKey(8, 1, 0));
  EXPECT_EQ(resolved[1], ClusterKey(8, 1, 5));  // 13 % 8
  EXPECT_EQ(resolved[2], ClusterKey(8, 2, 0));  // -3 nearer 0 than -30
  EXPECT_EQ(resolved[3], ClusterKey(8, 2, 1));  // -29 nearer -30
  std::vector<float> out(keys.size() * kDim);
  ASSERT_TRUE(t->PullResolved(resolved, false, false, out.data()).ok());
  EXPECT_EQ(out[0], 0.f);
  EXPECT_EQ(out[kDim], 50.f);  // the given centroid, not a local mean
  EXPECT_EQ(out[2 * kDim], 0.f);
  EXPECT_EQ(out[3 * kDim], -30.f);
  for (const FieldStats& s : t->Stats()) {
    EXPECT_TRUE(s.cluster_wide());
    EXPECT_EQ(s.method(), "global");
    EXPECT_EQ(s.clusters(), s.field() == 1 ? 8u : 2u);  // no router: all
  }
}

TEST(CompressedTableGlobalTest, UnresolvedPullsAndPushesAreRefused) {
  const auto plain = Planted();
  const auto t = Global(*plain);
  ASSERT_NE(t, nullptr);
  const std::vector<uint64_t> keys = {Key(1, 1)};
  std::vector<float> out(kDim);
  const absl::Status pull = t->Pull(keys, true, false, out.data());
  EXPECT_EQ(pull.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(pull.message().find("table emb is compressed cluster-wide; "
                                "resolve keys first"),
            std::string::npos)
      << pull;
  EXPECT_EQ(t->Push(keys, out).code(), absl::StatusCode::kFailedPrecondition);
  // A resolved key that an index holds must travel as its ClusterKey.
  EXPECT_EQ(t->PullResolved(keys, false, false, out.data()).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(CompressedTableGlobalTest, BadCentroidsAreRefused) {
  const auto plain = Planted();
  const auto refused = [&](FieldCentroidMap m) {
    return CompressedTable::Compress(*plain, Config8(), {}, m).status().code();
  };
  constexpr auto kInvalid = absl::StatusCode::kInvalidArgument;
  FieldCentroidMap nan = Centroids();
  nan[1][5] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(refused(nan), kInvalid);
  FieldCentroidMap inf = Centroids();
  inf[2][0] = std::numeric_limits<float>::infinity();
  EXPECT_EQ(refused(inf), kInvalid);
  FieldCentroidMap wrong_dim = Centroids();
  wrong_dim[1].push_back(1.f);
  EXPECT_EQ(refused(wrong_dim), kInvalid);
  FieldCentroidMap empty = Centroids();
  empty[1].clear();
  EXPECT_EQ(refused(empty), kInvalid);
  FieldCentroidMap too_many = Centroids();
  too_many[1].assign(size_t{kMaxClusterWideClusters + 1} * kDim, 0.f);
  EXPECT_EQ(refused(too_many), kInvalid);
  FieldCentroidMap reserved = Centroids();
  reserved[255] = reserved[1];
  EXPECT_EQ(refused(reserved), kInvalid);
  FieldCentroidMap missing = Centroids();
  missing.erase(2);  // field 2 has rows
  EXPECT_EQ(refused(missing), kInvalid);
  // cluster_wide is the shard's to set, from the centroids.
  SaecConfig by_hand = Config8();
  by_hand.set_cluster_wide(true);
  EXPECT_EQ(CompressedTable::Compress(*plain, by_hand, {}).status().code(),
            kInvalid);
}

TEST(CompressedTableGlobalTest, ReservedFieldKeysAreRefused) {
  auto plain = Planted();
  {
    auto with_reserved = Planted();
    ASSERT_TRUE(with_reserved
                    ->InsertRow(Key(255, 1), std::vector<float>(kDim, 1.f),
                                {}, 0, 1)
                    .ok());
    EXPECT_EQ(CompressedTable::Compress(*with_reserved, Config8(), {},
                                        Centroids())
                  .status()
                  .code(),
              absl::StatusCode::kInvalidArgument);
  }
  const auto t = Global(*plain);
  ASSERT_NE(t, nullptr);
  uint64_t out_key = 0;
  const uint64_t reserved = Key(255, 1);
  EXPECT_EQ(t->Resolve({&reserved, 1}, &out_key).code(),
            absl::StatusCode::kInvalidArgument);
  std::vector<float> out(kDim);
  // Cluster id >= k, a field without clusters, stray bits.
  for (uint64_t bad : {ClusterKey(8, 1, 8), ClusterKey(8, 7, 0),
                       ClusterKey(8, 1, 0) | (uint64_t{1} << 50)}) {
    EXPECT_EQ(t->PullResolved({&bad, 1}, false, false, out.data()).code(),
              absl::StatusCode::kInvalidArgument)
        << bad;
    EXPECT_EQ(t->PushResolved({&bad, 1}, out).code(),
              absl::StatusCode::kInvalidArgument)
        << bad;
  }
}

TEST(CompressedTableGlobalTest, EachClusterHasOneHomeShard) {
  const auto router = MakeHashRouter(3);
  std::vector<std::unique_ptr<SparseTable>> plain;
  std::vector<std::unique_ptr<CompressedTable>> shards;
  for (uint32_t s = 0; s < 3; ++s) {
    plain.push_back(Planted(router.get(), s));
    shards.push_back(Global(*plain.back(), router.get(), s));
    ASSERT_NE(shards.back(), nullptr);
  }
  uint64_t field1_clusters = 0;
  for (const auto& t : shards) {
    for (const FieldStats& s : t->Stats()) {
      if (s.field() == 1) field1_clusters += s.clusters();
      EXPECT_EQ(s.vectors_after(), s.clusters());
    }
  }
  EXPECT_EQ(field1_clusters, 8u);  // k, whatever the shard count
  std::vector<float> out(kDim);
  for (uint32_t c = 0; c < 8; ++c) {
    const uint64_t key = ClusterKey(8, 1, c);
    const uint32_t home = router->ShardForKey(key);
    for (uint32_t s = 0; s < 3; ++s) {
      const absl::Status st =
          shards[s]->PullResolved({&key, 1}, false, false, out.data());
      if (s == home) {
        ASSERT_TRUE(st.ok()) << st;
        EXPECT_EQ(out[0], 10.f * c);
      } else {
        EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
      }
    }
  }
}

TEST(CompressedTableGlobalTest, ShardsStoreOnlyTheClustersTheyHome) {
  const auto router = MakeHashRouter(3);
  const auto single = Global(*Planted());
  ASSERT_NE(single, nullptr);
  uint64_t stored = 0, bytes = 0;
  for (uint32_t shard = 0; shard < 3; ++shard) {
    const auto plain = Planted(router.get(), shard);
    auto t = Global(*plain, router.get(), shard);
    ASSERT_NE(t, nullptr);
    std::vector<uint32_t> homed;
    for (uint32_t c = 0; c < 8; ++c) {
      if (router->ShardForKey(ClusterKey(8, 1, c)) == shard) homed.push_back(c);
    }
    t->VisitFields([&](const CompressedFieldState& f) {
      if (f.field != 1) return;
      EXPECT_EQ(f.vectors.num_clusters(), 8u);
      ASSERT_EQ(f.vectors.num_rows(), homed.size());
      for (uint32_t r = 0; r < homed.size(); ++r) {
        EXPECT_EQ(f.vectors.ClusterOfRow(r), homed[r]);
      }
      EXPECT_EQ(f.vectors.centroids().size(), homed.size() * kDim);
      EXPECT_EQ(f.steps.size(), homed.size() + 1);
      EXPECT_EQ(f.frequency.size(), homed.size() + 1);
      stored += f.vectors.num_rows();
      bytes += f.vectors.vector_bytes() - kDim * sizeof(float);  // fallback
    });
    for (const FieldStats& s : t->Stats()) {
      if (s.field() == 1) {
        EXPECT_EQ(s.clusters(), homed.size());
      }
    }
    // The homed centroids are served and trained where they are stored.
    const SampleHeadResponse h = t->HomedCentroids();
    for (const HomedCentroids& hc : h.homed()) {
      if (hc.field() != 1) continue;
      ASSERT_EQ(static_cast<size_t>(hc.ids_size()), homed.size());
      for (size_t i = 0; i < homed.size(); ++i) {
        EXPECT_EQ(hc.ids(i), homed[i]);
        float v;
        std::memcpy(&v, hc.values().data() + i * kDim * sizeof(float), 4);
        EXPECT_EQ(v, 10.f * homed[i]);
      }
    }
    for (uint32_t c : homed) {
      const uint64_t key = ClusterKey(8, 1, c);
      ASSERT_TRUE(t->PushResolved({&key, 1}, std::vector<float>(kDim, 1.f))
                      .ok());
      for (uint32_t other : homed) {
        std::vector<float> out(kDim);
        const uint64_t k2 = ClusterKey(8, 1, other);
        ASSERT_TRUE(t->PullResolved({&k2, 1}, false, false, out.data()).ok());
        EXPECT_EQ(out[0], 10.f * other - (other <= c ? 1.f : 0.f))
            << "pushed " << c << ", pulled " << other;
      }
    }
  }
  // Together the shards hold each cluster once: one table's vectors.
  EXPECT_EQ(stored, 8u);
  single->VisitFields([&](const CompressedFieldState& f) {
    if (f.field == 1) {
      EXPECT_EQ(bytes, f.vectors.vector_bytes() - kDim * sizeof(float) +
                           (f.vectors.trimmed() ? 0 : 8 * 4));
    }
  });
}

TEST(CompressedTableGlobalTest, RestoreTrimsFieldsThatStoreEveryCluster) {
  // A cluster-wide checkpoint of format 3 stored every cluster on every
  // shard: Restore keeps the homed ones, with their state and frequencies.
  const auto router = MakeHashRouter(2);
  SaecConfig saec = *NormalizeSaecConfig(Config8());
  saec.set_cluster_wide(true);
  for (uint32_t shard = 0; shard < 2; ++shard) {
    std::vector<float> centroids;
    for (uint32_t c = 0; c < 8; ++c) centroids.insert(centroids.end(), kDim, c);
    std::vector<CompressedFieldState> fields;
    fields.push_back(CompressedFieldState{
        1,
        *compression::CompressedField::Create(
            kDim, centroids, std::vector<float>(kDim, 0.f), {}, {},
            compression::KeyIndexOptions()),
        {},
        {0, 1, 2, 3, 4, 5, 6, 7, 8},
        FieldStats()});
    CompressedTable::Options o;
    o.router = router.get();
    o.shard_id = shard;
    auto t = CompressedTable::Restore(Config(), saec, std::move(fields), o);
    ASSERT_TRUE(t.ok()) << t.status();
    CompressedGrowth g;
    g.fields.push_back({1, {10, 11, 12, 13, 14, 15, 16, 17, 18}, {}, {}});
    ASSERT_TRUE((*t)->RestoreGrowth(std::move(g)).ok());
    uint64_t homed_freq = 0;
    std::vector<uint32_t> homed;
    for (uint32_t c = 0; c < 8; ++c) {
      if (router->ShardForKey(ClusterKey(8, 1, c)) == shard) {
        homed.push_back(c);
        homed_freq += 10 + c;
      }
    }
    (*t)->VisitFields([&](const CompressedFieldState& f) {
      ASSERT_EQ(f.vectors.num_rows(), homed.size());
      for (uint32_t r = 0; r < homed.size(); ++r) {
        EXPECT_EQ(f.vectors.centroids()[r * kDim], float(homed[r]));
        EXPECT_EQ(f.steps[r], homed[r]);
        EXPECT_EQ(f.frequency[r], 10 + homed[r]);
      }
      EXPECT_EQ(f.steps.back(), 8);
      // The rest of the frequency lands in the fallback's slot.
      EXPECT_EQ(f.frequency.back(), 8 * 10 + 28 + 18 - homed_freq);
    });
    EXPECT_EQ((*t)->Stats()[0].frequency(), 8 * 10 + 28 + 18u);
  }
}

TEST(CompressedTableGlobalTest, RestoreRefusesClustersAnotherShardHomes) {
  const auto router = MakeHashRouter(2);
  SaecConfig saec = *NormalizeSaecConfig(Config8());
  saec.set_cluster_wide(true);
  std::vector<uint32_t> homed0;
  for (uint32_t c = 0; c < 8; ++c) {
    if (router->ShardForKey(ClusterKey(8, 1, c)) == 0) homed0.push_back(c);
  }
  ASSERT_FALSE(homed0.empty());
  ASSERT_LT(homed0.size(), 8u);
  // Field 1 of k = 8 storing shard 0's clusters.
  const auto fields_of_shard0 = [&] {
    std::vector<CompressedFieldState> fields;
    fields.push_back(CompressedFieldState{
        1,
        *compression::CompressedField::Create(
            kDim, std::vector<float>(homed0.size() * kDim, 1.f),
            std::vector<float>(kDim, 0.f), {}, {},
            compression::KeyIndexOptions(), {8, homed0}),
        {},
        std::vector<int64_t>(homed0.size() + 1, 0),
        FieldStats()});
    return fields;
  };
  CompressedTable::Options o;
  o.router = router.get();
  o.shard_id = 1;  // shard 0's clusters
  auto t = CompressedTable::Restore(Config(), saec, fields_of_shard0(), o);
  EXPECT_EQ(t.status().code(), absl::StatusCode::kDataLoss) << t.status();
  EXPECT_NE(t.status().message().find("not the"), std::string::npos);
  o.shard_id = 0;  // its own shard: restored
  ASSERT_TRUE(CompressedTable::Restore(Config(), saec, fields_of_shard0(), o)
                  .ok());
  // The same fields on a table that is not cluster-wide: DATA_LOSS.
  saec.set_cluster_wide(false);
  t = CompressedTable::Restore(Config(), saec, fields_of_shard0(), o);
  EXPECT_EQ(t.status().code(), absl::StatusCode::kDataLoss) << t.status();
}

TEST(CompressedTableGlobalTest, AHomeWithoutKeysOfTheFieldServesItsClusters) {
  auto plain = *SparseTable::Create(Config(), SparseTable::Options());
  ASSERT_TRUE(
      plain->InsertRow(Key(1, 1), std::vector<float>(kDim, 1.f), {}, 0, 1)
          .ok());
  for (auto layout : {SaecConfig::COMPACT, SaecConfig::MPH}) {
    SaecConfig config = Config8();
    config.set_index_layout(layout);
    auto t = CompressedTable::Compress(*plain, config, {}, Centroids());
    ASSERT_TRUE(t.ok()) << t.status();
    // Field 2 has no rows here, but its clusters are served.
    const uint64_t key = ClusterKey(8, 2, 1);
    std::vector<float> out(kDim);
    ASSERT_TRUE((*t)->PullResolved({&key, 1}, false, false, out.data()).ok());
    EXPECT_EQ(out[0], -30.f);
    ASSERT_TRUE((*t)->PushResolved({&key, 1}, std::vector<float>(kDim, 1.f))
                    .ok());
    const uint64_t unseen = Key(2, 5);
    uint64_t r = 0;
    ASSERT_TRUE((*t)->Resolve({&unseen, 1}, &r).ok());
    EXPECT_EQ(r, unseen);
    for (const FieldStats& s : (*t)->Stats()) {
      if (s.field() == 2) {
        EXPECT_EQ(s.features(), 0u);
      }
    }
  }
}

TEST(CompressedTableGlobalTest, ResolvedPushTrainsTheCentroidOnce) {
  const auto plain = Planted();
  const auto t = Global(*plain);
  ASSERT_NE(t, nullptr);
  const uint64_t key = ClusterKey(8, 1, 2);
  const std::vector<float> grad(kDim, 0.5f);
  ASSERT_TRUE(t->PushResolved({&key, 1}, grad).ok());
  std::vector<float> out(kDim);
  ASSERT_TRUE(t->PullResolved({&key, 1}, false, false, out.data()).ok());
  EXPECT_FLOAT_EQ(out[0], 20.f - 0.5f);  // SGD, learning rate 1
  // A new key resolves to itself and gets an overflow row.
  const uint64_t fresh = Key(1, 5000);
  uint64_t r = 0;
  ASSERT_TRUE(t->Resolve({&fresh, 1}, &r).ok());
  EXPECT_EQ(r, fresh);
  ASSERT_TRUE(t->PushResolved({&fresh, 1}, grad).ok());
  EXPECT_EQ(t->rows(), 841u);
}

TEST(CompressedTableGlobalTest, FoldUsesTheGivenCentroids) {
  const auto plain = Planted();
  const auto t = Global(*plain);
  ASSERT_NE(t, nullptr);
  const uint64_t fresh = Key(1, 9000);
  std::vector<float> grad(kDim, 0.f);
  ASSERT_TRUE(t->PushResolved({&fresh, 1}, grad).ok());  // a new row
  // Fold towards centroids that moved: the new row's initial value (near
  // 0) is nearest to centroid 7 once it sits at 0.
  FieldCentroidMap moved;
  for (int g = 0; g < 8; ++g) {
    moved[1].insert(moved[1].end(), kDim, g == 7 ? 0.f : 100.f + g);
  }
  ASSERT_TRUE(t->Fold(1, moved).ok());
  uint64_t r = 0;
  ASSERT_TRUE(t->Resolve({&fresh, 1}, &r).ok());
  EXPECT_EQ(r, ClusterKey(8, 1, 7));
  FieldCentroidMap bad;
  bad[1].assign(3 * kDim, 0.f);  // k does not match
  EXPECT_EQ(t->Fold(1, bad).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(SampleHeadTest, SendsTheHeadAndABoundedTailSample) {
  const auto plain = Planted();
  SaecConfig c;
  c.set_head_count(100);
  auto s = SampleHead(*plain, c, 150, 1 << 20);
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_EQ(s->fields_size(), 2);
  const FieldSample& f1 = s->fields(0);
  EXPECT_EQ(f1.field(), 1u);
  EXPECT_EQ(f1.features(), 800u);
  EXPECT_EQ(f1.head_features(), 100u);
  EXPECT_FALSE(f1.truncated());
  EXPECT_LE(f1.weights_size(), 150);
  EXPECT_GT(f1.weights_size(), 100);
  EXPECT_EQ(f1.vectors().size(), f1.weights_size() * kDim * sizeof(float));
  EXPECT_EQ(f1.weights(0), 5.0);  // hottest first
  EXPECT_EQ(s->dim(), kDim);
  EXPECT_EQ(s->config().field_bits(), 8u);  // normalized
  // A head larger than the cap is truncated to its hottest features.
  auto small = SampleHead(*plain, c, 50, 1 << 20);
  ASSERT_TRUE(small.ok());
  EXPECT_TRUE(small->fields(0).truncated());
  EXPECT_EQ(small->fields(0).weights_size(), 50);
  EXPECT_EQ(SampleHead(*plain, c, kMaxSamplesPerField + 1, 1 << 20)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SampleHead(*plain, c, 150, 1000).status().code(),
            absl::StatusCode::kResourceExhausted);
  SaecConfig bad;
  bad.set_head_mass(2);
  EXPECT_EQ(SampleHead(*plain, bad, 0, 1 << 20).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace strata
