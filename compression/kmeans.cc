#include "compression/kmeans.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <random>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "compression/internal/centroids.h"
#include "compression/internal/distance.h"
#include "compression/internal/random.h"
#include "compression/internal/thread_pool.h"
#include "compression/internal/timer.h"
#include "proto/base/status_macros.h"

namespace strata::compression {
namespace {

using internal::SecondsSince;
using internal::SteadyClock;
using internal::ThreadPool;

// Rows per task of the k-means++ distance update.
constexpr size_t kInitBlock = 4096;

// Runs fn(i) for every row i < n, in fixed blocks of kInitBlock rows spread
// over the pool; fn must only touch row i's own state.
template <typename Fn>
void ForRowBlocks(size_t n, ThreadPool& pool, Fn fn) {
  pool.ParallelFor((n + kInitBlock - 1) / kInitBlock, [&](size_t b, int) {
    const size_t end = std::min(n, (b + 1) * kInitBlock);
    for (size_t i = b * kInitBlock; i < end; ++i) fn(i);
  });
}

absl::StatusOr<size_t> ValidatePoints(absl::Span<const float> points, int dim,
                                      absl::Span<const double> weights) {
  if (dim <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("dim must be > 0, got ", dim));
  }
  if (points.empty()) return absl::InvalidArgumentError("no points (n = 0)");
  if (points.size() % dim != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("points has ", points.size(),
                     " floats, not a multiple of dim = ", dim));
  }
  const size_t n = points.size() / dim;
  if (n > std::numeric_limits<uint32_t>::max()) {
    return absl::InvalidArgumentError(
        absl::StrCat("n = ", n, " points exceed the 2^32 - 1 limit"));
  }
  if (!weights.empty() && weights.size() != n) {
    return absl::InvalidArgumentError(absl::StrCat(
        "weights has ", weights.size(), " entries, expected n = ", n));
  }
  for (size_t i = 0; i < weights.size(); ++i) {
    if (!std::isfinite(weights[i]) || weights[i] < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "weight of row ", i, " is ", weights[i], "; need finite and >= 0"));
    }
  }
  if (auto bad = internal::FirstNonFinite(points, dim)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "row ", bad->first, " has a non-finite value in column ", bad->second));
  }
  return n;
}

// The weights actually used: a copy, or all 1 when none (or only zeros) are
// given.
std::vector<double> EffectiveWeights(absl::Span<const double> weights,
                                     size_t n) {
  const bool any_positive = std::any_of(weights.begin(), weights.end(),
                                        [](double w) { return w > 0; });
  if (!any_positive) return std::vector<double>(n, 1.0);
  return std::vector<double>(weights.begin(), weights.end());
}

// Index of the first row whose running sum of mass[i] exceeds target, where
// target is in [0, sum mass); the last row with positive mass if rounding
// runs past the end.
size_t DrawProportional(absl::Span<const double> w, absl::Span<const float> d,
                        size_t begin, size_t end, double target) {
  double acc = 0.0;
  size_t last = end;
  for (size_t i = begin; i < end; ++i) {
    const double m = d.empty() ? w[i] : w[i] * d[i];
    if (m <= 0) continue;
    acc += m;
    last = i;
    if (acc > target) return i;
  }
  return last;
}

void CopyRow(absl::Span<const float> points, int dim, size_t row, float* dst) {
  std::memcpy(dst, &points[row * dim], sizeof(float) * dim);
}

// k-means++ with D^2 * weight sampling. Each step updates D in parallel over
// fixed blocks and draws from per-block sums combined in block order.
std::vector<float> InitPlusPlus(absl::Span<const float> points, int dim,
                                const std::vector<double>& w, uint32_t k,
                                uint64_t seed, ThreadPool& pool) {
  const size_t n = w.size();
  std::mt19937_64 rng(seed);
  std::vector<float> centroids(static_cast<size_t>(k) * dim);
  std::vector<float> d(n, std::numeric_limits<float>::max());
  std::vector<char> chosen(n, 0);
  const size_t num_blocks = (n + kInitBlock - 1) / kInitBlock;
  std::vector<double> block_mass(num_blocks);

  const double w_total = std::accumulate(w.begin(), w.end(), 0.0);
  size_t pick =
      DrawProportional(w, {}, 0, n, internal::UniformDouble(rng) * w_total);
  for (uint32_t t = 0; t < k; ++t) {
    chosen[pick] = 1;
    float* c = &centroids[static_cast<size_t>(t) * dim];
    CopyRow(points, dim, pick, c);
    if (t + 1 == k) break;
    pool.ParallelFor(num_blocks, [&](size_t b, int) {
      const size_t end = std::min(n, (b + 1) * kInitBlock);
      double mass = 0.0;
      for (size_t i = b * kInitBlock; i < end; ++i) {
        const float di = internal::SquaredL2(&points[i * dim], c, dim);
        if (di < d[i]) d[i] = di;
        mass += w[i] * d[i];
      }
      block_mass[b] = mass;
    });
    double total = 0.0;
    for (double m : block_mass) total += m;
    if (total <= 0) {  // every point coincides with a centroid
      pick = std::find(chosen.begin(), chosen.end(), 0) - chosen.begin();
      continue;
    }
    double target = internal::UniformDouble(rng) * total;
    size_t b = 0;
    while (b + 1 < num_blocks && target >= block_mass[b])
      target -= block_mass[b++];
    while (block_mass[b] <= 0) --b;  // rounding ran past the last mass
    pick = DrawProportional(w, d, b * kInitBlock,
                            std::min(n, (b + 1) * kInitBlock), target);
  }
  return centroids;
}

// Efraimidis-Spirakis: key_i = log(u_i) / w_i, the k largest keys win (ties
// to the lower row); zero-weight rows only fill up after all others.
std::vector<float> InitWeightedSample(absl::Span<const float> points, int dim,
                                      const std::vector<double>& w, uint32_t k,
                                      uint64_t seed) {
  const size_t n = w.size();
  std::vector<double> key(n);
  for (size_t i = 0; i < n; ++i) {
    const double u = internal::HashToUnit(seed, i);
    key[i] = w[i] > 0 ? std::log(u) / w[i]
                      : -std::numeric_limits<double>::infinity();
  }
  std::vector<uint32_t> order(n);
  std::iota(order.begin(), order.end(), 0u);
  auto better = [&](uint32_t a, uint32_t b) {
    return key[a] > key[b] || (key[a] == key[b] && a < b);
  };
  std::partial_sort(order.begin(), order.begin() + k, order.end(), better);
  std::vector<float> centroids(static_cast<size_t>(k) * dim);
  for (uint32_t t = 0; t < k; ++t) {
    CopyRow(points, dim, order[t], &centroids[static_cast<size_t>(t) * dim]);
  }
  return centroids;
}

// Moves the best-scoring points into empty clusters (see KMeans in the
// header); returns the re-seeded clusters.
std::vector<uint32_t> ReseedEmpty(absl::Span<const float> points, int dim,
                                  const std::vector<double>& w,
                                  const internal::ClusterMembers& members,
                                  std::vector<uint32_t>& assignment,
                                  std::vector<float>& dist,
                                  std::vector<float>& centroids) {
  const uint32_t k = static_cast<uint32_t>(members.offsets.size() - 1);
  std::vector<uint32_t> empty;
  for (uint32_t j = 0; j < k; ++j) {
    if (members.size(j) == 0) empty.push_back(j);
  }
  if (empty.empty()) return empty;
  std::vector<uint32_t> cand;
  for (size_t i = 0; i < dist.size(); ++i) {
    if (dist[i] > 0) cand.push_back(static_cast<uint32_t>(i));
  }
  const size_t take = std::min(empty.size(), cand.size());
  std::partial_sort(cand.begin(), cand.begin() + take, cand.end(),
                    [&](uint32_t a, uint32_t b) {
                      const double sa = w[a] * dist[a], sb = w[b] * dist[b];
                      if (sa != sb) return sa > sb;
                      if (dist[a] != dist[b]) return dist[a] > dist[b];
                      return a < b;
                    });
  for (size_t e = 0; e < take; ++e) {
    const uint32_t row = cand[e];
    assignment[row] = empty[e];
    dist[row] = 0;
    CopyRow(points, dim, row, &centroids[static_cast<size_t>(empty[e]) * dim]);
  }
  empty.resize(take);
  return empty;
}

// Re-seeded clusters beyond this many make the next pass exhaustive rather
// than being offered to every point one by one.
constexpr size_t kMaxOfferedReseeds = 32;

// Puts each re-seeded cluster into the candidate list (n x top) of every
// point it now is nearer to than the point's distance of this pass (and of
// the point moved into it), in place of the point's last candidate other
// than its own cluster: O(n x reseeded) exact distances instead of an
// exhaustive pass. Per point, so independent of the pool.
void OfferReseeded(absl::Span<const float> points, int dim,
                   const std::vector<float>& centroids,
                   const std::vector<uint32_t>& reseeded,
                   const std::vector<uint32_t>& assignment,
                   const std::vector<float>& dist, int top, ThreadPool& pool,
                   std::vector<uint32_t>& candidates) {
  ForRowBlocks(assignment.size(), pool, [&](size_t i) {
    uint32_t* list = &candidates[i * top];
    for (uint32_t e : reseeded) {
      if (std::find(list, list + top, e) != list + top) continue;
      if (assignment[i] != e &&
          !(internal::SquaredL2(&points[i * dim], &centroids[size_t(e) * dim],
                                dim) < dist[i])) {
        continue;
      }
      int slot = top - 1;
      while (slot >= 0 && list[slot] == assignment[i]) --slot;
      if (slot >= 0) list[slot] = e;
    }
  });
}

std::vector<float> WeightedMean(absl::Span<const float> points, int dim,
                                const std::vector<double>& w) {
  std::vector<double> sum(dim, 0.0);
  double total = 0.0;
  for (size_t i = 0; i < w.size(); ++i) {
    if (w[i] == 0) continue;
    for (int t = 0; t < dim; ++t) sum[t] += w[i] * points[i * dim + t];
    total += w[i];
  }
  std::vector<float> mean(dim);
  for (int t = 0; t < dim; ++t) mean[t] = static_cast<float>(sum[t] / total);
  return mean;
}

// Rows of the `count` largest keys (ties to the lower row), ascending; rows
// whose key is -inf are never taken.
std::vector<uint32_t> TopKeys(const std::vector<double>& key, size_t count) {
  std::vector<uint32_t> rows;
  for (uint32_t i = 0; i < key.size(); ++i) {
    if (key[i] > -std::numeric_limits<double>::infinity()) rows.push_back(i);
  }
  if (rows.size() > count) {
    auto better = [&](uint32_t a, uint32_t b) {
      return key[a] > key[b] || (key[a] == key[b] && a < b);
    };
    std::nth_element(rows.begin(), rows.begin() + count, rows.end(), better);
    rows.resize(count);
  }
  std::sort(rows.begin(), rows.end());
  return rows;
}

// Whether a batch draw survives the draws accepted before it in the same
// round: sequential k-means++ would have drawn it with its distance to them
// instead of d_row, so it is kept with probability
// min(1, min_j ||x - c_j||^2 / d_row) (j over this round's centroids from
// `first` on). This removes most draws that land beside an earlier one.
bool AcceptInBatch(absl::Span<const float> points, int dim, uint32_t row,
                   float d_row, const std::vector<float>& centroids,
                   size_t first, uint64_t salt) {
  if (!(d_row < std::numeric_limits<float>::infinity())) return true;
  float nearest = d_row;
  for (size_t c = first; c < centroids.size(); c += dim) {
    nearest = std::min(nearest, internal::SquaredL2(&points[size_t(row) * dim],
                                                    &centroids[c], dim));
  }
  if (nearest >= d_row) return true;
  return internal::HashToUnit(salt ^ 0x61636370ULL, row) * d_row < nearest;
}

// Initial centroids and, when candidate lists are on, each point's `top`
// nearest of them (n x top), which is what an exhaustive first pass would
// find.
struct Seeding {
  std::vector<float> centroids;
  std::vector<uint32_t> candidates;  // empty: the first pass is exhaustive
};

// Number of candidates per point (KMeansOptions::candidates), 0 if every
// pass is to be exhaustive.
int CandidateCount(const KMeansOptions& options, uint32_t k) {
  return options.candidates > 0 && static_cast<uint32_t>(options.candidates) < k
             ? options.candidates
             : 0;
}

// See KMeansOptions::Init::kBatchedPlusPlus. `d` holds each row's squared
// distance to its nearest chosen centroid (+inf before the first round);
// each round's batch is merged into every row's list of its nearest
// centroids (the list head gives d), which are the candidates of the first
// Lloyd pass when options.candidates is on.
Seeding InitBatchedPlusPlus(absl::Span<const float> points, int dim,
                            const std::vector<double>& w, uint32_t k,
                            const KMeansOptions& options, ThreadPool& pool) {
  const size_t n = w.size();
  const int top = std::max(1, CandidateCount(options, k));
  std::vector<float> centroids;
  centroids.reserve(static_cast<size_t>(k) * dim);
  std::vector<float> d(n, std::numeric_limits<float>::infinity());
  std::vector<char> chosen(n, 0);
  std::vector<double> key(n);
  std::vector<uint32_t> ids(n * top, 0);
  std::vector<float> vals(n * top, std::numeric_limits<float>::max());
  const std::vector<float> origin = WeightedMean(points, dim, w);
  internal::BlasSearchOptions search;
  search.block_rows = options.block_rows;
  search.centroid_tile = options.centroid_tile;
  const uint32_t cap = std::max<uint32_t>(1, k / 64);
  uint32_t have = 0, batch = 1;
  for (uint64_t round = 0; have < k; ++round) {
    const uint32_t want = std::min(batch, k - have);
    const uint64_t salt = options.seed ^ (round * 0x9E3779B97F4A7C15ULL);
    ForRowBlocks(n, pool, [&](size_t i) {
      const double m = chosen[i] ? 0.0 : w[i] * (have == 0 ? 1.0 : d[i]);
      key[i] = m > 0 ? std::log(internal::HashToUnit(salt, i)) / m
                     : -std::numeric_limits<double>::infinity();
    });
    std::vector<uint32_t> picks = TopKeys(key, want);
    // Every remaining point coincides with a centroid: take unchosen rows.
    for (uint32_t i = 0; picks.size() < want && i < n; ++i) {
      if (!chosen[i] &&
          std::find(picks.begin(), picks.end(), i) == picks.end()) {
        picks.push_back(i);
      }
    }
    const size_t first = centroids.size();
    for (uint32_t row : picks) {
      // A rejected row stays drawable in later rounds, with its updated D.
      if (!AcceptInBatch(points, dim, row, d[row], centroids, first, salt)) {
        continue;
      }
      chosen[row] = 1;
      centroids.insert(centroids.end(), &points[size_t(row) * dim],
                       &points[size_t(row) * dim] + dim);
      ++have;
    }
    batch = std::min(2 * batch, cap);
    if (first == centroids.size() || (have == k && top == 1)) continue;
    const uint32_t first_id = static_cast<uint32_t>(first / dim);
    internal::MergeNearestTopBlas(
        points, dim, absl::MakeConstSpan(centroids).subspan(first), origin,
        first_id, top, search, pool, absl::MakeSpan(vals), absl::MakeSpan(ids));
    ForRowBlocks(n, pool, [&](size_t i) {
      const uint32_t head = ids[i * top];
      if (head < first_id) return;  // nearest centroid unchanged
      d[i] = std::min(d[i],
                      internal::SquaredL2(&points[i * dim],
                                          &centroids[size_t(head) * dim], dim));
    });
  }
  Seeding out;
  out.centroids = std::move(centroids);
  if (top > 1) out.candidates = std::move(ids);
  return out;
}

// One assignment pass: exhaustive (top == 0: plain; else also refilling
// each point's `top` candidates) or over the candidate lists.
void AssignPass(absl::Span<const float> points, int dim,
                const std::vector<float>& centroids,
                const std::vector<float>& origin,
                const internal::BlasSearchOptions& search, int top,
                bool exhaustive, ThreadPool& pool,
                std::vector<uint32_t>& candidates,
                std::vector<uint32_t>& assignment, std::vector<float>& dist) {
  const size_t n = assignment.size();
  if (top == 0) {
    internal::NearestCentroidsBlas(points, dim, {}, centroids, origin, search,
                                   pool, absl::MakeSpan(assignment),
                                   absl::MakeSpan(dist));
  } else if (exhaustive) {
    std::vector<float> vals(n * top, std::numeric_limits<float>::max());
    std::fill(candidates.begin(), candidates.end(), 0u);
    internal::MergeNearestTopBlas(points, dim, centroids, origin, 0, top,
                                  search, pool, absl::MakeSpan(vals),
                                  absl::MakeSpan(candidates));
    ForRowBlocks(n, pool, [&](size_t i) {
      assignment[i] = candidates[i * top];
      dist[i] = internal::SquaredL2(
          &points[i * dim], &centroids[size_t(assignment[i]) * dim], dim);
    });
  } else {
    internal::NearestCandidate(points, dim, centroids, candidates, top, pool,
                               absl::MakeSpan(assignment),
                               absl::MakeSpan(dist));
  }
}

// Lloyd from `seeding` (its candidate lists, if any, stand for the first
// exhaustive pass).
KMeansResult RunLloyd(absl::Span<const float> points, int dim,
                      const std::vector<double>& w, Seeding seeding,
                      const KMeansOptions& options, ThreadPool& pool) {
  std::vector<float> centroids = std::move(seeding.centroids);
  const size_t n = w.size();
  KMeansResult res;
  res.dim = dim;
  res.k = static_cast<uint32_t>(centroids.size() / dim);
  res.assignment.resize(n);
  std::vector<float> dist(n);
  const std::vector<float> origin = WeightedMean(points, dim, w);
  internal::BlasSearchOptions search;
  search.block_rows = options.block_rows;
  search.centroid_tile = options.centroid_tile;
  const int top = CandidateCount(options, res.k);
  std::vector<uint32_t> candidates = std::move(seeding.candidates);
  const bool seeded = top > 0 && candidates.size() == n * top;
  bool exhaustive = !seeded;
  if (!seeded) candidates.assign(n * top, 0);
  double prev = std::numeric_limits<double>::infinity();
  for (int it = 0;; ++it) {
    const SteadyClock::time_point start = SteadyClock::now();
    AssignPass(points, dim, centroids, origin, search, top, exhaustive, pool,
               candidates, res.assignment, dist);
    double objective = 0.0;
    for (size_t i = 0; i < n; ++i) objective += w[i] * dist[i];
    IterationStats stats;
    stats.iteration = it;
    stats.objective = objective;
    res.objective = objective;
    const bool converged =
        objective == 0 || (it > 0 && prev - objective < options.tol * prev);
    if (!converged && it < options.max_iters) {
      internal::ClusterMembers members =
          internal::GroupByCluster(res.assignment, res.k);
      const std::vector<uint32_t> reseeded =
          ReseedEmpty(points, dim, w, members, res.assignment, dist, centroids);
      stats.reseeded = static_cast<int64_t>(reseeded.size());
      if (stats.reseeded > 0) {
        members = internal::GroupByCluster(res.assignment, res.k);
      }
      internal::UpdateCentroids(points, dim, w, members, pool,
                                absl::MakeSpan(centroids));
      // A re-seeded cluster is in nobody's candidate list yet: offer it to
      // the points it is near, or search exhaustively if there are many.
      exhaustive = reseeded.size() > kMaxOfferedReseeds;
      if (top > 0 && !reseeded.empty() && !exhaustive) {
        OfferReseeded(points, dim, centroids, reseeded, res.assignment, dist,
                      top, pool, candidates);
      }
    }
    stats.seconds = SecondsSince(start);
    res.iterations.push_back(stats);
    if (converged || it >= options.max_iters) {
      res.converged = converged;
      break;
    }
    prev = objective;
  }
  res.cluster_weight.assign(res.k, 0.0);
  for (size_t i = 0; i < n; ++i) res.cluster_weight[res.assignment[i]] += w[i];
  res.total_weight = std::accumulate(w.begin(), w.end(), 0.0);
  res.centroids = std::move(centroids);
  if (top > 0) res.candidates = std::move(candidates);
  return res;
}

KMeansResult Identity(absl::Span<const float> points, int dim,
                      const std::vector<double>& w) {
  KMeansResult res;
  res.dim = dim;
  res.k = static_cast<uint32_t>(w.size());
  res.centroids.assign(points.begin(), points.end());
  res.assignment.resize(w.size());
  std::iota(res.assignment.begin(), res.assignment.end(), 0u);
  res.cluster_weight = w;
  res.total_weight = std::accumulate(w.begin(), w.end(), 0.0);
  res.converged = true;
  return res;
}

}  // namespace

absl::StatusOr<KMeansResult> KMeans(absl::Span<const float> points, int dim,
                                    absl::Span<const double> weights, int64_t k,
                                    const KMeansOptions& options) {
  const SteadyClock::time_point start = SteadyClock::now();
  STRATA_ASSIGN_OR_RETURN(const size_t n, ValidatePoints(points, dim, weights));
  if (k <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("k must be > 0, got ", k));
  }
  const std::vector<double> w = EffectiveWeights(weights, n);
  if (static_cast<uint64_t>(k) >= n) return Identity(points, dim, w);
  ThreadPool pool(internal::ResolveThreads(options.num_threads));
  const uint32_t kk = static_cast<uint32_t>(k);
  Seeding init;
  switch (options.init) {
    case KMeansOptions::Init::kKMeansPlusPlus:
      init.centroids = InitPlusPlus(points, dim, w, kk, options.seed, pool);
      break;
    case KMeansOptions::Init::kWeightedSample:
      init.centroids = InitWeightedSample(points, dim, w, kk, options.seed);
      break;
    case KMeansOptions::Init::kBatchedPlusPlus:
      init = InitBatchedPlusPlus(points, dim, w, kk, options, pool);
      break;
  }
  const double init_seconds = SecondsSince(start);
  KMeansResult res = RunLloyd(points, dim, w, std::move(init), options, pool);
  res.init_seconds = init_seconds;
  res.seconds = SecondsSince(start);
  return res;
}

absl::StatusOr<KMeansResult> KMeansFromCentroids(
    absl::Span<const float> points, int dim, absl::Span<const double> weights,
    absl::Span<const float> initial_centroids, const KMeansOptions& options) {
  const SteadyClock::time_point start = SteadyClock::now();
  STRATA_ASSIGN_OR_RETURN(const size_t n, ValidatePoints(points, dim, weights));
  if (initial_centroids.empty() || initial_centroids.size() % dim != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("initial_centroids has ", initial_centroids.size(),
                     " floats; need a positive multiple of dim = ", dim));
  }
  if (initial_centroids.size() / dim > std::numeric_limits<uint32_t>::max()) {
    return absl::InvalidArgumentError("more than 2^32 - 1 initial centroids");
  }
  if (auto bad = internal::FirstNonFinite(initial_centroids, dim)) {
    return absl::InvalidArgumentError(
        absl::StrCat("initial centroid ", bad->first,
                     " has a non-finite value in column ", bad->second));
  }
  const std::vector<double> w = EffectiveWeights(weights, n);
  ThreadPool pool(internal::ResolveThreads(options.num_threads));
  Seeding init;
  init.centroids.assign(initial_centroids.begin(), initial_centroids.end());
  KMeansResult res = RunLloyd(points, dim, w, std::move(init), options, pool);
  res.seconds = SecondsSince(start);
  return res;
}

}  // namespace strata::compression
