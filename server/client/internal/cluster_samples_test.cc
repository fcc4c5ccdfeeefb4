#include "server/client/internal/cluster_samples.h"

#include <cstring>
#include <vector>

#include "gtest/gtest.h"

namespace strata {
namespace internal {
namespace {

// One shard's samples of field 3 (dim 2): `points` with weight 1 each.
SampleHeadResponse Shard(const std::vector<float>& points, uint64_t k) {
  SampleHeadResponse r;
  r.set_dim(2);
  r.mutable_config()->set_clusters(k);
  r.mutable_config()->set_seed(1);
  r.mutable_config()->set_max_iters(20);
  FieldSample* f = r.add_fields();
  f->set_field(3);
  f->set_features(points.size() / 2);
  f->set_vectors(points.data(), points.size() * sizeof(float));
  for (size_t i = 0; i < points.size() / 2; ++i) f->add_weights(1.0);
  return r;
}

std::vector<float> Floats(const std::string& bytes) {
  std::vector<float> v(bytes.size() / sizeof(float));
  std::memcpy(v.data(), bytes.data(), bytes.size());
  return v;
}

TEST(ClusterSamplesTest, ClustersTheUnionOfTheShardsSamplesOnce) {
  // Two groups, each split between the shards.
  auto c = ClusterSamples({Shard({0, 0, 10, 10, 0, 0.2f}, 2),
                           Shard({10, 10.2f, 0.1f, 0, 10.1f, 10}, 2)});
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(c->size(), 1u);
  EXPECT_EQ((*c)[0].field(), 3u);
  std::vector<float> v = Floats((*c)[0].values());
  ASSERT_EQ(v.size(), 4u);
  if (v[0] > v[2]) std::swap_ranges(v.begin(), v.begin() + 2, v.begin() + 2);
  EXPECT_NEAR(v[0], 0.033f, 1e-3);
  EXPECT_NEAR(v[2], 10.033f, 1e-3);
}

// Four groups of 20 samples at (10 g, 0) +- 0.1 on two shards.
std::vector<SampleHeadResponse> FourGroups(double max_mse) {
  std::vector<SampleHeadResponse> shards;
  for (int s = 0; s < 2; ++s) {
    std::vector<float> points;
    for (int g = 0; g < 4; ++g) {
      for (int i = 0; i < 10; ++i) {
        points.push_back(10.f * g + 0.01f * (i - 5));
        points.push_back(0.01f * s);
      }
    }
    shards.push_back(Shard(points, 0));
    shards.back().mutable_config()->set_max_mse(max_mse);
  }
  return shards;
}

TEST(ClusterSamplesTest, MaxMseSearchesTheFewestClustersOnTheSamples) {
  // Within-group MSE is ~0.001; any 3 clusters merge two groups (MSE >=
  // 100 / 4 = 25 over the merged half): the budget 1 needs all 4 groups.
  auto c = ClusterSamples(FourGroups(1.0));
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(c->size(), 1u);
  const std::vector<float> v = Floats((*c)[0].values());
  const size_t k = v.size() / 2;
  EXPECT_GE(k, 4u);
  EXPECT_LE(k, 5u);  // the search's precision: the smallest k it found
  // A loose budget takes fewer clusters.
  auto loose = ClusterSamples(FourGroups(1000.0));
  ASSERT_TRUE(loose.ok()) << loose.status();
  EXPECT_LT((*loose)[0].values().size() / 8, k);
}

TEST(ClusterSamplesTest, RefusesDisagreeingShards) {
  SampleHeadResponse other_dim = Shard({0, 0}, 2);
  other_dim.set_dim(1);
  EXPECT_EQ(ClusterSamples({Shard({0, 0}, 2), other_dim}).status().code(),
            absl::StatusCode::kInvalidArgument);
  SampleHeadResponse torn = Shard({0, 0, 1, 1}, 2);
  torn.mutable_fields(0)->add_weights(1.0);
  EXPECT_EQ(ClusterSamples({torn}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

SampleHeadResponse Homed(std::vector<uint32_t> ids, uint32_t k) {
  SampleHeadResponse r;
  r.set_dim(1);
  r.set_cluster_wide(true);
  HomedCentroids* h = r.add_homed();
  h->set_field(2);
  h->set_clusters(k);
  std::vector<float> v;
  for (uint32_t id : ids) {
    h->add_ids(id);
    v.push_back(static_cast<float>(id) * 10);
  }
  h->set_values(v.data(), v.size() * sizeof(float));
  return r;
}

TEST(GatherHomedCentroidsTest, AssemblesEachFieldFromItsHomes) {
  auto c = GatherHomedCentroids({Homed({1}, 3), Homed({0, 2}, 3)});
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(c->size(), 1u);
  EXPECT_EQ(Floats((*c)[0].values()), (std::vector<float>{0, 10, 20}));
  EXPECT_EQ(GatherHomedCentroids({Homed({1}, 3), Homed({0}, 3)})
                .status()
                .code(),
            absl::StatusCode::kFailedPrecondition);  // cluster 2: no home
  EXPECT_EQ(GatherHomedCentroids({Homed({0, 1}, 3), Homed({1, 2}, 3)})
                .status()
                .code(),
            absl::StatusCode::kFailedPrecondition);  // cluster 1: two
  EXPECT_EQ(GatherHomedCentroids({Homed({0, 1, 2}, 3), Homed({}, 4)})
                .status()
                .code(),
            absl::StatusCode::kFailedPrecondition);  // k disagrees
}

}  // namespace
}  // namespace internal
}  // namespace strata
