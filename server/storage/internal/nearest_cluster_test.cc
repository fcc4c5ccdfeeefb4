#include "server/storage/internal/nearest_cluster.h"

#include <vector>

#include "gtest/gtest.h"

namespace strata {
namespace internal {
namespace {

TEST(NearestClusterTest, BlasSearchAndScanAgreeOnTheNearestCentroid) {
  const int dim = 3;
  const std::vector<float> centroids = {0, 0, 0, 10, 10, 10, -5, 0, 5};
  const std::vector<float> rows = {9, 11, 10, 0.5, -0.5, 0, -4, 1, 4, 4, 4, 4};
  const std::vector<uint32_t> ids =
      NearestClusters(rows, centroids, dim, /*num_threads=*/2);
  EXPECT_EQ(ids, (std::vector<uint32_t>{1, 0, 2, 0}));
  for (size_t i = 0; i < ids.size(); ++i) {
    EXPECT_EQ(NearestCluster(rows.data() + i * dim, centroids, dim), ids[i]);
  }
}

TEST(NearestClusterTest, NoRowsGiveNoIds) {
  EXPECT_TRUE(NearestClusters({}, {1, 2}, 2, 1).empty());
}

TEST(NearestClusterTest, TiesGoToTheLowerId) {
  const std::vector<float> centroids = {1, 0, -1, 0};
  const std::vector<float> row = {0, 5};
  EXPECT_EQ(NearestCluster(row.data(), centroids, 2), 0u);
  EXPECT_EQ(NearestClusters(row, centroids, 2, 1), std::vector<uint32_t>{0});
}

}  // namespace
}  // namespace internal
}  // namespace strata
