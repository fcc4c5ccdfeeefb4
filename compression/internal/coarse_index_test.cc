#include "compression/internal/coarse_index.h"

#include <algorithm>
#include <limits>
#include <random>
#include <vector>

#include "compression/internal/random.h"
#include "gtest/gtest.h"

namespace strata::compression::internal {
namespace {

std::vector<float> RandomMatrix(size_t rows, int dim, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<float> m(rows * dim);
  for (float& v : m) v = static_cast<float>(StandardNormal(rng));
  return m;
}

double ExactDistance(const float* a, const float* b, int dim) {
  double s = 0;
  for (int t = 0; t < dim; ++t)
    s += (double(a[t]) - b[t]) * (double(a[t]) - b[t]);
  return s;
}

CoarseIndexOptions SmallChunks() {
  CoarseIndexOptions o;
  o.chunk_rows = 333;  // several chunks
  o.search.block_rows = 40;
  o.search.centroid_tile = 16;
  return o;
}

TEST(CoarseIndexTest, EveryCentroidIsInExactlyOneCell) {
  const std::vector<float> c = RandomMatrix(400, 8, 1);
  auto index = CoarseIndex::Build(c, 8, CoarseIndexOptions());
  ASSERT_TRUE(index.ok());
  EXPECT_EQ(index->num_cells(), 20);  // round(sqrt(400))
  std::vector<int> seen(400, 0);
  for (int cell = 0; cell < index->num_cells(); ++cell) {
    for (uint32_t id : index->cell(cell)) ++seen[id];
  }
  for (int s : seen) EXPECT_EQ(s, 1);
}

TEST(CoarseIndexTest, ProbingAllCellsFindsTheTrueNearestCentroid) {
  const int dim = 12;
  const std::vector<float> c = RandomMatrix(500, dim, 2);
  const std::vector<float> q = RandomMatrix(2000, dim, 3);
  auto index = CoarseIndex::Build(c, dim, SmallChunks());
  ASSERT_TRUE(index.ok());
  ThreadPool pool(2);
  std::vector<uint32_t> ids(2000);
  std::vector<float> dist(2000);
  index->Assign(q, {}, index->num_cells(), pool, absl::MakeSpan(ids),
                absl::MakeSpan(dist));
  for (size_t i = 0; i < 2000; ++i) {
    double best = std::numeric_limits<double>::max();
    for (size_t j = 0; j < 500; ++j) {
      best = std::min(best, ExactDistance(&q[i * dim], &c[j * dim], dim));
    }
    EXPECT_LE(ExactDistance(&q[i * dim], &c[ids[i] * dim], dim),
              best * (1 + 1e-5))
        << i;
  }
}

TEST(CoarseIndexTest, MoreProbesNeverIncreaseDistortion) {
  const int dim = 8;
  const std::vector<float> c = RandomMatrix(900, dim, 4);
  const std::vector<float> q = RandomMatrix(3000, dim, 5);
  auto index = CoarseIndex::Build(c, dim, SmallChunks());
  ASSERT_TRUE(index.ok());
  ThreadPool pool(2);
  double prev = std::numeric_limits<double>::max();
  for (int nprobe : {1, 2, 4, 8, 30}) {
    std::vector<uint32_t> ids(3000);
    std::vector<float> dist(3000);
    index->Assign(q, {}, nprobe, pool, absl::MakeSpan(ids),
                  absl::MakeSpan(dist));
    double total = 0;
    for (float d : dist) total += d;
    EXPECT_LE(total, prev * (1 + 1e-6)) << nprobe;
    prev = total;
  }
}

TEST(CoarseIndexTest, RowSubsetsAndThreadCountsGiveIdenticalResults) {
  const int dim = 16;
  const std::vector<float> c = RandomMatrix(300, dim, 6);
  const std::vector<float> q = RandomMatrix(1000, dim, 7);
  auto index = CoarseIndex::Build(c, dim, SmallChunks());
  ASSERT_TRUE(index.ok());
  std::vector<uint32_t> rows;
  for (uint32_t i = 999; i < 1000; i -= 3) rows.push_back(i);
  ThreadPool one(1), three(3);
  std::vector<uint32_t> a(rows.size()), b(rows.size()), all(1000);
  index->Assign(q, rows, 3, one, absl::MakeSpan(a), {});
  index->Assign(q, rows, 3, three, absl::MakeSpan(b), {});
  index->Assign(q, {}, 3, three, absl::MakeSpan(all), {});
  EXPECT_EQ(a, b);
  for (size_t i = 0; i < rows.size(); ++i) EXPECT_EQ(a[i], all[rows[i]]);
}

// The per-cell winners: one per probed cell, each in the cell it stands
// for, and the answer is the exactly nearest of them.
TEST(CoarseIndexTest, CandidatesAreTheBestCentroidOfEachProbedCell) {
  const int dim = 8, nprobe = 3;
  const std::vector<float> c = RandomMatrix(300, dim, 4);
  const std::vector<float> q = RandomMatrix(1000, dim, 5);
  auto index = CoarseIndex::Build(c, dim, SmallChunks());
  ASSERT_TRUE(index.ok());
  std::vector<int> cell_of(300);
  for (int cell = 0; cell < index->num_cells(); ++cell) {
    for (uint32_t id : index->cell(cell)) cell_of[id] = cell;
  }
  ThreadPool pool(2);
  std::vector<uint32_t> ids(1000), cand(1000 * nprobe);
  index->Assign(q, {}, nprobe, pool, absl::MakeSpan(ids), {},
                absl::MakeSpan(cand));
  for (size_t i = 0; i < 1000; ++i) {
    const uint32_t* ci = &cand[i * nprobe];
    EXPECT_NE(std::find(ci, ci + nprobe, ids[i]), ci + nprobe) << i;
    for (int r = 0; r < nprobe; ++r) {
      const int cell = cell_of[ci[r]];
      for (int other = 0; other < r; ++other)
        EXPECT_NE(cell_of[ci[other]], cell) << i;
      for (uint32_t id : index->cell(cell)) {
        EXPECT_LE(
            ExactDistance(&q[i * dim], &c[ci[r] * dim], dim),
            ExactDistance(&q[i * dim], &c[id * dim], dim) * (1 + 1e-4) + 1e-5)
            << i;
      }
    }
  }
}

TEST(CoarseIndexTest, RejectsMalformedCentroids) {
  EXPECT_EQ(CoarseIndex::Build({}, 4, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CoarseIndex::Build(std::vector<float>(5), 4, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace strata::compression::internal
