// An IVF-style index over a set of centroids, used by Saec to assign the
// long tail of a field without comparing every tail feature with every
// centroid.
//
// Build clusters the k centroids into C coarse cells (k-means++, a few Lloyd
// iterations; C defaults to round(sqrt(k))); every centroid belongs to
// exactly one cell. Assign finds, for each query, the nprobe cells whose
// coarse centres are nearest, and the nearest centroid among those cells'
// members. Cost per query ~ C + nprobe * k / C distances instead of k;
// with nprobe >= C it is an exhaustive (exact) search.
//
// Queries are processed in chunks and grouped by probed cell, so both the
// coarse and the fine distances are cblas_sgemm calls over blocks of
// queries; the winning candidates are re-ranked with exact squared
// distances. Results do not depend on the number of threads.
#ifndef STRATA_COMPRESSION_INTERNAL_COARSE_INDEX_H_
#define STRATA_COMPRESSION_INTERNAL_COARSE_INDEX_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "compression/internal/distance.h"
#include "compression/internal/thread_pool.h"

namespace strata::compression::internal {

struct CoarseIndexOptions {
  // Number of cells; 0 = round(sqrt(k)). Clamped to [1, k]. More cells make
  // each probe cheaper but the coarse step dearer and recall per probe lower.
  int cells = 0;
  // Lloyd iterations used to place the cells (their quality only affects
  // recall at a given nprobe, never correctness).
  int kmeans_iters = 10;
  uint64_t seed = 1;
  int num_threads = 1;  // for Build
  BlasSearchOptions search;
  // Queries handled per batch; batch memory is ~16 * chunk_rows * nprobe
  // bytes.
  size_t chunk_rows = size_t{1} << 16;
};

// Immutable after Build; Assign is const and may be called concurrently
// (each call uses the pool it is given). Owns copies of the centroids.
class CoarseIndex {
 public:
  // centroids: k x dim, k >= 1, finite.
  static absl::StatusOr<CoarseIndex> Build(absl::Span<const float> centroids,
                                           int dim,
                                           const CoarseIndexOptions& options);

  int num_cells() const { return static_cast<int>(cell_offsets_.size()) - 1; }
  size_t num_centroids() const { return member_ids_.size(); }
  // Centroid ids of cell c.
  absl::Span<const uint32_t> cell(int c) const {
    return absl::MakeConstSpan(member_ids_)
        .subspan(cell_offsets_[c], cell_offsets_[c + 1] - cell_offsets_[c]);
  }

  // For the selected rows of points (n x dim; rows empty = all), the
  // nearest centroid among the nprobe nearest cells (nprobe clamped to
  // [1, num_cells()]) and its exact squared distance. Ties go to the lower
  // centroid id. out_candidates (empty = not wanted; else count x nprobe
  // with nprobe as clamped) gets each row's nearest centroid in each probed
  // cell, in probe order: candidates for later re-assignments.
  void Assign(absl::Span<const float> points, absl::Span<const uint32_t> rows,
              int nprobe, ThreadPool& pool, absl::Span<uint32_t> out_ids,
              absl::Span<float> out_dist,
              absl::Span<uint32_t> out_candidates = {}) const;

 private:
  CoarseIndex() = default;
  void AssignChunk(absl::Span<const float> points,
                   absl::Span<const uint32_t> rows, size_t begin, size_t end,
                   int nprobe, ThreadPool& pool, absl::Span<uint32_t> out_ids,
                   absl::Span<float> out_dist,
                   absl::Span<uint32_t> out_candidates) const;
  // Fills probes (m x nprobe) with the nearest cells of rows [begin, end).
  void Probe(absl::Span<const float> points, absl::Span<const uint32_t> rows,
             size_t begin, size_t end, int nprobe, ThreadPool& pool,
             std::vector<uint32_t>& probes) const;

  // Constant after Build.
  int dim_ = 0;
  BlasSearchOptions search_;
  size_t chunk_rows_ = 0;
  std::vector<float> origin_;           // mean of the centroids
  std::vector<float> centroids_;        // k x dim, as given
  std::vector<float> cell_centres_;     // C x dim, centred
  std::vector<float> cell_bias_;        // ||centre||^2
  std::vector<uint64_t> cell_offsets_;  // C + 1
  std::vector<uint32_t> member_ids_;    // centroid ids grouped by cell
  std::vector<float> members_;          // centred centroids in member order
  std::vector<float> member_bias_;
};

}  // namespace strata::compression::internal

#endif  // STRATA_COMPRESSION_INTERNAL_COARSE_INDEX_H_
