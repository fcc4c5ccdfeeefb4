#include "compression/saec.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <numeric>
#include <functional>
#include <optional>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "compression/internal/centroids.h"
#include "compression/internal/coarse_index.h"
#include "compression/internal/distance.h"
#include "compression/internal/tail_sample.h"
#include "compression/internal/thread_pool.h"
#include "compression/internal/timer.h"
#include "proto/base/hash.h"
#include "proto/base/status_macros.h"

namespace strata::compression {
namespace {

using internal::SecondsSince;
using internal::SteadyClock;
using internal::ThreadPool;

// The outcome of clustering one field with one k.
struct Clustering {
  std::string method;
  std::vector<float> centroids;  // k x dim
  std::vector<uint32_t> assignment;
  int64_t head = 0, tail = 0, tail_sample = 0, singletons = 0;
  double cluster_seconds = 0, tail_seconds = 0;
  std::vector<IterationStats> iterations;
  double weighted_mse = 0;
  // Candidate clusters of the clustered rows from the head k-means
  // (clustered.size() x head_width, global ids; head_width 0 = none).
  std::vector<uint32_t> clustered, head_candidates;
  int head_width = 0;

  uint32_t k(int dim) const {
    return static_cast<uint32_t>(centroids.size() / dim);
  }
};

absl::Status FieldError(const FieldData& field, absl::string_view message) {
  return absl::InvalidArgumentError(
      absl::StrCat("field '", field.name, "': ", message));
}

absl::Status ValidateOptions(const SaecOptions& o) {
  const ClusterCountOptions& c = o.clusters;
  if (c.mode == ClusterCountOptions::Mode::kFixed && c.k <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("k must be > 0, got ", c.k));
  }
  if (c.mode == ClusterCountOptions::Mode::kTargetRatio &&
      !(c.target_ratio >= 1.0 && std::isfinite(c.target_ratio))) {
    return absl::InvalidArgumentError(absl::StrCat(
        "target_ratio must be finite and >= 1, got ", c.target_ratio));
  }
  if (c.mode == ClusterCountOptions::Mode::kDistortionBudget &&
      (!(c.max_mse >= 0.0 && std::isfinite(c.max_mse)) || c.initial_k <= 0 ||
       !(c.k_precision >= 0) || c.max_probes < 0)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "distortion budget needs finite max_mse >= 0, initial_k > 0, "
        "k_precision >= 0 and max_probes >= 0; got max_mse = ",
        c.max_mse, ", initial_k = ", c.initial_k));
  }
  if (!(o.head_mass > 0.0 && o.head_mass <= 1.0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("head_mass must be in (0, 1], got ", o.head_mass));
  }
  if (o.head_count < 0 || o.hot_singletons < 0 || o.nprobe < 1 ||
      o.coarse_cells < 0 || !(o.min_head_per_cluster >= 0) ||
      !(o.tail_sample_per_cluster >= 0) ||
      !std::isfinite(o.tail_sample_per_cluster) ||
      !(o.head_tol >= 0 && std::isfinite(o.head_tol)) ||
      o.head_candidates < 0 || o.refine_rounds < 0 ||
      o.min_features_to_compress < 0) {
    return absl::InvalidArgumentError(
        "head_count, hot_singletons, coarse_cells, min_head_per_cluster, "
        "tail_sample_per_cluster, head_tol, head_candidates, refine_rounds and "
        "min_features_to_compress must "
        "be >= 0 and finite, and nprobe >= 1");
  }
  return absl::OkStatus();
}

// Frequencies as weights; all 1 if every frequency is 0.
std::vector<double> FieldWeights(const FieldData& field) {
  std::vector<double> w(field.frequencies.begin(), field.frequencies.end());
  if (std::all_of(w.begin(), w.end(), [](double x) { return x == 0; })) {
    std::fill(w.begin(), w.end(), 1.0);
  }
  return w;
}

std::vector<float> FallbackVector(const FieldData& field,
                                  const std::vector<double>& w,
                                  SaecOptions::Fallback kind) {
  std::vector<float> out(field.dim, 0.0f);
  if (kind == SaecOptions::Fallback::kZeros) return out;
  std::vector<double> sum(field.dim, 0.0);
  double total = 0;
  for (size_t i = 0; i < w.size(); ++i) {
    if (w[i] == 0) continue;
    for (int t = 0; t < field.dim; ++t) {
      sum[t] += w[i] * field.vectors[i * field.dim + t];
    }
    total += w[i];
  }
  for (int t = 0; t < field.dim; ++t) {
    out[t] = static_cast<float>(sum[t] / total);
  }
  return out;
}

Clustering Identity(const FieldData& field) {
  Clustering c;
  c.method = "none";
  c.centroids.assign(field.vectors.begin(), field.vectors.end());
  c.assignment.resize(field.keys.size());
  std::iota(c.assignment.begin(), c.assignment.end(), 0u);
  return c;
}

KMeansOptions ClusteringKMeansOptions(const SaecOptions& options,
                                      int num_threads) {
  KMeansOptions km = options.kmeans;
  km.num_threads = num_threads;
  return km;
}

absl::StatusOr<Clustering> FullKMeans(const FieldData& field,
                                      const std::vector<double>& w, int64_t k,
                                      const SaecOptions& options,
                                      int num_threads) {
  const SteadyClock::time_point start = SteadyClock::now();
  STRATA_ASSIGN_OR_RETURN(
      KMeansResult km,
      KMeans(field.vectors, field.dim,
             options.weight_by_frequency ? absl::MakeConstSpan(w)
                                         : absl::Span<const double>(),
             k, ClusteringKMeansOptions(options, num_threads)));
  Clustering c;
  c.method = "kmeans";
  c.centroids = std::move(km.centroids);
  c.assignment = std::move(km.assignment);
  c.head = static_cast<int64_t>(field.keys.size());
  c.iterations = std::move(km.iterations);
  c.cluster_seconds = SecondsSince(start);
  return c;
}

// Number of head features after the s singletons (see SaecOptions), looking
// only at the first `valid` entries of order (sorted by frequency); nullopt
// if that prefix is too short to decide.
std::optional<int64_t> HeadSize(const std::vector<uint32_t>& order,
                                size_t valid, const std::vector<double>& w,
                                double total, int64_t s, int64_t shared_k,
                                const SaecOptions& options) {
  const int64_t n = static_cast<int64_t>(order.size());
  const int64_t t = static_cast<int64_t>(valid);
  int64_t m = options.head_count;
  if (m == 0) {
    double covered = 0;
    for (int64_t i = 0; i < std::min(s, t); ++i) covered += w[order[i]];
    while (s + m < t && covered < options.head_mass * total) {
      covered += w[order[s + m]];
      ++m;
    }
    if (covered < options.head_mass * total && t < n) return std::nullopt;
  }
  const double floor_size =
      std::ceil(options.min_head_per_cluster * static_cast<double>(shared_k));
  m = std::clamp<int64_t>(
      std::max<int64_t>(m, static_cast<int64_t>(floor_size)), 1, n - s);
  if (s + m > t && t < n) return std::nullopt;
  return m;
}

// Orders rows for the head/tail split: the s + m most frequent rows by
// (frequency desc, row asc), then every other row in ascending row order.
// Only the prefix is sorted (nth_element on a growing candidate count), so
// a 1M-feature field costs a few linear passes, not a full sort.
std::vector<uint32_t> SplitByFrequency(absl::Span<const uint64_t> freq,
                                       const std::vector<double>& w, int64_t s,
                                       int64_t shared_k,
                                       const SaecOptions& options,
                                       int64_t* head) {
  const size_t n = freq.size();
  auto hotter = [&](uint32_t a, uint32_t b) {
    return freq[a] > freq[b] || (freq[a] == freq[b] && a < b);
  };
  std::vector<uint32_t> order(n);
  std::iota(order.begin(), order.end(), 0u);
  const double total = std::accumulate(w.begin(), w.end(), 0.0);
  size_t t = std::min(n, static_cast<size_t>(4 * (s + shared_k)) + 1024);
  for (;;) {
    if (t < n)
      std::nth_element(order.begin(), order.begin() + t, order.end(), hotter);
    std::sort(order.begin(), order.begin() + t, hotter);
    const std::optional<int64_t> m =
        HeadSize(order, t, w, total, s, shared_k, options);
    if (m.has_value()) {
      *head = *m;
      break;
    }
    t = std::min(n, 4 * t);
  }
  const size_t hot = static_cast<size_t>(s + *head);
  std::vector<char> is_hot(n, 0);
  for (size_t i = 0; i < hot; ++i) is_hot[order[i]] = 1;
  size_t next = hot;
  for (uint32_t row = 0; row < n; ++row) {
    if (!is_hot[row]) order[next++] = row;
  }
  return order;
}

// Nearest-centroid ids of tail rows and, from the coarse index, each row's
// best centroid in each probed cell (rows x width; width 0 = none).
struct TailAssignment {
  std::vector<uint32_t> ids;
  std::vector<uint32_t> candidates;
  int width = 0;
};

// Assigns `rows` to the nearest of `centroids` (coarse index or brute
// force); ids are in [0, centroids.size() / dim).
absl::StatusOr<TailAssignment> AssignTail(const FieldData& field,
                                          absl::Span<const uint32_t> rows,
                                          absl::Span<const float> centroids,
                                          const SaecOptions& options,
                                          ThreadPool& pool) {
  TailAssignment out;
  out.ids.resize(rows.size());
  internal::BlasSearchOptions search;
  search.block_rows = options.kmeans.block_rows;
  search.centroid_tile = options.kmeans.centroid_tile;
  if (options.tail_search == SaecOptions::TailSearch::kBruteForce) {
    internal::NearestCentroidsBlas(field.vectors, field.dim, rows, centroids,
                                   {}, search, pool, absl::MakeSpan(out.ids),
                                   {});
    return out;
  }
  internal::CoarseIndexOptions co;
  co.cells = options.coarse_cells;
  co.seed = options.kmeans.seed;
  co.num_threads = pool.num_threads();
  co.search = search;
  STRATA_ASSIGN_OR_RETURN(
      const internal::CoarseIndex index,
      internal::CoarseIndex::Build(centroids, field.dim, co));
  out.width = std::clamp(options.nprobe, 1, index.num_cells());
  if (options.refine_rounds > 0 && options.refine_with_tail) {
    out.candidates.resize(rows.size() * out.width);
  }
  index.Assign(field.vectors, rows, options.nprobe, pool,
               absl::MakeSpan(out.ids), {}, absl::MakeSpan(out.candidates));
  if (out.candidates.empty()) out.width = 0;
  return out;
}

// The rows that k-means clusters and their weights: the head by frequency,
// then the tail sample with Horvitz-Thompson weights, so that the clustered
// objective estimates the whole field's.
struct ClusteredSet {
  std::vector<uint32_t> rows;
  std::vector<double> weights;
  std::vector<uint32_t> rest;  // tail rows left for nearest-centroid search
  int64_t head = 0, sample = 0;
};

ClusteredSet SelectClustered(const std::vector<uint32_t>& order,
                             const std::vector<double>& w, int64_t s,
                             int64_t head, int64_t shared_k,
                             const SaecOptions& options) {
  ClusteredSet set;
  set.head = head;
  const absl::Span<const uint32_t> tail =
      absl::MakeConstSpan(order).subspan(s + set.head);
  const size_t want = static_cast<size_t>(
      std::llround(options.tail_sample_per_cluster * shared_k));
  const std::vector<double> base =
      options.weight_by_frequency ? w : std::vector<double>(w.size(), 1.0);
  std::optional<internal::TailSample> sample;
  if (options.weight_by_frequency &&
      options.tail_sampling == SaecOptions::TailSampling::kByFrequency) {
    sample =
        internal::SampleTailByFrequency(tail, want, w, options.kmeans.seed);
  }
  if (!sample.has_value()) {
    sample = internal::SampleTailUniform(tail, want, base, options.kmeans.seed);
  }
  set.sample = static_cast<int64_t>(sample->rows.size());
  set.rest = std::move(sample->rest);
  set.rows.assign(order.begin() + s, order.begin() + s + set.head);
  set.weights.resize(set.rows.size());
  for (size_t j = 0; j < set.rows.size(); ++j)
    set.weights[j] = base[set.rows[j]];
  set.rows.insert(set.rows.end(), sample->rows.begin(), sample->rows.end());
  set.weights.insert(set.weights.end(), sample->weights.begin(),
                     sample->weights.end());
  return set;
}

// Steps 2-4 of the header: singletons and the clustered set. Fills
// c.centroids (singletons first), the clustered part of c.assignment and
// returns the remaining tail rows.
absl::StatusOr<std::vector<uint32_t>> ClusterHead(
    const FieldData& field, const std::vector<double>& w, int64_t k,
    const SaecOptions& options, int num_threads, Clustering& c) {
  const int dim = field.dim;
  const int64_t s = std::min<int64_t>(options.hot_singletons, k - 1);
  int64_t head = 0;
  const std::vector<uint32_t> order =
      SplitByFrequency(field.frequencies, w, s, k - s, options, &head);
  ClusteredSet set = SelectClustered(order, w, s, head, k - s, options);
  std::vector<float> points(set.rows.size() * dim);
  for (size_t j = 0; j < set.rows.size(); ++j) {
    std::copy_n(&field.vectors[size_t(set.rows[j]) * dim], dim,
                &points[j * dim]);
  }
  KMeansOptions head_options = ClusteringKMeansOptions(options, num_threads);
  head_options.init = options.head_init;
  head_options.tol = options.head_tol;
  head_options.candidates = options.head_candidates;
  STRATA_ASSIGN_OR_RETURN(
      KMeansResult km, KMeans(points, dim, set.weights, k - s, head_options));
  c.centroids.resize(static_cast<size_t>(s) * dim);
  for (int64_t i = 0; i < s; ++i) {
    std::copy_n(&field.vectors[size_t(order[i]) * dim], dim,
                &c.centroids[i * dim]);
    c.assignment[order[i]] = static_cast<uint32_t>(i);
  }
  c.centroids.insert(c.centroids.end(), km.centroids.begin(),
                     km.centroids.end());
  for (size_t j = 0; j < set.rows.size(); ++j) {
    c.assignment[set.rows[j]] = static_cast<uint32_t>(s) + km.assignment[j];
  }
  c.clustered = std::move(set.rows);
  c.head_width = km.candidates.empty() ? 0 : head_options.candidates;
  c.head_candidates = std::move(km.candidates);
  for (uint32_t& id : c.head_candidates) id += static_cast<uint32_t>(s);
  c.singletons = s;
  c.head = set.head;
  c.tail_sample = set.sample;
  c.iterations = std::move(km.iterations);
  return std::move(set.rest);
}

// Every row's candidate clusters, width per row: the head k-means's lists
// for clustered rows, the coarse index's per-cell winners for tail rows, and
// a row's own cluster otherwise (singletons), padded with that cluster.
std::vector<uint32_t> AllCandidates(size_t n, absl::Span<const uint32_t> tail,
                                    const TailAssignment& assigned,
                                    const Clustering& c, int width) {
  std::vector<uint32_t> cand(n * width);
  for (size_t i = 0; i < n; ++i) {
    std::fill_n(&cand[i * width], width, c.assignment[i]);
  }
  const int head_width = std::min(width, c.head_width);
  for (size_t j = 0; j < c.clustered.size() && head_width > 0; ++j) {
    std::copy_n(&c.head_candidates[j * c.head_width], head_width,
                &cand[size_t(c.clustered[j]) * width]);
  }
  const uint32_t s = static_cast<uint32_t>(c.singletons);
  for (size_t i = 0; i < tail.size(); ++i) {
    for (int r = 0; r < assigned.width; ++r) {
      cand[size_t(tail[i]) * width + r] =
          s + assigned.candidates[i * assigned.width + r];
    }
  }
  return cand;
}

// SaecOptions::refine_rounds: Lloyd rounds over the whole field, each row
// compared only with its candidate clusters.
void RefineOverCandidates(const FieldData& field,
                          absl::Span<const double> weights,
                          absl::Span<const uint32_t> tail,
                          const TailAssignment& assigned,
                          const SaecOptions& options, ThreadPool& pool,
                          Clustering& c) {
  const int width = std::max(assigned.width, c.head_width);
  const std::vector<uint32_t> cand =
      AllCandidates(field.keys.size(), tail, assigned, c, width);
  for (int round = 0; round < options.refine_rounds; ++round) {
    internal::NearestCandidate(field.vectors, field.dim, c.centroids, cand,
                               width, pool, absl::MakeSpan(c.assignment), {});
    internal::UpdateCentroids(
        field.vectors, field.dim, weights,
        internal::GroupByCluster(c.assignment, c.k(field.dim)), pool,
        absl::MakeSpan(c.centroids));
  }
}

absl::StatusOr<Clustering> SaecClustering(const FieldData& field,
                                          const std::vector<double>& w,
                                          int64_t k, const SaecOptions& options,
                                          ThreadPool& pool) {
  const int dim = field.dim;
  Clustering c;
  c.method = "saec";
  c.assignment.resize(field.keys.size());
  SteadyClock::time_point start = SteadyClock::now();
  STRATA_ASSIGN_OR_RETURN(
      const std::vector<uint32_t> tail,
      ClusterHead(field, w, k, options, pool.num_threads(), c));
  c.cluster_seconds = SecondsSince(start);
  c.tail = static_cast<int64_t>(tail.size());
  if (tail.empty()) return c;

  start = SteadyClock::now();
  const uint32_t s = static_cast<uint32_t>(c.singletons);
  STRATA_ASSIGN_OR_RETURN(
      TailAssignment assigned,
      AssignTail(field, tail,
                 absl::MakeConstSpan(c.centroids).subspan(size_t(s) * dim),
                 options, pool));
  for (size_t i = 0; i < tail.size(); ++i) {
    c.assignment[tail[i]] = s + assigned.ids[i];
  }
  if (options.refine_with_tail) {
    const absl::Span<const double> weights = options.weight_by_frequency
                                                 ? absl::MakeConstSpan(w)
                                                 : absl::Span<const double>();
    // Singletons have one member each, so their exact vectors survive.
    internal::UpdateCentroids(field.vectors, dim, weights,
                              internal::GroupByCluster(c.assignment, c.k(dim)),
                              pool, absl::MakeSpan(c.centroids));
    if (assigned.width > 0) {
      RefineOverCandidates(field, weights, tail, assigned, options, pool, c);
    }
  }
  c.tail_seconds = SecondsSince(start);
  return c;
}

// Renumbers clusters without members away (keeping the order of the rest).
void DropEmptyClusters(int dim, Clustering& c) {
  const uint32_t k = c.k(dim);
  std::vector<uint32_t> size(k, 0);
  for (uint32_t a : c.assignment) ++size[a];
  std::vector<uint32_t> new_id(k);
  uint32_t next = 0;
  for (uint32_t j = 0; j < k; ++j) {
    new_id[j] = next;
    if (size[j] == 0) continue;
    if (next != j) {
      std::copy_n(&c.centroids[size_t(j) * dim], dim,
                  &c.centroids[size_t(next) * dim]);
    }
    ++next;
  }
  if (next == k) return;
  c.centroids.resize(size_t(next) * dim);
  for (uint32_t& a : c.assignment) a = new_id[a];
}

// Clusters with k clusters (identity for k >= n) and measures the MSE.
absl::StatusOr<Clustering> ClusterWithK(const FieldData& field,
                                        const std::vector<double>& w, int64_t k,
                                        const SaecOptions& options,
                                        ThreadPool& pool) {
  absl::StatusOr<Clustering> c;
  if (static_cast<uint64_t>(k) >= field.keys.size()) {
    c = Identity(field);
  } else if (options.algorithm == SaecOptions::Algorithm::kFullKMeans) {
    c = FullKMeans(field, w, k, options, pool.num_threads());
  } else {
    c = SaecClustering(field, w, k, options, pool);
  }
  if (!c.ok()) return c;
  DropEmptyClusters(field.dim, *c);
  const double total = std::accumulate(w.begin(), w.end(), 0.0);
  c->weighted_mse = internal::WeightedDistortion(field.vectors, field.dim, w,
                                                 c->assignment, c->centroids) /
                    total;
  return c;
}

absl::StatusOr<Clustering> SearchBudget(const FieldData& field,
                                        const std::vector<double>& w,
                                        const SaecOptions& options,
                                        ThreadPool& pool, int* probes) {
  std::optional<Clustering> last, best;
  STRATA_RETURN_IF_ERROR(
      SearchDistortionBudget(
          static_cast<int64_t>(field.keys.size()), options.clusters,
          [&](int64_t k) -> absl::StatusOr<double> {
            STRATA_ASSIGN_OR_RETURN(last,
                                    ClusterWithK(field, w, k, options, pool));
            return last->weighted_mse;
          },
          [&] { best = std::move(last); }, probes)
          .status());
  return *std::move(best);
}

absl::StatusOr<Clustering> ChooseKAndCluster(const FieldData& field,
                                             const std::vector<double>& w,
                                             const SaecOptions& options,
                                             ThreadPool& pool, int* probes) {
  const ClusterCountOptions& o = options.clusters;
  const int64_t n = static_cast<int64_t>(field.keys.size());
  if (n < options.min_features_to_compress) return Identity(field);
  int64_t k = o.k;
  switch (o.mode) {
    case ClusterCountOptions::Mode::kFixed:
      break;
    case ClusterCountOptions::Mode::kTargetRatio: {
      absl::StatusOr<int64_t> kr =
          ClustersForTargetRatio(n, field.dim, o.target_ratio, options.index);
      if (!kr.ok()) return FieldError(field, kr.status().message());
      k = *kr;
      break;
    }
    case ClusterCountOptions::Mode::kDistortionBudget:
      return SearchBudget(field, w, options, pool, probes);
  }
  *probes = 1;
  return ClusterWithK(field, w, std::min(k, n), options, pool);
}

}  // namespace

absl::Status ValidateFieldData(const FieldData& field) {
  const size_t n = field.keys.size();
  if (field.dim <= 0)
    return FieldError(field, absl::StrCat("dim must be > 0, got ", field.dim));
  if (n == 0) return FieldError(field, "no features (n = 0)");
  if (n > std::numeric_limits<uint32_t>::max()) {
    return FieldError(field, absl::StrCat("n = ", n, " exceeds 2^32 - 1"));
  }
  if (field.vectors.size() != n * field.dim) {
    return FieldError(
        field, absl::StrCat("vectors has ", field.vectors.size(),
                            " floats, expected n * dim = ", n, " * ", field.dim,
                            " = ", n * field.dim));
  }
  if (field.frequencies.size() != n) {
    return FieldError(field,
                      absl::StrCat("frequencies has ", field.frequencies.size(),
                                   " entries, expected n = ", n));
  }
  if (auto bad = internal::FirstNonFinite(field.vectors, field.dim)) {
    return FieldError(
        field,
        absl::StrCat("row ", bad->first, " (key ", field.keys[bad->first],
                     ") has a non-finite value in column ", bad->second));
  }
  absl::flat_hash_map<uint64_t, size_t> seen;
  seen.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    auto [it, inserted] = seen.emplace(field.keys[i], i);
    if (!inserted) {
      return FieldError(
          field, absl::StrCat("duplicate key ", field.keys[i], " at rows ",
                              it->second, " and ", i));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> SearchDistortionBudget(
    int64_t n, const ClusterCountOptions& o,
    const std::function<absl::StatusOr<double>(int64_t k)>& probe,
    const std::function<void()>& keep, int* probes) {
  int64_t lo = 0, hi = std::min(o.initial_k, n);
  for (;;) {  // doubling; k = n (identity, MSE 0) always meets the budget
    STRATA_ASSIGN_OR_RETURN(const double mse, probe(hi));
    ++*probes;
    if (mse <= o.max_mse || hi >= n) {
      keep();
      break;
    }
    lo = hi;
    hi = std::min(2 * hi, n);
  }
  for (int step = 0; step < o.max_probes; ++step) {
    const int64_t gap = hi - lo;
    if (gap <= 1 || gap <= o.k_precision * static_cast<double>(hi)) break;
    const int64_t mid = lo + gap / 2;
    STRATA_ASSIGN_OR_RETURN(const double mse, probe(mid));
    ++*probes;
    if (mse <= o.max_mse) {
      hi = mid;
      keep();
    } else {
      lo = mid;
    }
  }
  return hi;
}

absl::StatusOr<int64_t> ClustersForTargetRatio(int64_t n, int dim,
                                               double target_ratio,
                                               const KeyIndexOptions& index) {
  if (!(target_ratio >= 1.0) || !std::isfinite(target_ratio) || n <= 0 ||
      dim <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("need target_ratio >= 1, n > 0, dim > 0; got ",
                     target_ratio, ", ", n, ", ", dim));
  }
  const double row = 4.0 * dim;
  const double before =
      n * row + KeyIndex::PredictBytes(n, static_cast<uint32_t>(n - 1), index);
  // The flat map's bytes do not depend on the values; compute them once.
  const std::optional<size_t> flat_index =
      index.layout == IndexLayout::kFlatHashMap
          ? std::optional<size_t>(KeyIndex::PredictBytes(n, 0, index))
          : std::nullopt;
  auto after = [&](int64_t k) {
    const size_t idx = flat_index ? *flat_index
                                  : KeyIndex::PredictBytes(
                                        n, static_cast<uint32_t>(k - 1), index);
    return (k + 1) * row + static_cast<double>(idx);
  };
  if (before < target_ratio * after(1)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "target_ratio %g is unreachable: the key index alone needs %.0f "
        "bytes; the best ratio (k = 1) is %.2f",
        target_ratio, after(1) - 2 * row, before / after(1)));
  }
  int64_t lo = 1, hi = n;  // after() is non-decreasing in k
  while (lo < hi) {
    const int64_t mid = lo + (hi - lo + 1) / 2;
    if (before >= target_ratio * after(mid)) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  return lo;
}

absl::StatusOr<FieldCompression> CompressField(const FieldData& field,
                                               const SaecOptions& options) {
  const SteadyClock::time_point start = SteadyClock::now();
  STRATA_RETURN_IF_ERROR(ValidateFieldData(field));
  const absl::Status valid = ValidateOptions(options);
  if (!valid.ok()) return FieldError(field, valid.message());
  const std::vector<double> w = FieldWeights(field);
  ThreadPool pool(internal::ResolveThreads(options.num_threads));
  int probes = 0;
  STRATA_ASSIGN_OR_RETURN(Clustering c,
                          ChooseKAndCluster(field, w, options, pool, &probes));

  const SteadyClock::time_point index_start = SteadyClock::now();
  const int dim = field.dim;
  const uint32_t k = c.k(dim);
  STRATA_ASSIGN_OR_RETURN(
      CompressedField compressed,
      CompressedField::Create(dim, std::move(c.centroids),
                              FallbackVector(field, w, options.fallback),
                              field.keys, c.assignment, options.index));
  CompressionStats st;
  st.index_seconds = SecondsSince(index_start);
  st.field = field.name;
  st.method = c.method;
  st.features = static_cast<int64_t>(field.keys.size());
  st.clusters = k;
  st.vectors_before = st.features;
  st.vectors_after = k;
  st.head_features = c.head;
  st.tail_features = c.tail;
  st.tail_sample_features = c.tail_sample;
  st.singleton_features = c.singletons;
  st.index_bytes_before = KeyIndex::PredictBytes(
      field.keys.size(), static_cast<uint32_t>(field.keys.size() - 1),
      options.index);
  st.index_bytes_after = compressed.index_bytes();
  st.bytes_before =
      field.vectors.size() * sizeof(float) + st.index_bytes_before;
  st.bytes_after = compressed.bytes();
  st.ratio = static_cast<double>(st.bytes_before) / st.bytes_after;
  st.weighted_mse = c.weighted_mse;
  st.cluster_seconds = c.cluster_seconds;
  st.tail_seconds = c.tail_seconds;
  st.k_probes = probes;
  st.iterations = std::move(c.iterations);
  st.seconds = SecondsSince(start);
  return FieldCompression{std::move(compressed), std::move(c.assignment),
                          std::move(st)};
}

absl::StatusOr<std::vector<FieldCompression>> CompressFields(
    const std::vector<FieldData>& fields, const SaecOptions& options) {
  const int budget = internal::ResolveThreads(options.num_threads);
  const int concurrent = static_cast<int>(
      std::min<size_t>(budget, std::max<size_t>(1, fields.size())));
  SaecOptions per_field = options;
  per_field.num_threads = std::max(1, budget / concurrent);
  // Largest fields first, so a big field does not start last.
  std::vector<size_t> order(fields.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return fields[a].keys.size() > fields[b].keys.size();
  });
  std::vector<std::optional<absl::StatusOr<FieldCompression>>> results(
      fields.size());
  ThreadPool pool(concurrent);
  pool.ParallelFor(fields.size(), [&](size_t task, int) {
    results[order[task]] = CompressField(fields[order[task]], per_field);
  });
  std::vector<FieldCompression> out;
  out.reserve(fields.size());
  for (auto& r : results) {
    STRATA_ASSIGN_OR_RETURN(FieldCompression f, *std::move(r));
    out.push_back(std::move(f));
  }
  return out;
}

}  // namespace strata::compression
