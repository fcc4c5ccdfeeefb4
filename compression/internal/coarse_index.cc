#include "compression/internal/coarse_index.h"

#include <cblas.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "compression/internal/centroids.h"
#include "compression/kmeans.h"
#include "glog/logging.h"
#include "proto/base/status_macros.h"

namespace strata::compression::internal {
namespace {

constexpr uint32_t kNoCandidate = std::numeric_limits<uint32_t>::max();

// Per-worker scratch of the batched searches.
struct Scratch {
  std::vector<float> rows, dots, best;
  std::vector<uint32_t> best_id;
  void Reserve(size_t block, int dim, size_t cols) {
    rows.resize(block * dim);
    dots.resize(block * cols);
    best.resize(block);
    best_id.resize(block);
  }
};

}  // namespace

absl::StatusOr<CoarseIndex> CoarseIndex::Build(
    absl::Span<const float> centroids, int dim,
    const CoarseIndexOptions& options) {
  if (dim <= 0 || centroids.empty() || centroids.size() % dim != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("coarse index needs k x dim centroids, got ",
                     centroids.size(), " floats for dim ", dim));
  }
  const size_t k = centroids.size() / dim;
  int cells = options.cells > 0
                  ? options.cells
                  : static_cast<int>(std::lround(std::sqrt(double(k))));
  cells = static_cast<int>(std::clamp<size_t>(cells, 1, k));
  KMeansOptions km;
  km.init = KMeansOptions::Init::kKMeansPlusPlus;
  km.max_iters = options.kmeans_iters;
  km.seed = options.seed;
  km.num_threads = options.num_threads;
  STRATA_ASSIGN_OR_RETURN(const KMeansResult coarse,
                          KMeans(centroids, dim, {}, cells, km));

  CoarseIndex index;
  index.dim_ = dim;
  index.search_ = options.search;
  index.chunk_rows_ = std::max<size_t>(1, options.chunk_rows);
  index.centroids_.assign(centroids.begin(), centroids.end());
  index.origin_.assign(dim, 0.0f);
  std::vector<double> sum(dim, 0.0);
  for (size_t j = 0; j < k; ++j) {
    for (int t = 0; t < dim; ++t) sum[t] += centroids[j * dim + t];
  }
  for (int t = 0; t < dim; ++t)
    index.origin_[t] = static_cast<float>(sum[t] / k);

  // Cells in k-means order, empty ones dropped.
  const ClusterMembers members = GroupByCluster(coarse.assignment, coarse.k);
  index.cell_offsets_.push_back(0);
  for (uint32_t c = 0; c < coarse.k; ++c) {
    if (members.size(c) == 0) continue;
    for (int t = 0; t < dim; ++t) {
      index.cell_centres_.push_back(coarse.centroids[size_t(c) * dim + t] -
                                    index.origin_[t]);
    }
    index.cell_bias_.push_back(SquaredNorm(
        &index.cell_centres_[index.cell_centres_.size() - dim], dim));
    for (uint64_t p = members.offsets[c]; p < members.offsets[c + 1]; ++p) {
      const uint32_t id = members.rows[p];
      index.member_ids_.push_back(id);
      for (int t = 0; t < dim; ++t) {
        index.members_.push_back(centroids[size_t(id) * dim + t] -
                                 index.origin_[t]);
      }
      index.member_bias_.push_back(
          SquaredNorm(&index.members_[index.members_.size() - dim], dim));
    }
    index.cell_offsets_.push_back(index.member_ids_.size());
  }
  return index;
}

void CoarseIndex::Assign(absl::Span<const float> points,
                         absl::Span<const uint32_t> rows, int nprobe,
                         ThreadPool& pool, absl::Span<uint32_t> out_ids,
                         absl::Span<float> out_dist,
                         absl::Span<uint32_t> out_candidates) const {
  const size_t count = rows.empty() ? points.size() / dim_ : rows.size();
  nprobe = std::clamp(nprobe, 1, num_cells());
  CHECK(out_candidates.empty() || out_candidates.size() == count * nprobe);
  for (size_t begin = 0; begin < count; begin += chunk_rows_) {
    AssignChunk(points, rows, begin, std::min(count, begin + chunk_rows_),
                nprobe, pool, out_ids, out_dist, out_candidates);
  }
}

void CoarseIndex::Probe(absl::Span<const float> points,
                        absl::Span<const uint32_t> rows, size_t begin,
                        size_t end, int nprobe, ThreadPool& pool,
                        std::vector<uint32_t>& probes) const {
  const size_t m = end - begin;
  const int cells = num_cells();
  probes.resize(m * nprobe);
  if (nprobe == cells) {  // exhaustive: no coarse distances needed
    for (size_t p = 0; p < m; ++p) {
      for (int c = 0; c < cells; ++c) probes[p * nprobe + c] = c;
    }
    return;
  }
  const int block = std::max(1, search_.block_rows);
  std::vector<Scratch> scratch(pool.num_threads());
  pool.ParallelFor((m + block - 1) / block, [&](size_t b, int worker) {
    Scratch& s = scratch[worker];
    s.Reserve(block, dim_, cells);
    const size_t lo = b * block;
    const int mb = static_cast<int>(std::min<size_t>(block, m - lo));
    for (int r = 0; r < mb; ++r) {
      const size_t i = begin + lo + r;
      const float* x = &points[(rows.empty() ? i : rows[i]) * size_t(dim_)];
      for (int t = 0; t < dim_; ++t) s.rows[r * dim_ + t] = x[t] - origin_[t];
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, mb, cells, dim_, -2.0f,
                s.rows.data(), dim_, cell_centres_.data(), dim_, 0.0f,
                s.dots.data(), cells);
    // The nprobe nearest cells, ascending, ties to the lower cell.
    std::vector<float> vals(size_t(mb) * nprobe, FLT_MAX);
    std::fill_n(&probes[lo * nprobe], size_t(mb) * nprobe, 0u);
    ScanTileTop(s.dots.data(), cell_bias_.data(), mb, cells, 0, nprobe,
                vals.data(), &probes[lo * nprobe]);
  });
}

namespace {

// Groups (query, probe) pairs by cell (counting sort): the queries of cell
// c are list[offsets[c], offsets[c + 1]); pair_pos maps pair q (query q /
// nprobe) to its slot.
void GroupByCell(const std::vector<uint32_t>& probes, int cells, int nprobe,
                 std::vector<uint64_t>* offsets, std::vector<uint32_t>* list,
                 std::vector<uint64_t>* pair_pos) {
  offsets->assign(cells + 1, 0);
  for (uint32_t c : probes) ++(*offsets)[c + 1];
  for (int c = 0; c < cells; ++c) (*offsets)[c + 1] += (*offsets)[c];
  list->resize(probes.size());
  pair_pos->resize(probes.size());
  std::vector<uint64_t> cursor(offsets->begin(), offsets->end() - 1);
  for (size_t q = 0; q < probes.size(); ++q) {
    const uint64_t pos = cursor[probes[q]]++;
    (*list)[pos] = static_cast<uint32_t>(q / nprobe);
    (*pair_pos)[q] = pos;
  }
}

}  // namespace

void CoarseIndex::AssignChunk(absl::Span<const float> points,
                              absl::Span<const uint32_t> rows, size_t begin,
                              size_t end, int nprobe, ThreadPool& pool,
                              absl::Span<uint32_t> out_ids,
                              absl::Span<float> out_dist,
                              absl::Span<uint32_t> out_candidates) const {
  const size_t m = end - begin;
  const int cells = num_cells();
  std::vector<uint32_t> probes;
  Probe(points, rows, begin, end, nprobe, pool, probes);

  std::vector<uint64_t> offsets, pair_pos;
  std::vector<uint32_t> list;
  GroupByCell(probes, cells, nprobe, &offsets, &list, &pair_pos);

  // Fine search, one cell per task: sgemm of its queries against its
  // members; the winner of each pair lands in cand[pos].
  std::vector<uint32_t> cand(probes.size(), kNoCandidate);
  const int block = std::max(1, search_.block_rows);
  const int tile = std::max(1, search_.centroid_tile);
  std::vector<Scratch> scratch(pool.num_threads());
  pool.ParallelFor(cells, [&](size_t c, int worker) {
    const uint64_t mlo = cell_offsets_[c], msize = cell_offsets_[c + 1] - mlo;
    if (msize == 0) return;
    Scratch& s = scratch[worker];
    s.Reserve(block, dim_, std::min<size_t>(tile, msize));
    for (uint64_t lo = offsets[c]; lo < offsets[c + 1]; lo += block) {
      const int mb =
          static_cast<int>(std::min<uint64_t>(block, offsets[c + 1] - lo));
      for (int r = 0; r < mb; ++r) {
        const size_t i = begin + list[lo + r];
        const float* x = &points[(rows.empty() ? i : rows[i]) * size_t(dim_)];
        for (int t = 0; t < dim_; ++t) s.rows[r * dim_ + t] = x[t] - origin_[t];
        s.best[r] = FLT_MAX;
        s.best_id[r] = 0;
      }
      BlockArgmin(s.rows.data(), mb, &members_[mlo * dim_], &member_bias_[mlo],
                  msize, dim_, tile, 0, s.dots.data(), s.best.data(),
                  s.best_id.data());
      for (int r = 0; r < mb; ++r)
        cand[lo + r] = member_ids_[mlo + s.best_id[r]];
    }
  });

  // Exact re-rank of each query's nprobe candidates.
  pool.ParallelFor((m + block - 1) / block, [&](size_t b, int) {
    const size_t stop = std::min(m, (b + 1) * block);
    for (size_t p = b * block; p < stop; ++p) {
      const size_t i = begin + p;
      const float* x = &points[(rows.empty() ? i : rows[i]) * size_t(dim_)];
      float best = FLT_MAX;
      uint32_t best_id = kNoCandidate;
      for (int r = 0; r < nprobe; ++r) {
        const uint32_t id = cand[pair_pos[p * nprobe + r]];
        if (id == kNoCandidate) continue;
        const float d = SquaredL2(x, &centroids_[size_t(id) * dim_], dim_);
        if (d < best || (d == best && id < best_id)) {
          best = d;
          best_id = id;
        }
      }
      out_ids[i] = best_id;
      if (!out_dist.empty()) out_dist[i] = best;
      if (out_candidates.empty()) continue;
      for (int r = 0; r < nprobe; ++r) {
        const uint32_t id = cand[pair_pos[p * nprobe + r]];
        out_candidates[i * nprobe + r] = id == kNoCandidate ? best_id : id;
      }
    }
  });
}

}  // namespace strata::compression::internal
