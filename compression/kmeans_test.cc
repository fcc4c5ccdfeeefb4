#include "compression/kmeans.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "absl/status/status.h"
#include "compression/internal/distance.h"
#include "compression/internal/synthetic.h"
#include "gtest/gtest.h"

namespace strata::compression {
namespace {

using internal::SyntheticField;
using internal::SyntheticSpec;

SyntheticField Blobs(int64_t n, int dim, int groups, uint64_t seed) {
  SyntheticSpec spec;
  spec.n = n;
  spec.dim = dim;
  spec.groups = groups;
  spec.centre_stddev = 5.0;
  spec.noise_stddev = 0.1;
  spec.seed = seed;
  return internal::MakeSyntheticField(spec);
}

std::vector<double> Weights(const SyntheticField& f) {
  return std::vector<double>(f.frequencies.begin(), f.frequencies.end());
}

KMeansOptions Opts(KMeansOptions::Init init, int threads) {
  KMeansOptions o;
  o.init = init;
  o.num_threads = threads;
  o.max_iters = 30;
  o.seed = 7;
  return o;
}

bool BitwiseEqual(const KMeansResult& a, const KMeansResult& b) {
  return a.k == b.k && a.assignment == b.assignment &&
         a.centroids.size() == b.centroids.size() &&
         std::memcmp(a.centroids.data(), b.centroids.data(),
                     a.centroids.size() * sizeof(float)) == 0 &&
         std::memcmp(&a.objective, &b.objective, sizeof(double)) == 0 &&
         a.iterations.size() == b.iterations.size();
}

TEST(KMeansTest, RecoversWellSeparatedPlantedBlobs) {
  // k-means++ puts one seed in each blob with overwhelming probability; plain
  // sampling may put two in one blob, which Lloyd cannot always undo.
  for (uint64_t seed : {1, 2, 3}) {
    const SyntheticField f = Blobs(3000, 8, 6, seed);
    absl::StatusOr<KMeansResult> r =
        KMeans(f.vectors, 8, Weights(f), 6,
               Opts(KMeansOptions::Init::kKMeansPlusPlus, 2));
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_GE(internal::AdjustedRandIndex(r->assignment, f.group), 0.999);
  }
}

TEST(KMeansTest, WeightedDistortionNeverWorseThanRandomCentroids) {
  const SyntheticField f = Blobs(2000, 6, 40, 2);
  const std::vector<double> w = Weights(f);
  absl::StatusOr<KMeansResult> r = KMeans(
      f.vectors, 6, w, 20, Opts(KMeansOptions::Init::kKMeansPlusPlus, 2));
  ASSERT_TRUE(r.ok());
  std::mt19937_64 rng(3);
  for (int trial = 0; trial < 20; ++trial) {
    double objective = 0;
    std::vector<size_t> picks(20);
    for (size_t& p : picks) p = rng() % 2000;
    for (size_t i = 0; i < 2000; ++i) {
      float best = std::numeric_limits<float>::max();
      for (size_t p : picks) {
        best = std::min(
            best, internal::SquaredL2(&f.vectors[i * 6], &f.vectors[p * 6], 6));
      }
      objective += w[i] * best;
    }
    EXPECT_LE(r->objective, objective) << trial;
  }
}

TEST(KMeansTest, SameSeedGivesBitwiseIdenticalResultForAnyThreadCount) {
  const SyntheticField f = Blobs(5000, 16, 50, 3);
  for (auto init : {KMeansOptions::Init::kKMeansPlusPlus,
                    KMeansOptions::Init::kWeightedSample,
                    KMeansOptions::Init::kBatchedPlusPlus}) {
    auto one = KMeans(f.vectors, 16, Weights(f), 64, Opts(init, 1));
    auto one_again = KMeans(f.vectors, 16, Weights(f), 64, Opts(init, 1));
    auto two = KMeans(f.vectors, 16, Weights(f), 64, Opts(init, 2));
    auto three = KMeans(f.vectors, 16, Weights(f), 64, Opts(init, 3));
    ASSERT_TRUE(one.ok() && one_again.ok() && two.ok() && three.ok());
    EXPECT_TRUE(BitwiseEqual(*one, *one_again));
    EXPECT_TRUE(BitwiseEqual(*one, *two));
    EXPECT_TRUE(BitwiseEqual(*one, *three));
  }
}

// 256 groups far apart (centres ~ N(0, 25 I), noise 0.01): batched seeding
// (rounds of up to k / 64 = 4 draws) must leave exactly one seed per group
// before any Lloyd update, for any thread count, bitwise identically.
TEST(KMeansTest, BatchedSeedingPutsOneSeedInEveryWellSeparatedGroup) {
  SyntheticSpec spec;
  spec.n = 8192;
  spec.dim = 8;
  spec.groups = 256;
  spec.centre_stddev = 5.0;
  spec.noise_stddev = 0.01;
  spec.seed = 11;
  const SyntheticField f = internal::MakeSyntheticField(spec);
  KMeansOptions o = Opts(KMeansOptions::Init::kBatchedPlusPlus, 1);
  o.max_iters = 0;
  auto one = KMeans(f.vectors, 8, {}, 256, o);
  o.num_threads = 2;
  auto two = KMeans(f.vectors, 8, {}, 256, o);
  ASSERT_TRUE(one.ok() && two.ok());
  EXPECT_EQ(internal::AdjustedRandIndex(one->assignment, f.group), 1.0);
  EXPECT_TRUE(BitwiseEqual(*one, *two));
}

TEST(KMeansTest, BatchedSeedingWithFewerDistinctPointsThanKTerminates) {
  const std::vector<float> points = {1, 1, 1, 1, 1, 1, 2, 2};  // dim 2
  KMeansOptions o = Opts(KMeansOptions::Init::kBatchedPlusPlus, 1);
  auto r = KMeans(points, 2, {}, 3, o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->k, 3u);
  EXPECT_EQ(r->objective, 0.0);
}

TEST(KMeansTest, DifferentSeedsGiveDifferentInitialisations) {
  const SyntheticField f = Blobs(2000, 4, 200, 4);
  KMeansOptions a = Opts(KMeansOptions::Init::kWeightedSample, 1), b = a;
  a.max_iters = b.max_iters = 0;
  b.seed = 8;
  auto ra = KMeans(f.vectors, 4, {}, 50, a),
       rb = KMeans(f.vectors, 4, {}, 50, b);
  ASSERT_TRUE(ra.ok() && rb.ok());
  EXPECT_NE(ra->centroids, rb->centroids);
}

// Candidate lists (KMeansOptions::candidates): passes after the first
// compare each point only with its few nearest centroids of the last
// exhaustive pass. Still bitwise identical for any thread count, J never
// increases, the lists hold each point's centroid, and c >= k is plain
// Lloyd.
TEST(KMeansTest, CandidateListsAreDeterministicAndNeverIncreaseTheObjective) {
  const SyntheticField f = Blobs(5000, 16, 50, 3);
  for (auto init : {KMeansOptions::Init::kWeightedSample,
                    KMeansOptions::Init::kBatchedPlusPlus}) {
    KMeansOptions o = Opts(init, 1);
    o.candidates = 4;
    o.tol = 0;
    o.max_iters = 8;
    auto one = KMeans(f.vectors, 16, Weights(f), 64, o);
    o.num_threads = 3;
    auto three = KMeans(f.vectors, 16, Weights(f), 64, o);
    ASSERT_TRUE(one.ok() && three.ok());
    EXPECT_TRUE(BitwiseEqual(*one, *three));
    EXPECT_EQ(one->candidates, three->candidates);
    ASSERT_EQ(one->candidates.size(), 5000u * 4);
    for (size_t i = 0; i < 5000; ++i) {
      const uint32_t* c = &one->candidates[i * 4];
      EXPECT_NE(std::find(c, c + 4, one->assignment[i]), c + 4) << i;
    }
    for (size_t i = 1; i < one->iterations.size(); ++i) {
      EXPECT_LE(one->iterations[i].objective,
                one->iterations[i - 1].objective * (1 + 1e-6))
          << i;
    }
    KMeansOptions plain = Opts(init, 2);
    plain.tol = 0;
    plain.max_iters = 8;
    auto exhaustive = KMeans(f.vectors, 16, Weights(f), 64, plain);
    plain.candidates = 64;  // >= k: every pass exhaustive
    auto all = KMeans(f.vectors, 16, Weights(f), 64, plain);
    ASSERT_TRUE(exhaustive.ok() && all.ok());
    EXPECT_TRUE(BitwiseEqual(*exhaustive, *all));
    EXPECT_TRUE(all->candidates.empty());
  }
}

TEST(KMeansTest, ObjectiveNeverIncreasesAcrossIterations) {
  const SyntheticField f = Blobs(4000, 8, 300, 5);
  KMeansOptions o = Opts(KMeansOptions::Init::kWeightedSample, 2);
  o.tol = 0;
  o.max_iters = 15;
  auto r = KMeans(f.vectors, 8, Weights(f), 100, o);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->iterations.size(), 16u);
  for (size_t i = 1; i < r->iterations.size(); ++i) {
    EXPECT_LE(r->iterations[i].objective,
              r->iterations[i - 1].objective * (1 + 1e-6))
        << i;
  }
  EXPECT_DOUBLE_EQ(r->objective, r->iterations.back().objective);
}

TEST(KMeansTest, StopsOnRelativeToleranceBeforeMaxIters) {
  const SyntheticField f = Blobs(2000, 8, 5, 6);
  KMeansOptions o = Opts(KMeansOptions::Init::kKMeansPlusPlus, 1);
  o.tol = 0.5;
  o.max_iters = 50;
  auto r = KMeans(f.vectors, 8, {}, 5, o);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->converged);
  EXPECT_LT(r->iterations.size(), 51u);
}

TEST(KMeansTest, WeightedCentroidIsTheWeightedMean) {
  const std::vector<float> points = {0, 0, 4, 8};
  auto r = KMeans(points, 2, std::vector<double>{3, 1}, 1, KMeansOptions());
  ASSERT_TRUE(r.ok());
  EXPECT_FLOAT_EQ(r->centroids[0], 1.0f);
  EXPECT_FLOAT_EQ(r->centroids[1], 2.0f);
  EXPECT_DOUBLE_EQ(r->total_weight, 4.0);
  EXPECT_NEAR(r->weighted_mse(), (3 * 5.0 + 1 * 45.0) / 4, 1e-5);
}

TEST(KMeansTest, EmptyClusterIsReseededAtLargestWeightedDistance) {
  // Row 2 is the farthest point, but row 3 weighs 5x as much: it wins.
  const std::vector<float> points = {0, 0, 1, 0, 12, 0, 10, 0};
  const std::vector<double> weights = {1, 1, 1, 5};
  const std::vector<float> init = {0.5f, 0, 100, 100};  // 2nd gets nothing
  KMeansOptions o;
  o.max_iters = 1;
  o.num_threads = 1;
  auto r = KMeansFromCentroids(points, 2, weights, init, o);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->iterations.size(), 2u);
  EXPECT_EQ(r->iterations[0].reseeded, 1);
  EXPECT_EQ(r->centroids[2], 10.0f);
  EXPECT_EQ(r->centroids[3], 0.0f);
  EXPECT_EQ(r->assignment, (std::vector<uint32_t>{0, 0, 1, 1}));
}

// With candidate lists, a re-seeded cluster is offered to the points near
// it (here: the point moved into it) instead of forcing an exhaustive pass;
// the result is plain Lloyd's.
TEST(KMeansTest, ReseededClusterJoinsTheCandidateListsOfItsPoints) {
  const std::vector<float> points = {0, 0, 1, 0, 12, 0, 10, 0};
  const std::vector<double> weights = {1, 1, 1, 5};
  const std::vector<float> init = {0.5f, 0, 100, 100, 200, 200};
  KMeansOptions o;
  o.max_iters = 2;
  o.tol = 0;
  o.num_threads = 1;
  auto plain = KMeansFromCentroids(points, 2, weights, init, o);
  o.candidates = 2;
  auto listed = KMeansFromCentroids(points, 2, weights, init, o);
  ASSERT_TRUE(plain.ok() && listed.ok());
  EXPECT_EQ(listed->iterations[0].reseeded, 2);
  EXPECT_EQ(listed->assignment, (std::vector<uint32_t>{0, 0, 2, 1}));
  EXPECT_TRUE(BitwiseEqual(*plain, *listed));
}

TEST(KMeansTest, ClusterStaysEmptyWhenNoPointHasPositiveDistance) {
  const std::vector<float> points(10, 3.0f);  // 5 identical points, dim 2
  const std::vector<float> init = {3, 3, -1, -1};
  auto r = KMeansFromCentroids(points, 2, {}, init, KMeansOptions());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->cluster_weight, (std::vector<double>{5, 0}));
  EXPECT_EQ(r->objective, 0.0);
}

TEST(KMeansTest, KAtLeastNGivesEachPointItsOwnCluster) {
  const std::vector<float> points = {1, 2, 3, 4, 5, 6};
  for (int64_t k : {3, 4, 1000}) {
    auto r = KMeans(points, 2, {}, k, KMeansOptions());
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->k, 3u);
    EXPECT_EQ(r->centroids, points);
    EXPECT_EQ(r->assignment, (std::vector<uint32_t>{0, 1, 2}));
    EXPECT_EQ(r->objective, 0.0);
  }
}

TEST(KMeansTest, RejectsBadInputWithInvalidArgument) {
  const std::vector<float> points = {1, 2, 3, 4, 5, 6};
  auto code = [](const absl::StatusOr<KMeansResult>& r) {
    return r.status().code();
  };
  EXPECT_EQ(code(KMeans({}, 2, {}, 1, {})), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(KMeans(points, 4, {}, 1, {})),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(KMeans(points, 0, {}, 1, {})),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(KMeans(points, 2, {}, 0, {})),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(KMeans(points, 2, std::vector<double>{1, 1}, 1, {})),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(KMeans(points, 2, std::vector<double>{1, -1, 1}, 1, {})),
            absl::StatusCode::kInvalidArgument);
  std::vector<float> nan = points;
  nan[3] = std::numeric_limits<float>::quiet_NaN();
  auto r = KMeans(nan, 2, {}, 1, {});
  EXPECT_EQ(code(r), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("row 1"), std::string::npos)
      << r.status();
  EXPECT_EQ(code(KMeansFromCentroids(points, 2, {}, std::vector<float>{1}, {})),
            absl::StatusCode::kInvalidArgument);
}

TEST(KMeansTest, AllZeroWeightsFallBackToEqualWeights) {
  const std::vector<float> points = {0, 0, 4, 8};
  auto r = KMeans(points, 2, std::vector<double>{0, 0}, 1, KMeansOptions());
  ASSERT_TRUE(r.ok());
  EXPECT_FLOAT_EQ(r->centroids[0], 2.0f);
  EXPECT_FLOAT_EQ(r->centroids[1], 4.0f);
}

}  // namespace
}  // namespace strata::compression
