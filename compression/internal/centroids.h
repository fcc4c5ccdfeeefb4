// Deterministic weighted centroid updates.
#ifndef STRATA_COMPRESSION_INTERNAL_CENTROIDS_H_
#define STRATA_COMPRESSION_INTERNAL_CENTROIDS_H_

#include <cstdint>
#include <vector>

#include "absl/types/span.h"
#include "compression/internal/thread_pool.h"

namespace strata::compression::internal {

// Rows grouped by cluster (a counting sort): the members of cluster j are
// rows[offsets[j], offsets[j + 1]), in ascending row order.
struct ClusterMembers {
  std::vector<uint64_t> offsets;  // k + 1 entries
  std::vector<uint32_t> rows;

  size_t size(uint32_t cluster) const {
    return offsets[cluster + 1] - offsets[cluster];
  }
};

// Groups rows [0, assignment.size()) by assignment[i] < k.
ClusterMembers GroupByCluster(absl::Span<const uint32_t> assignment,
                              uint32_t k);

// Sets centroid j (row j of `centroids`, k x dim) to the weighted mean of its
// members, accumulated in double in ascending row order, so the result does
// not depend on the pool size. weights: one per row, or empty for all 1. A
// cluster whose members all weigh 0 gets their plain mean; a cluster without
// members keeps its centroid. Returns the total weight of each cluster.
std::vector<double> UpdateCentroids(absl::Span<const float> points, int dim,
                                    absl::Span<const double> weights,
                                    const ClusterMembers& members,
                                    ThreadPool& pool,
                                    absl::Span<float> centroids);

// sum_i w_i * ||x_i - c_{assignment[i]}||^2 (exact, double accumulation in
// row order; weights empty = all 1).
double WeightedDistortion(absl::Span<const float> points, int dim,
                          absl::Span<const double> weights,
                          absl::Span<const uint32_t> assignment,
                          absl::Span<const float> centroids);

}  // namespace strata::compression::internal

#endif  // STRATA_COMPRESSION_INTERNAL_CENTROIDS_H_
