#include "compression/internal/distance.h"

#include <cblas.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <vector>

#include "glog/logging.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define STRATA_X86_DISPATCH 1
#endif

namespace strata::compression::internal {
namespace {

// Argmin of row[j] + bias[j] over j in [0, cols): the first j attaining the
// minimum, or cols if no value is below FLT_MAX. Every path computes the
// same float sums and compares exactly, so all paths return the same answer.
void RowArgminScalar(const float* row, const float* bias, int cols,
                     float* value, int* index) {
  float bv = FLT_MAX;
  int bj = cols;
  for (int j = 0; j < cols; ++j) {
    const float v = row[j] + bias[j];
    if (v < bv) {
      bv = v;
      bj = j;
    }
  }
  *value = bv;
  *index = bj;
}

// Inserts (v, id) into the ascending list vals/ids of length top; the
// caller has checked v < vals[top - 1]. Equal values keep their order.
inline void InsertTop(float v, uint32_t id, int top, float* vals,
                      uint32_t* ids) {
  int pos = top - 1;
  while (pos > 0 && v < vals[pos - 1]) {
    vals[pos] = vals[pos - 1];
    ids[pos] = ids[pos - 1];
    --pos;
  }
  vals[pos] = v;
  ids[pos] = id;
}

// The `top` smallest row[j] + bias[j], merged into vals/ids in ascending
// j order (strict improvement only, so ties keep the lower id).
void RowTopScalar(const float* row, const float* bias, int cols,
                  uint32_t id_base, int top, float* vals, uint32_t* ids) {
  for (int j = 0; j < cols; ++j) {
    const float v = row[j] + bias[j];
    if (v < vals[top - 1]) InsertTop(v, id_base + j, top, vals, ids);
  }
}

// Same association as the AVX2 path: lane t % 8 accumulates the 8-chunks,
// lane t % 4 the one remaining 4-chunk, then a fixed reduction tree.
float SquaredL2Scalar(const float* a, const float* b, int dim) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int t = 0;
  for (; t + 8 <= dim; t += 8) {
    for (int l = 0; l < 8; ++l) {
      const float d = a[t + l] - b[t + l];
      acc[l] += d * d;
    }
  }
  for (; t + 4 <= dim; t += 4) {
    for (int l = 0; l < 4; ++l) {
      const float d = a[t + l] - b[t + l];
      acc[l] += d * d;
    }
  }
  float s[4];
  for (int l = 0; l < 4; ++l) s[l] = acc[l] + acc[l + 4];
  float sum = (s[0] + s[1]) + (s[2] + s[3]);
  for (; t < dim; ++t) {
    const float d = a[t] - b[t];
    sum += d * d;
  }
  return sum;
}

#ifdef STRATA_X86_DISPATCH
// Two passes: a vectorised minimum, then the first index equal to it.
__attribute__((target("avx2"))) void RowArgminAvx2(const float* row,
                                                   const float* bias, int cols,
                                                   float* value, int* index) {
  int j = 0;
  __m256 vmin = _mm256_set1_ps(FLT_MAX);
  for (; j + 8 <= cols; j += 8) {
    vmin = _mm256_min_ps(vmin, _mm256_add_ps(_mm256_loadu_ps(row + j),
                                             _mm256_loadu_ps(bias + j)));
  }
  __m128 m4 =
      _mm_min_ps(_mm256_castps256_ps128(vmin), _mm256_extractf128_ps(vmin, 1));
  m4 = _mm_min_ps(m4, _mm_movehl_ps(m4, m4));
  m4 = _mm_min_ss(m4, _mm_shuffle_ps(m4, m4, 1));
  float m = _mm_cvtss_f32(m4);
  for (int t = j; t < cols; ++t) m = std::min(m, row[t] + bias[t]);
  *value = FLT_MAX;
  *index = cols;
  if (!(m < FLT_MAX)) return;
  const __m256 target = _mm256_set1_ps(m);
  for (j = 0; j + 8 <= cols; j += 8) {
    const __m256 v =
        _mm256_add_ps(_mm256_loadu_ps(row + j), _mm256_loadu_ps(bias + j));
    const int mask = _mm256_movemask_ps(_mm256_cmp_ps(v, target, _CMP_EQ_OQ));
    if (mask != 0) {
      *value = m;
      *index = j + __builtin_ctz(mask);
      return;
    }
  }
  for (; j < cols; ++j) {
    if (row[j] + bias[j] == m) {
      *value = m;
      *index = j;
      return;
    }
  }
}

// As RowTopScalar: 8 lanes are compared with the current threshold at once
// and only the survivors are re-checked in order, against a threshold that
// can only have dropped, so the result is the scalar one.
__attribute__((target("avx2"))) void RowTopAvx2(const float* row,
                                                const float* bias, int cols,
                                                uint32_t id_base, int top,
                                                float* vals, uint32_t* ids) {
  int j = 0;
  for (; j + 8 <= cols; j += 8) {
    const __m256 v =
        _mm256_add_ps(_mm256_loadu_ps(row + j), _mm256_loadu_ps(bias + j));
    int mask = _mm256_movemask_ps(
        _mm256_cmp_ps(v, _mm256_set1_ps(vals[top - 1]), _CMP_LT_OQ));
    while (mask != 0) {
      const int l = __builtin_ctz(mask);
      mask &= mask - 1;
      const float x = row[j + l] + bias[j + l];
      if (x < vals[top - 1]) InsertTop(x, id_base + j + l, top, vals, ids);
    }
  }
  RowTopScalar(row + j, bias + j, cols - j, id_base + j, top, vals, ids);
}

// Multiply then add (no FMA), to round exactly like the scalar path.
__attribute__((target("avx2"))) float SquaredL2Avx2(const float* a,
                                                    const float* b, int dim) {
  __m256 acc = _mm256_setzero_ps();
  int t = 0;
  for (; t + 8 <= dim; t += 8) {
    const __m256 d =
        _mm256_sub_ps(_mm256_loadu_ps(a + t), _mm256_loadu_ps(b + t));
    acc = _mm256_add_ps(acc, _mm256_mul_ps(d, d));
  }
  __m128 lo = _mm256_castps256_ps128(acc);
  const __m128 hi = _mm256_extractf128_ps(acc, 1);
  for (; t + 4 <= dim; t += 4) {
    const __m128 d = _mm_sub_ps(_mm_loadu_ps(a + t), _mm_loadu_ps(b + t));
    lo = _mm_add_ps(lo, _mm_mul_ps(d, d));
  }
  alignas(16) float s[4];
  _mm_store_ps(s, _mm_add_ps(lo, hi));
  float sum = (s[0] + s[1]) + (s[2] + s[3]);
  for (; t < dim; ++t) {
    const float d = a[t] - b[t];
    sum += d * d;
  }
  return sum;
}

const bool kHasAvx2 = __builtin_cpu_supports("avx2");
#endif

void RowArgmin(const float* row, const float* bias, int cols, float* value,
               int* index) {
#ifdef STRATA_X86_DISPATCH
  if (kHasAvx2) return RowArgminAvx2(row, bias, cols, value, index);
#endif
  RowArgminScalar(row, bias, cols, value, index);
}

void RowTop(const float* row, const float* bias, int cols, uint32_t id_base,
            int top, float* vals, uint32_t* ids) {
#ifdef STRATA_X86_DISPATCH
  if (kHasAvx2) return RowTopAvx2(row, bias, cols, id_base, top, vals, ids);
#endif
  RowTopScalar(row, bias, cols, id_base, top, vals, ids);
}

}  // namespace

float SquaredL2(const float* a, const float* b, int dim) {
#ifdef STRATA_X86_DISPATCH
  if (kHasAvx2) return SquaredL2Avx2(a, b, dim);
#endif
  return SquaredL2Scalar(a, b, dim);
}

float SquaredL2Portable(const float* a, const float* b, int dim) {
  return SquaredL2Scalar(a, b, dim);
}

std::optional<std::pair<size_t, int>> FirstNonFinite(
    absl::Span<const float> values, int dim) {
  for (size_t i = 0; i < values.size(); ++i) {
    if (!std::isfinite(values[i])) {
      return std::make_pair(i / dim, static_cast<int>(i % dim));
    }
  }
  return std::nullopt;
}

float SquaredNorm(const float* a, int dim) {
  float sum = 0.0f;
  for (int t = 0; t < dim; ++t) sum += a[t] * a[t];
  return sum;
}

void ScanTileArgmin(const float* dots, const float* col_bias, int rows,
                    int cols, uint32_t id_base, float* best,
                    uint32_t* best_id) {
  for (int r = 0; r < rows; ++r) {
    const float* row = dots + static_cast<size_t>(r) * cols;
    float v;
    int j;
    RowArgmin(row, col_bias, cols, &v, &j);
    if (j < cols && v < best[r]) {
      best[r] = v;
      best_id[r] = id_base + static_cast<uint32_t>(j);
    }
  }
}

void ScanTileTop(const float* dots, const float* col_bias, int rows, int cols,
                 uint32_t id_base, int top, float* vals, uint32_t* ids) {
  for (int r = 0; r < rows; ++r) {
    const size_t at = static_cast<size_t>(r) * top;
    RowTop(dots + static_cast<size_t>(r) * cols, col_bias, cols, id_base, top,
           vals + at, ids + at);
  }
}

void BlockArgmin(const float* rows, int m, const float* centroids,
                 const float* bias, size_t k, int dim, int tile,
                 uint32_t id_base, float* dots, float* best,
                 uint32_t* best_id) {
  if (m == 0) return;
  for (size_t c0 = 0; c0 < k; c0 += tile) {
    const int tn = static_cast<int>(std::min<size_t>(tile, k - c0));
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, tn, dim, -2.0f,
                rows, dim, centroids + c0 * dim, dim, 0.0f, dots, tn);
    ScanTileArgmin(dots, bias + c0, m, tn, id_base + static_cast<uint32_t>(c0),
                   best, best_id);
  }
}

namespace {

struct SearchScratch {
  std::vector<float> rows;  // block_rows x dim, centred
  std::vector<float> dots;  // block_rows x centroid_tile
  std::vector<float> best;  // block_rows x top
  std::vector<uint32_t> best_id;
};

// The centroids minus origin (empty = 0) and their squared norms.
struct CentredCentroids {
  std::vector<float> centred;
  std::vector<float> bias;
};

CentredCentroids Centre(absl::Span<const float> centroids, int dim,
                        absl::Span<const float> origin) {
  CentredCentroids out;
  const size_t k = centroids.size() / dim;
  out.centred.assign(centroids.begin(), centroids.end());
  out.bias.resize(k);
  for (size_t j = 0; j < k; ++j) {
    float* c = &out.centred[j * dim];
    if (!origin.empty()) {
      for (int t = 0; t < dim; ++t) c[t] -= origin[t];
    }
    out.bias[j] = SquaredNorm(c, dim);
  }
  return out;
}

// Runs fn(scratch, begin, m) over fixed blocks of the searched rows, with
// scratch.rows holding the block's centred rows and scratch.best/best_id
// reset to (FLT_MAX, 0) for `top` entries per row.
template <typename Fn>
void ForEachCentredBlock(absl::Span<const float> points, int dim,
                         absl::Span<const uint32_t> rows,
                         absl::Span<const float> origin, size_t count, int top,
                         const BlasSearchOptions& options, ThreadPool& pool,
                         Fn fn) {
  const int block = std::max(1, options.block_rows);
  const int tile = std::max(1, options.centroid_tile);
  std::vector<SearchScratch> scratch(pool.num_threads());
  const size_t num_blocks = (count + block - 1) / block;
  pool.ParallelFor(num_blocks, [&](size_t b, int worker) {
    SearchScratch& s = scratch[worker];
    if (s.rows.empty()) {
      s.rows.resize(static_cast<size_t>(block) * dim);
      s.dots.resize(static_cast<size_t>(block) * tile);
      s.best.resize(static_cast<size_t>(block) * top);
      s.best_id.resize(static_cast<size_t>(block) * top);
    }
    const size_t begin = b * block;
    const int m = static_cast<int>(std::min<size_t>(block, count - begin));
    for (int r = 0; r < m; ++r) {
      const size_t row = rows.empty() ? begin + r : rows[begin + r];
      const float* x = &points[row * dim];
      float* dst = &s.rows[static_cast<size_t>(r) * dim];
      for (int t = 0; t < dim; ++t) {
        dst[t] = origin.empty() ? x[t] : x[t] - origin[t];
      }
    }
    std::fill_n(s.best.begin(), static_cast<size_t>(m) * top, FLT_MAX);
    std::fill_n(s.best_id.begin(), static_cast<size_t>(m) * top, 0u);
    fn(s, begin, m);
  });
}

void CheckSearch(absl::Span<const float> points, int dim,
                 absl::Span<const uint32_t> rows,
                 absl::Span<const float> centroids,
                 absl::Span<const float> origin, size_t outputs_per_row,
                 absl::Span<uint32_t> out_ids, absl::Span<float> out_dist) {
  CHECK_GT(dim, 0);
  CHECK(origin.empty() || origin.size() == static_cast<size_t>(dim));
  const size_t count = rows.empty() ? points.size() / dim : rows.size();
  CHECK_GT(centroids.size() / dim, 0u);
  CHECK_EQ(out_ids.size(), count * outputs_per_row);
  CHECK(out_dist.empty() || out_dist.size() == count);
}

}  // namespace

void NearestCentroidsBlas(absl::Span<const float> points, int dim,
                          absl::Span<const uint32_t> rows,
                          absl::Span<const float> centroids,
                          absl::Span<const float> origin,
                          const BlasSearchOptions& options, ThreadPool& pool,
                          absl::Span<uint32_t> out_ids,
                          absl::Span<float> out_dist) {
  CheckSearch(points, dim, rows, centroids, origin, 1, out_ids, out_dist);
  const size_t count = out_ids.size();
  const size_t k = centroids.size() / dim;
  const CentredCentroids cc = Centre(centroids, dim, origin);
  const int tile = std::max(1, options.centroid_tile);
  ForEachCentredBlock(
      points, dim, rows, origin, count, 1, options, pool,
      [&](SearchScratch& s, size_t begin, int m) {
        BlockArgmin(s.rows.data(), m, cc.centred.data(), cc.bias.data(), k, dim,
                    tile, 0, s.dots.data(), s.best.data(), s.best_id.data());
        for (int r = 0; r < m; ++r) {
          out_ids[begin + r] = s.best_id[r];
          if (!out_dist.empty()) {
            const size_t row = rows.empty() ? begin + r : rows[begin + r];
            out_dist[begin + r] = SquaredL2(
                &points[row * dim],
                &centroids[static_cast<size_t>(s.best_id[r]) * dim], dim);
          }
        }
      });
}

void MergeNearestTopBlas(absl::Span<const float> points, int dim,
                         absl::Span<const float> centroids,
                         absl::Span<const float> origin, uint32_t id_base,
                         int top, const BlasSearchOptions& options,
                         ThreadPool& pool, absl::Span<float> vals,
                         absl::Span<uint32_t> ids) {
  CHECK_GE(top, 1);
  CheckSearch(points, dim, {}, centroids, origin, top, ids, {});
  CHECK_EQ(vals.size(), ids.size());
  const size_t k = centroids.size() / dim;
  const CentredCentroids cc = Centre(centroids, dim, origin);
  const int tile = std::max(1, options.centroid_tile);
  ForEachCentredBlock(
      points, dim, {}, origin, ids.size() / top, 1, options, pool,
      [&](SearchScratch& s, size_t begin, int m) {
        for (size_t c0 = 0; c0 < k; c0 += tile) {
          const int tn = static_cast<int>(std::min<size_t>(tile, k - c0));
          cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, tn, dim,
                      -2.0f, s.rows.data(), dim, &cc.centred[c0 * dim], dim,
                      0.0f, s.dots.data(), tn);
          ScanTileTop(s.dots.data(), &cc.bias[c0], m, tn,
                      id_base + static_cast<uint32_t>(c0), top,
                      &vals[begin * top], &ids[begin * top]);
        }
      });
}

void NearestCandidate(absl::Span<const float> points, int dim,
                      absl::Span<const float> centroids,
                      absl::Span<const uint32_t> candidates, int top,
                      ThreadPool& pool, absl::Span<uint32_t> out_ids,
                      absl::Span<float> out_dist) {
  const size_t n = points.size() / dim;
  CHECK_EQ(candidates.size(), n * top);
  CHECK_EQ(out_ids.size(), n);
  CHECK(out_dist.empty() || out_dist.size() == n);
  constexpr size_t kBlock = 1024;
  pool.ParallelFor((n + kBlock - 1) / kBlock, [&](size_t b, int) {
    const size_t end = std::min(n, (b + 1) * kBlock);
    for (size_t i = b * kBlock; i < end; ++i) {
      const uint32_t* cand = &candidates[i * top];
      float best = FLT_MAX;
      uint32_t best_id = cand[0];
      for (int r = 0; r < top; ++r) {
        if (r > 0 && cand[r] == cand[r - 1]) continue;  // padding
        const float d =
            SquaredL2(&points[i * dim], &centroids[size_t(cand[r]) * dim], dim);
        if (d < best || (d == best && cand[r] < best_id)) {
          best = d;
          best_id = cand[r];
        }
      }
      out_ids[i] = best_id;
      if (!out_dist.empty()) out_dist[i] = best;
    }
  });
}

}  // namespace strata::compression::internal
