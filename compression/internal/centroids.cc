#include "compression/internal/centroids.h"

#include <algorithm>

#include "compression/internal/distance.h"
#include "glog/logging.h"

namespace strata::compression::internal {

ClusterMembers GroupByCluster(absl::Span<const uint32_t> assignment,
                              uint32_t k) {
  ClusterMembers m;
  m.offsets.assign(static_cast<size_t>(k) + 1, 0);
  for (uint32_t a : assignment) {
    CHECK_LT(a, k);
    ++m.offsets[a + 1];
  }
  for (uint32_t j = 0; j < k; ++j) m.offsets[j + 1] += m.offsets[j];
  m.rows.resize(assignment.size());
  std::vector<uint64_t> cursor(m.offsets.begin(), m.offsets.end() - 1);
  for (size_t i = 0; i < assignment.size(); ++i) {
    m.rows[cursor[assignment[i]]++] = static_cast<uint32_t>(i);
  }
  return m;
}

std::vector<double> UpdateCentroids(absl::Span<const float> points, int dim,
                                    absl::Span<const double> weights,
                                    const ClusterMembers& members,
                                    ThreadPool& pool,
                                    absl::Span<float> centroids) {
  const size_t k = members.offsets.size() - 1;
  CHECK_EQ(centroids.size(), k * dim);
  std::vector<double> total(k, 0.0);
  constexpr size_t kClustersPerTask = 64;
  const size_t num_tasks = (k + kClustersPerTask - 1) / kClustersPerTask;
  std::vector<std::vector<double>> sums(pool.num_threads());
  pool.ParallelFor(num_tasks, [&](size_t task, int worker) {
    std::vector<double>& sum = sums[worker];
    sum.resize(dim);
    const size_t end = std::min(k, (task + 1) * kClustersPerTask);
    for (size_t j = task * kClustersPerTask; j < end; ++j) {
      const uint64_t lo = members.offsets[j], hi = members.offsets[j + 1];
      if (lo == hi) continue;
      std::fill(sum.begin(), sum.end(), 0.0);
      double w_total = 0.0;
      for (uint64_t p = lo; p < hi; ++p) {
        const uint32_t row = members.rows[p];
        const double w = weights.empty() ? 1.0 : weights[row];
        if (w == 0.0) continue;
        const float* x = &points[static_cast<size_t>(row) * dim];
        for (int t = 0; t < dim; ++t) sum[t] += w * x[t];
        w_total += w;
      }
      if (w_total == 0.0) {  // every member weighs 0: plain mean
        for (uint64_t p = lo; p < hi; ++p) {
          const float* x = &points[static_cast<size_t>(members.rows[p]) * dim];
          for (int t = 0; t < dim; ++t) sum[t] += x[t];
        }
      }
      const double denom =
          w_total == 0.0 ? static_cast<double>(hi - lo) : w_total;
      float* c = &centroids[j * dim];
      for (int t = 0; t < dim; ++t) c[t] = static_cast<float>(sum[t] / denom);
      total[j] = w_total;
    }
  });
  return total;
}

double WeightedDistortion(absl::Span<const float> points, int dim,
                          absl::Span<const double> weights,
                          absl::Span<const uint32_t> assignment,
                          absl::Span<const float> centroids) {
  double total = 0.0;
  for (size_t i = 0; i < assignment.size(); ++i) {
    const double w = weights.empty() ? 1.0 : weights[i];
    if (w == 0.0) continue;
    total += w * SquaredL2(&points[i * dim],
                           &centroids[static_cast<size_t>(assignment[i]) * dim],
                           dim);
  }
  return total;
}

}  // namespace strata::compression::internal
