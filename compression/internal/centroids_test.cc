#include "compression/internal/centroids.h"

#include <vector>

#include "gtest/gtest.h"

namespace strata::compression::internal {
namespace {

TEST(CentroidsTest, GroupByClusterListsMembersInRowOrder) {
  const std::vector<uint32_t> assignment = {2, 0, 2, 2, 0};
  ClusterMembers m = GroupByCluster(assignment, 4);
  EXPECT_EQ(m.offsets, (std::vector<uint64_t>{0, 2, 2, 5, 5}));
  EXPECT_EQ(m.rows, (std::vector<uint32_t>{1, 4, 0, 2, 3}));
  EXPECT_EQ(m.size(1), 0u);
}

TEST(CentroidsTest, UpdateUsesWeightedMeansAndKeepsEmptyClusters) {
  // dim 2; cluster 0 = rows 0,1 (weights 1, 3); cluster 1 = row 2 (weight 0);
  // cluster 2 has no members.
  const std::vector<float> points = {0, 0, 4, 8, 5, 5};
  const std::vector<double> weights = {1, 3, 0};
  ClusterMembers m = GroupByCluster(std::vector<uint32_t>{0, 0, 1}, 3);
  std::vector<float> centroids = {9, 9, 9, 9, 7, 7};
  ThreadPool pool(2);
  std::vector<double> totals =
      UpdateCentroids(points, 2, weights, m, pool, absl::MakeSpan(centroids));
  EXPECT_EQ(centroids, (std::vector<float>{3, 6, 5, 5, 7, 7}));
  EXPECT_EQ(totals, (std::vector<double>{4, 0, 0}));
}

TEST(CentroidsTest, WeightedDistortionSumsWeightedSquaredErrors) {
  const std::vector<float> points = {0, 0, 3, 4};
  const std::vector<float> centroids = {0, 0};
  EXPECT_DOUBLE_EQ(WeightedDistortion(points, 2, std::vector<double>{7, 2},
                                      std::vector<uint32_t>{0, 0}, centroids),
                   50.0);
  EXPECT_DOUBLE_EQ(
      WeightedDistortion(points, 2, {}, std::vector<uint32_t>{0, 0}, centroids),
      25.0);
}

}  // namespace
}  // namespace strata::compression::internal
