#include "compression/internal/distance.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <utility>
#include <vector>

#include "compression/internal/random.h"
#include "gtest/gtest.h"

namespace strata::compression::internal {
namespace {

std::vector<float> RandomMatrix(size_t rows, int dim, uint64_t seed,
                                float offset = 0.0f) {
  std::mt19937_64 rng(seed);
  std::vector<float> m(rows * dim);
  for (float& v : m) v = offset + static_cast<float>(StandardNormal(rng));
  return m;
}

double ExactDistance(const float* a, const float* b, int dim) {
  double s = 0;
  for (int t = 0; t < dim; ++t)
    s += (double(a[t]) - b[t]) * (double(a[t]) - b[t]);
  return s;
}

TEST(DistanceTest, SquaredL2MatchesDoubleReferenceForAllTailLengths) {
  for (int dim = 1; dim <= 37; ++dim) {
    std::vector<float> a = RandomMatrix(1, dim, dim),
                       b = RandomMatrix(1, dim, 100 + dim);
    EXPECT_NEAR(SquaredL2(a.data(), b.data(), dim),
                ExactDistance(a.data(), b.data(), dim), 1e-4)
        << dim;
  }
}

TEST(DistanceTest, DispatchedSquaredL2IsBitwiseEqualToPortablePath) {
  for (int dim = 1; dim <= 70; ++dim) {
    std::vector<float> a = RandomMatrix(1, dim, dim),
                       b = RandomMatrix(1, dim, 7 * dim);
    const float fast = SquaredL2(a.data(), b.data(), dim);
    const float portable = SquaredL2Portable(a.data(), b.data(), dim);
    EXPECT_EQ(std::memcmp(&fast, &portable, sizeof(float)), 0) << dim;
  }
}

TEST(DistanceTest, ScanTileMatchesAScalarScanWithTies) {
  std::mt19937_64 rng(9);
  for (int cols : {1, 3, 8, 9, 31, 64, 100, 257}) {
    const int rows = 5;
    std::vector<float> dots(rows * cols), bias(cols);
    // Few distinct values, so ties are common.
    for (float& v : dots) v = static_cast<float>(rng() % 7);
    for (float& v : bias) v = static_cast<float>(rng() % 3);
    std::vector<float> best(rows, FLT_MAX);
    std::vector<uint32_t> id(rows, 0);
    ScanTileArgmin(dots.data(), bias.data(), rows, cols, 1000, best.data(),
                   id.data());
    for (int r = 0; r < rows; ++r) {
      float bv = FLT_MAX;
      uint32_t bj = 0;
      for (int j = 0; j < cols; ++j) {
        const float v = dots[r * cols + j] + bias[j];
        if (v < bv) {
          bv = v;
          bj = 1000 + j;
        }
      }
      EXPECT_EQ(best[r], bv) << cols;
      EXPECT_EQ(id[r], bj) << cols;
    }
  }
}

TEST(DistanceTest, ScanTileKeepsLowestIdOnTies) {
  // Row 0: minimum 1.0 at columns 2 and 6; row 1: all equal.
  const std::vector<float> dots = {5, 4, 1, 3, 9, 8, 1, 2, 7,
                                   0, 0, 0, 0, 0, 0, 0, 0, 0};
  const std::vector<float> bias(9, 0.0f);
  std::vector<float> best = {FLT_MAX, FLT_MAX};
  std::vector<uint32_t> id = {99, 99};
  ScanTileArgmin(dots.data(), bias.data(), 2, 9, 10, best.data(), id.data());
  EXPECT_EQ(id[0], 12u);
  EXPECT_EQ(id[1], 10u);
  // A later tile with an equal value does not replace the earlier id.
  const std::vector<float> later(18, 1.0f);
  ScanTileArgmin(later.data(), bias.data(), 2, 9, 20, best.data(), id.data());
  EXPECT_EQ(id[0], 12u);
  EXPECT_EQ(id[1], 10u);
}

TEST(DistanceTest, BlasSearchFindsExactNearestCentroid) {
  const int dim = 13;
  const size_t n = 1000, k = 300;
  // Far from the origin, to exercise the centring.
  const std::vector<float> points = RandomMatrix(n, dim, 1, 100.0f);
  const std::vector<float> centroids = RandomMatrix(k, dim, 2, 100.0f);
  std::vector<float> origin(dim, 100.0f);
  BlasSearchOptions options;
  options.block_rows = 37;
  options.centroid_tile = 50;
  ThreadPool pool(2);
  std::vector<uint32_t> ids(n);
  std::vector<float> dist(n);
  NearestCentroidsBlas(points, dim, {}, centroids, origin, options, pool,
                       absl::MakeSpan(ids), absl::MakeSpan(dist));
  for (size_t i = 0; i < n; ++i) {
    double best = std::numeric_limits<double>::max();
    for (size_t j = 0; j < k; ++j) {
      best = std::min(
          best, ExactDistance(&points[i * dim], &centroids[j * dim], dim));
    }
    const double got =
        ExactDistance(&points[i * dim], &centroids[ids[i] * dim], dim);
    EXPECT_LE(got, best * (1 + 1e-4)) << i;
    EXPECT_NEAR(dist[i], got, 1e-3 * (1 + got)) << i;
  }
}

TEST(DistanceTest, BlasSearchOverRowSubsetAndThreadCountsIsIdentical) {
  const int dim = 16;
  const std::vector<float> points = RandomMatrix(500, dim, 3);
  const std::vector<float> centroids = RandomMatrix(70, dim, 4);
  const std::vector<uint32_t> rows = {499, 3, 3, 250, 0};
  std::vector<uint32_t> a(rows.size()), b(rows.size()), full(500);
  ThreadPool one(1), two(2);
  NearestCentroidsBlas(points, dim, rows, centroids, {}, {}, one,
                       absl::MakeSpan(a), {});
  NearestCentroidsBlas(points, dim, rows, centroids, {}, {}, two,
                       absl::MakeSpan(b), {});
  NearestCentroidsBlas(points, dim, {}, centroids, {}, {}, two,
                       absl::MakeSpan(full), {});
  EXPECT_EQ(a, b);
  for (size_t i = 0; i < rows.size(); ++i) EXPECT_EQ(a[i], full[rows[i]]);
}

TEST(DistanceTest, FirstNonFiniteNamesRowAndColumn) {
  std::vector<float> m(12, 1.0f);
  EXPECT_FALSE(FirstNonFinite(m, 4).has_value());
  m[9] = std::numeric_limits<float>::quiet_NaN();
  auto bad = FirstNonFinite(m, 4);
  ASSERT_TRUE(bad.has_value());
  EXPECT_EQ(bad->first, 2u);
  EXPECT_EQ(bad->second, 1);
}

}  // namespace
TEST(DistanceTest, ScanTileTopKeepsTheSmallestValuesLowestIdFirstOnTies) {
  std::mt19937_64 rng(4);
  for (int cols : {1, 7, 8, 9, 40, 257}) {
    for (int top : {1, 3, 8}) {
      const int rows = 4;
      std::vector<float> dots(rows * cols), bias(cols);
      for (float& v : dots) v = static_cast<float>(rng() % 5);  // many ties
      for (float& v : bias) v = static_cast<float>(rng() % 3);
      std::vector<float> vals(rows * top, FLT_MAX);
      std::vector<uint32_t> ids(rows * top, 0);
      ScanTileTop(dots.data(), bias.data(), rows, cols, 50, top, vals.data(),
                  ids.data());
      for (int r = 0; r < rows; ++r) {
        std::vector<std::pair<float, uint32_t>> all;
        for (int j = 0; j < cols; ++j)
          all.push_back({dots[r * cols + j] + bias[j], 50 + j});
        std::stable_sort(all.begin(), all.end(),
                         [](auto a, auto b) { return a.first < b.first; });
        for (int t = 0; t < std::min(top, cols); ++t) {
          EXPECT_EQ(vals[r * top + t], all[t].first) << cols << " " << top;
          EXPECT_EQ(ids[r * top + t], all[t].second) << cols << " " << top;
        }
      }
    }
  }
}

// Merging the centroids in batches gives each row its true nearest few
// (exact distances agree up to the expansion's rounding), the list head is
// NearestCentroidsBlas's answer, and the thread count changes nothing.
TEST(DistanceTest, MergeNearestTopInBatchesFindsTheNearestCentroids) {
  const int dim = 16, top = 5;
  const size_t n = 700, k = 300;
  const std::vector<float> points = RandomMatrix(n, dim, 1, 50.0f);
  const std::vector<float> centroids = RandomMatrix(k, dim, 2, 50.0f);
  const std::vector<float> origin(dim, 50.0f);
  BlasSearchOptions search;
  search.block_rows = 64;
  search.centroid_tile = 32;
  std::vector<std::vector<uint32_t>> results;
  for (int threads : {1, 3}) {
    ThreadPool pool(threads);
    std::vector<float> vals(n * top, FLT_MAX);
    std::vector<uint32_t> ids(n * top, 0);
    for (size_t lo = 0; lo < k; lo += 70) {  // batches of 70, then 20
      const size_t hi = std::min(k, lo + 70);
      MergeNearestTopBlas(
          points, dim,
          absl::MakeConstSpan(centroids).subspan(lo * dim, (hi - lo) * dim),
          origin, static_cast<uint32_t>(lo), top, search, pool,
          absl::MakeSpan(vals), absl::MakeSpan(ids));
    }
    std::vector<uint32_t> nearest(n);
    NearestCentroidsBlas(points, dim, {}, centroids, origin, search, pool,
                         absl::MakeSpan(nearest), {});
    for (size_t i = 0; i < n; ++i) {
      ASSERT_EQ(ids[i * top], nearest[i]) << i;
      std::vector<double> d(k);
      for (size_t j = 0; j < k; ++j)
        d[j] = ExactDistance(&points[i * dim], &centroids[j * dim], dim);
      std::vector<double> sorted = d;
      std::sort(sorted.begin(), sorted.end());
      for (int t = 0; t < top; ++t) {
        EXPECT_NEAR(d[ids[i * top + t]], sorted[t], 1e-3 * sorted[t] + 1e-3)
            << i << " " << t;
      }
    }
    results.push_back(ids);
  }
  EXPECT_EQ(results[0], results[1]);
}

TEST(DistanceTest, NearestCandidateTakesTheExactlyNearestCandidate) {
  const int dim = 8, top = 3;
  const std::vector<float> points = RandomMatrix(50, dim, 5);
  const std::vector<float> centroids = RandomMatrix(10, dim, 6);
  std::vector<uint32_t> cand(50 * top);
  for (size_t i = 0; i < cand.size(); ++i) cand[i] = (i * 7) % 10;
  cand[0] = cand[1] = cand[2] = 4;  // duplicates are allowed
  ThreadPool pool(2);
  std::vector<uint32_t> ids(50);
  std::vector<float> dist(50);
  NearestCandidate(points, dim, centroids, cand, top, pool, absl::MakeSpan(ids),
                   absl::MakeSpan(dist));
  EXPECT_EQ(ids[0], 4u);
  for (size_t i = 0; i < 50; ++i) {
    float best = FLT_MAX;
    uint32_t best_id = 0;
    for (int r = 0; r < top; ++r) {
      const uint32_t c = cand[i * top + r];
      const float d = SquaredL2(&points[i * dim], &centroids[c * dim], dim);
      if (d < best || (d == best && c < best_id)) {
        best = d;
        best_id = c;
      }
    }
    EXPECT_EQ(ids[i], best_id) << i;
    EXPECT_EQ(dist[i], best) << i;
  }
}

}  // namespace strata::compression::internal
