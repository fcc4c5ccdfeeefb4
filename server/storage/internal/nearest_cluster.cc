#include "server/storage/internal/nearest_cluster.h"

#include <thread>

#include "compression/internal/distance.h"
#include "compression/internal/thread_pool.h"

namespace strata {
namespace internal {

std::vector<uint32_t> NearestClusters(absl::Span<const float> rows,
                                      absl::Span<const float> centroids,
                                      int dim, int num_threads) {
  const size_t n = rows.size() / dim;
  std::vector<uint32_t> ids(n, 0);
  if (n == 0) return ids;
  if (num_threads <= 0) {
    num_threads = static_cast<int>(std::thread::hardware_concurrency());
  }
  compression::internal::ThreadPool pool(num_threads < 1 ? 1 : num_threads);
  compression::internal::NearestCentroidsBlas(
      rows, dim, {}, centroids, {}, compression::internal::BlasSearchOptions(),
      pool, absl::MakeSpan(ids), {});
  return ids;
}

uint32_t NearestCluster(const float* row, absl::Span<const float> centroids,
                        int dim) {
  const uint32_t k = static_cast<uint32_t>(centroids.size() / dim);
  uint32_t best = 0;
  float best_d = compression::internal::SquaredL2(row, centroids.data(), dim);
  for (uint32_t c = 1; c < k; ++c) {
    const float d = compression::internal::SquaredL2(
        row, centroids.data() + size_t{c} * dim, dim);
    if (d < best_d) {
      best_d = d;
      best = c;
    }
  }
  return best;
}

}  // namespace internal
}  // namespace strata
