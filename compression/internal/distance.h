// Distance kernels shared by k-means, the coarse centroid index and Saec.
#ifndef STRATA_COMPRESSION_INTERNAL_DISTANCE_H_
#define STRATA_COMPRESSION_INTERNAL_DISTANCE_H_

#include <cstdint>
#include <optional>
#include <utility>

#include "absl/types/span.h"
#include "compression/internal/thread_pool.h"

namespace strata::compression::internal {

// Exact squared Euclidean distance sum_t (a[t] - b[t])^2, accumulated in
// float in 8 lanes (AVX2 when the CPU has it, chosen at run time). Pure;
// thread-safe.
float SquaredL2(const float* a, const float* b, int dim);

// The portable path of SquaredL2; bitwise equal to it on every CPU (same
// association, no FMA). For tests.
float SquaredL2Portable(const float* a, const float* b, int dim);

// (row, column) of the first non-finite value of an n x dim matrix, if any.
std::optional<std::pair<size_t, int>> FirstNonFinite(
    absl::Span<const float> values, int dim);

// Squared norm of `dim` floats. Pure; thread-safe.
float SquaredNorm(const float* a, int dim);

// Memory/speed trade-offs of the BLAS nearest-centroid search.
struct BlasSearchOptions {
  // Rows per task and per sgemm call. Larger blocks amortise the packing of
  // the centroid tile inside sgemm; smaller ones balance load better.
  int block_rows = 128;
  // Centroids per sgemm call. Scratch per worker is
  // block_rows * centroid_tile floats (128 KiB by default), whatever k is;
  // larger tiles mean fewer sgemm calls but a scratch that falls out of L2.
  int centroid_tile = 256;
};

// Nearest centroid of selected points, with distances computed as
//   ||c_j - o||^2 - 2 (x - o).(c_j - o)    (+ ||x - o||^2, constant per row)
// by cblas_sgemm over fixed blocks of rows and tiles of centroids. `origin`
// o (dim floats, or empty for 0) is subtracted first so that the expansion
// does not lose precision when the data sits far from the origin.
//
// points: n x dim row-major. rows: the rows to search (empty = all rows, in
// order); out_ids[i] / out_dist[i] belong to the i-th searched row.
// out_ids[i] is the argmin, ties broken towards the lowest centroid id;
// out_dist (empty = not wanted) gets the exact SquaredL2 to that centroid.
//
// The block/tile partition does not depend on the pool, so results are
// bitwise identical for any number of threads.
void NearestCentroidsBlas(absl::Span<const float> points, int dim,
                          absl::Span<const uint32_t> rows,
                          absl::Span<const float> centroids,
                          absl::Span<const float> origin,
                          const BlasSearchOptions& options, ThreadPool& pool,
                          absl::Span<uint32_t> out_ids,
                          absl::Span<float> out_dist);

// Merges `centroids` (k x dim, ids id_base + j) into every row's list of
// its `top` nearest centroids by the same expanded distance as
// NearestCentroidsBlas: vals/ids are n x top (points: n x dim, all rows),
// ascending, ties to the lower id; start from vals = FLT_MAX, ids = 0. Called
// on the centroids in batches of ascending ids, it leaves each row's `top`
// nearest of them all, ids[i * top] being what NearestCentroidsBlas returns
// over the union. Bitwise identical for any number of threads.
void MergeNearestTopBlas(absl::Span<const float> points, int dim,
                         absl::Span<const float> centroids,
                         absl::Span<const float> origin, uint32_t id_base,
                         int top, const BlasSearchOptions& options,
                         ThreadPool& pool, absl::Span<float> vals,
                         absl::Span<uint32_t> ids);

// Nearest of each row's candidate centroids by exact SquaredL2: for row i of
// points (n x dim; all rows), the best of candidates[i * top, (i + 1) * top)
// (ids into centroids, k x dim), ties to the lower id; a candidate equal to
// the one before it is skipped (lists may be padded that way). Pure per row,
// so the result does not depend on the pool.
void NearestCandidate(absl::Span<const float> points, int dim,
                      absl::Span<const float> centroids,
                      absl::Span<const uint32_t> candidates, int top,
                      ThreadPool& pool, absl::Span<uint32_t> out_ids,
                      absl::Span<float> out_dist);

// Scans one tile of sgemm output like ScanTileArgmin, but keeps the `top`
// smallest values of each row: vals/ids are rows x top, ascending, filled
// with FLT_MAX / 0 by the caller to start fresh; strict improvement only,
// so ties keep the earlier (lower) id. Exposed for tests.
void ScanTileTop(const float* dots, const float* col_bias, int rows, int cols,
                 uint32_t id_base, int top, float* vals, uint32_t* ids);

// Argmin over k centred centroids for m centred rows (m x dim, row-major):
// (best[r], best_id[r]) = min_j (bias[j] - 2 rows_r . centroids_j), ties to
// the lower j, ids offset by id_base. Tiles the centroids by `tile`; `dots`
// is caller scratch of at least m * min(k, tile) floats. best/best_id must be
// initialised by the caller (FLT_MAX to start fresh).
void BlockArgmin(const float* rows, int m, const float* centroids,
                 const float* bias, size_t k, int dim, int tile,
                 uint32_t id_base, float* dots, float* best, uint32_t* best_id);

// Scans one tile of sgemm output: for each of `rows` rows r, updates
// (best[r], best_id[r]) with min_j (dots[r * cols + j] + col_bias[j]) over
// j in [0, cols), ids offset by `id_base`; strict improvement only, so ties
// keep the earlier (lower) id. Exposed for tests.
void ScanTileArgmin(const float* dots, const float* col_bias, int rows,
                    int cols, uint32_t id_base, float* best, uint32_t* best_id);

}  // namespace strata::compression::internal

#endif  // STRATA_COMPRESSION_INTERNAL_DISTANCE_H_
