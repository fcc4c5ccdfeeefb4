// Nearest-centroid assignment for folding new rows into a compressed field
// (server/storage/compressed_table.h, Fold).
#ifndef STRATA_SERVER_STORAGE_INTERNAL_NEAREST_CLUSTER_H_
#define STRATA_SERVER_STORAGE_INTERNAL_NEAREST_CLUSTER_H_

#include <cstdint>
#include <vector>

#include "absl/types/span.h"

namespace strata {
namespace internal {

// The nearest of the k = centroids.size() / dim centroids (k x dim,
// row-major, k >= 1) for each of the rows.size() / dim rows, by the BLAS
// search of compression/internal/distance.h on `num_threads` threads (<= 0:
// all cores); ties go to the lower id. Pure; thread-safe.
std::vector<uint32_t> NearestClusters(absl::Span<const float> rows,
                                      absl::Span<const float> centroids,
                                      int dim, int num_threads);

// The nearest centroid of one row by an exact scan (SquaredL2): for the few
// rows a fold re-reads under the writer lock. Pure; thread-safe.
uint32_t NearestCluster(const float* row, absl::Span<const float> centroids,
                        int dim);

}  // namespace internal
}  // namespace strata

#endif  // STRATA_SERVER_STORAGE_INTERNAL_NEAREST_CLUSTER_H_
