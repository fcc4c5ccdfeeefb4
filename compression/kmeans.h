// Full (Lloyd) k-means over n x d float vectors, optionally weighted: the
// baseline that Saec is measured against, and the clusterer Saec runs on the
// frequent head of a field.
//
//   objective J = sum_i w_i ||x_i - c_{a(i)}||^2
//
// Each iteration assigns every point to its nearest centroid (cblas_sgemm on
// fixed blocks of rows, see internal/distance.h) and moves each centroid to
// the weighted mean of its members. Work is split over std::threads by row
// blocks (assignment) and by cluster ranges (update); every reduction runs in
// a fixed order, so the same seed gives bitwise-identical results for any
// num_threads.
#ifndef STRATA_COMPRESSION_KMEANS_H_
#define STRATA_COMPRESSION_KMEANS_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace strata::compression {

struct KMeansOptions {
  enum class Init {
    // k-means++ (D^2 seeding, each draw also proportional to the weight):
    // O(n k d) sequential passes. Better starting points and fewer
    // iterations; the cost is prohibitive for n ~ 1e6 and k ~ 1e4.
    kKMeansPlusPlus,
    // k distinct points drawn without replacement with probability
    // proportional to their weight (Efraimidis-Spirakis keys from a
    // counter-based hash of (seed, row)): O(n log k). Cheap, but leaves more
    // work to the Lloyd iterations.
    kWeightedSample,
    // k-means++ in rounds ("greedy batches", close to k-means||): round r
    // draws b_r distinct points without replacement with probability
    // proportional to weight * D^2 (Efraimidis-Spirakis keys from a
    // counter-based hash of (seed, round, row)); a draw is kept with
    // probability min(1, d(x, this round's earlier picks)^2 / D^2(x)), as
    // sequential k-means++ would have seen it, else it stays drawable
    // later. D is then updated for the whole batch with one BLAS
    // nearest-centroid pass. b_r doubles from 1 up to max(1, k / 64), so
    // ~log2(k / 64) + 64 rounds instead of k sequential steps: the same
    // O(n k d) flops, but in sgemm. Saec's head clusterer (SaecOptions::
    // head_init).
    kBatchedPlusPlus,
  };
  Init init = Init::kKMeansPlusPlus;
  // Maximum number of centroid updates. The result always comes from one
  // more assignment pass, so `assignment` is the nearest-centroid assignment
  // of the returned centroids. 0 returns the initial centroids.
  int max_iters = 20;
  // Stops early once an iteration improves J by less than tol * J (relative).
  // Larger values trade distortion for time.
  double tol = 1e-4;
  // Candidate lists. 0 (the default): every pass compares each point with
  // every centroid (plain Lloyd). c > 0: the first pass (and the pass after
  // any re-seeding) is exhaustive and also records each point's c nearest
  // centroids; the passes in between compare each point only with those c
  // candidates, by exact distance (its own centroid is always among them,
  // so no pass increases J). Cheaper passes, at the risk of missing a
  // centroid that moved close; with c >= k every pass is exhaustive.
  int candidates = 0;
  // Seeds the initialisation; the only source of randomness.
  uint64_t seed = 1;
  // Worker threads (the caller counts as one); <= 0 means one per hardware
  // thread. Results do not depend on it.
  int num_threads = 0;
  // Rows per sgemm call and per task. See internal/distance.h.
  int block_rows = 128;
  // Centroids per sgemm call; scratch is block_rows * centroid_tile floats
  // per thread, independent of k.
  int centroid_tile = 256;
};

struct IterationStats {
  int iteration = 0;       // 0-based assignment pass
  double objective = 0.0;  // J of this pass's assignment
  double seconds = 0.0;    // assignment + the update that follows it
  int64_t reseeded = 0;    // empty clusters re-seeded in the update
};

struct KMeansResult {
  int dim = 0;
  uint32_t k = 0;                      // == min(requested k, n)
  std::vector<float> centroids;        // k x dim, row-major
  std::vector<uint32_t> assignment;    // n entries in [0, k)
  std::vector<double> cluster_weight;  // total weight per cluster
  double objective = 0.0;              // J of the returned assignment
  double total_weight = 0.0;           // sum of the weights used
  bool converged = false;              // stopped on tol rather than max_iters
  double init_seconds = 0.0;
  double seconds = 0.0;  // wall time, initialisation included
  std::vector<IterationStats> iterations;
  // With KMeansOptions::candidates = c < k: each point's c candidate
  // centroids of the last exhaustive pass (n x c, nearest first); else empty.
  std::vector<uint32_t> candidates;

  // Weighted mean squared error per vector: objective / total_weight.
  double weighted_mse() const {
    return total_weight > 0 ? objective / total_weight : 0.0;
  }
};

// Clusters `points` (n x dim, row-major) into k clusters.
//
// weights: one non-negative finite weight per point, or empty for all 1. If
// all weights are 0 the points are weighted equally.
//
// Errors (INVALID_ARGUMENT): dim <= 0; no points; points.size() not a
// multiple of dim; more than 2^32 - 1 points; weights.size() != n; a
// negative or non-finite weight; a non-finite coordinate (the message names
// the row and column); k <= 0.
//
// k >= n is not an error: every point becomes its own cluster (k = n,
// centroid i = point i, assignment i -> i, objective 0, no iterations).
//
// Empty clusters: when an update leaves a cluster without members, its
// centroid is re-seeded at the point with the largest weighted squared
// distance to its centroid (ties: larger distance, then lower row), each
// point used at most once per update; the point moves to that cluster. If no
// point has a positive distance (fewer distinct points than clusters) the
// cluster keeps its centroid and stays empty.
absl::StatusOr<KMeansResult> KMeans(absl::Span<const float> points, int dim,
                                    absl::Span<const double> weights, int64_t k,
                                    const KMeansOptions& options);

// As KMeans, but starts from the given centroids (k x dim, finite) instead
// of options.init. INVALID_ARGUMENT if they are empty, not a multiple of dim
// or not finite; k = centroids.size() / dim may exceed n.
absl::StatusOr<KMeansResult> KMeansFromCentroids(
    absl::Span<const float> points, int dim, absl::Span<const double> weights,
    absl::Span<const float> initial_centroids, const KMeansOptions& options);

}  // namespace strata::compression

#endif  // STRATA_COMPRESSION_KMEANS_H_
