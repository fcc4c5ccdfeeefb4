// Saec: similarity-aware embedding compression.
//
// Features of one field that behave alike share one embedding vector. When a
// shard loads a table it compresses each field: it clusters the field's
// vectors and serves lookups through a feature -> cluster index
// (CompressedField). Saec's fast clustering exploits the heavy-tailed
// feature frequencies:
//
//   1. order features by frequency (ties: lower row first);
//   2. optionally keep the hottest `hot_singletons` features as private
//      singleton clusters holding their exact vectors;
//   3. the head = the next most frequent features, up to `head_mass` of all
//      occurrences (or exactly `head_count`), at least
//      min_head_per_cluster * (k - singletons) of them;
//   4. cluster the head plus a uniform sample of the tail with
//      frequency-weighted k-means (kmeans.h), sample weights scaled up by
//      |tail| / |sample| so the objective estimates the whole field's;
//   5. assign every other tail feature to its nearest centroid through a
//      coarse IVF index over the centroids (nprobe of ~sqrt(k) cells), or by
//      brute force;
//   6. optionally (refine_with_tail) move each shared centroid to the
//      weighted mean of all its members, head and tail: one update step that
//      never increases the weighted distortion of the assignment.
//
// Singletons are private: tail features are never assigned to them, so the
// hottest features keep their own trainable vectors.
//
// See docs/saec.md for the design choices and measured figures.
#ifndef STRATA_COMPRESSION_SAEC_H_
#define STRATA_COMPRESSION_SAEC_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "compression/compressed_field.h"
#include "compression/key_index.h"
#include "compression/kmeans.h"

namespace strata::compression {

// One field of an embedding table. Borrowed views: the caller keeps the data
// alive for the duration of the call. n = keys.size().
struct FieldData {
  std::string name;  // used in messages and stats
  int dim = 0;
  absl::Span<const float> vectors;         // n x dim, row-major
  absl::Span<const uint64_t> keys;         // n distinct feature keys
  absl::Span<const uint64_t> frequencies;  // n occurrence counts
};

// INVALID_ARGUMENT (message starts with "field '<name>': ") unless: dim > 0;
// n > 0; n <= 2^32 - 1; vectors.size() == n * dim; frequencies.size() == n;
// all vectors finite (names the row, key and column); keys distinct (names
// the key and both rows).
absl::Status ValidateFieldData(const FieldData& field);

struct ClusterCountOptions {
  enum class Mode {
    kFixed,             // exactly `k` clusters (k >= n: identity)
    kTargetRatio,       // largest k with bytes_before / bytes_after >= ratio
    kDistortionBudget,  // smallest k (searched) with weighted MSE <= max_mse
  };
  Mode mode = Mode::kTargetRatio;
  // kFixed. 0 is INVALID_ARGUMENT.
  int64_t k = 0;
  // kTargetRatio: byte ratio, key index included on both sides (see
  // CompressionStats). Must be >= 1. INVALID_ARGUMENT if even k = 1 cannot
  // reach it (the index alone is too big): the message gives the best
  // reachable ratio. This default (and head_mass', min_features_to_compress'
  // and kmeans.seed's) is also the parameter server's: NormalizeSaecConfig
  // takes it from here and proto/ps.proto documents it on SaecConfig.
  double target_ratio = 10.0;
  // kDistortionBudget: budget for the frequency-weighted mean squared error
  // per vector. k doubles from initial_k until the budget is met (k = n, the
  // identity, always meets it), then a bisection of at most max_probes
  // probes narrows the bracket to k_precision (relative). Each probe is a
  // full compression. The result is the smallest probed k that met the
  // budget; MSE is not strictly monotone in k, so this is the smallest k
  // *found*, not a proven minimum.
  double max_mse = 0.0;
  int64_t initial_k = 16;
  double k_precision = 0.05;
  int max_probes = 24;
};

struct SaecOptions {
  enum class Algorithm {
    kSaec,        // head/tail fast clustering (this file's header comment)
    kFullKMeans,  // frequency-weighted k-means over every feature (baseline)
  };
  Algorithm algorithm = Algorithm::kSaec;
  ClusterCountOptions clusters;

  // --- Head selection (kSaec).
  // Share of all occurrences covered by singletons + head. Higher: better
  // distortion on the tail, slower clustering (head size grows quickly
  // near 1 under a Zipf law).
  double head_mass = 0.8;
  // If > 0, the head is exactly this many features (after singletons),
  // overriding head_mass.
  int64_t head_count = 0;
  // The head has at least ceil(min_head_per_cluster * shared clusters)
  // features, so that k-means on it has something to merge; a head no
  // larger than the number of clusters would just copy head vectors.
  double min_head_per_cluster = 2.0;
  // The hottest features kept as private singleton clusters with their exact
  // vectors (capped at k - 1). They use cluster ids [0, singletons).
  int64_t hot_singletons = 0;
  // A uniform random sample of round(tail_sample_per_cluster * shared
  // clusters) tail features joins the head in k-means, each weighted
  // f * |tail| / |sample| (Horvitz-Thompson), so the clustered objective is
  // an unbiased estimate of the whole field's and latent groups that only
  // occur in the tail still attract centroids. 0 clusters the head alone.
  // Higher: lower distortion, clustering cost grows with the sample.
  double tail_sample_per_cluster = 2.0;
  // How the tail sample is drawn. kByFrequency: systematic sampling with
  // probability proportional to frequency (rows in ascending order, one
  // random start; features with f >= F_tail / |sample| are taken with
  // certainty), each sampled feature weighted f / P(sampled), i.e. every
  // non-certain one carries the same weight F_tail / |sample|. The estimate
  // stays unbiased but no sampled group is under- or over-weighted by the
  // luck of which of its features was drawn, and groups are found in
  // proportion to their traffic. kUniform: uniform, weighted
  // f * |tail| / |sample|. Without weight_by_frequency the sample is uniform.
  enum class TailSampling { kUniform, kByFrequency };
  TailSampling tail_sampling = TailSampling::kByFrequency;
  // Cluster with frequency weights (the objective is frequency-weighted);
  // false weights every feature equally.
  bool weight_by_frequency = true;

  // --- Tail assignment (kSaec).
  enum class TailSearch {
    kCoarseIndex,  // IVF over the centroids: ~sqrt(k) cells, nprobe probed
    kBruteForce,   // every centroid (BLAS), exact
  };
  TailSearch tail_search = TailSearch::kCoarseIndex;
  // Coarse cells; 0 = round(sqrt(k)).
  int coarse_cells = 0;
  // Cells probed per tail feature. Higher: fewer mis-assigned tail features,
  // proportionally slower. >= cells is an exhaustive search. 4 since issue
  // 15 (was 8): refine_rounds recovers more than the fewer probes lose.
  int nprobe = 4;
  // One final weighted-mean update of the shared centroids over head + tail
  // members. Costs one pass over the field; lowers distortion; afterwards a
  // feature's centroid is no longer guaranteed to be its nearest one.
  bool refine_with_tail = true;
  // After that update, this many Lloyd rounds over the whole field in which
  // every feature is compared only with its candidate clusters (a tail
  // feature: its nearest centroid in each probed coarse cell; a clustered
  // one: its head_candidates list), each followed by a weighted-mean update.
  // Needs refine_with_tail and the coarse index; ~2 passes over the field
  // per round.
  int refine_rounds = 2;

  // --- Clustering (head for kSaec, everything for kFullKMeans).
  // init, max_iters, tol, seed, block_rows, centroid_tile are used;
  // kmeans.num_threads is ignored in favour of num_threads below.
  KMeansOptions kmeans;
  // Seeding of the head k-means (kSaec); kmeans.init applies to kFullKMeans
  // only. Batched k-means++ does the D^2 seeding in BLAS rounds (see
  // KMeansOptions::Init).
  KMeansOptions::Init head_init = KMeansOptions::Init::kBatchedPlusPlus;
  // Relative tolerance of the head k-means (kmeans.tol applies to
  // kFullKMeans only). Looser than full k-means's: after the 3rd update a
  // head pass gains < 1% (saec_bench section 1), and the tail refinement
  // makes one more update over every feature anyway.
  double head_tol = 5e-3;
  // Candidate lists of the head k-means (KMeansOptions::candidates; kmeans.
  // candidates applies to kFullKMeans only): after an exhaustive pass, each
  // clustered feature is compared only with its head_candidates nearest
  // centroids of that pass. 0 = every pass exhaustive.
  int head_candidates = 8;

  // --- Output.
  enum class Fallback {
    kWeightedMean,  // frequency-weighted mean of all the field's vectors
    kZeros,
  };
  Fallback fallback = Fallback::kWeightedMean;
  KeyIndexOptions index;
  // Fields with fewer features stay uncompressed (identity mapping, method
  // "none"): the saving is small and k-means on a handful of points is
  // noise.
  int64_t min_features_to_compress = 1000;

  // Thread budget per call (<= 0: one per hardware thread). CompressFields
  // splits it between fields. Results do not depend on it.
  int num_threads = 0;
};

struct CompressionStats {
  std::string field;
  // "saec", "kmeans" (full baseline) or "none" (identity: tiny field, or
  // k >= n).
  std::string method;
  int64_t features = 0;              // n
  int64_t clusters = 0;              // k actually used (non-empty clusters)
  int64_t vectors_before = 0;        // n
  int64_t vectors_after = 0;         // clusters (+ 1 fallback in bytes_after)
  int64_t head_features = 0;         // most frequent, clustered by k-means
  int64_t tail_sample_features = 0;  // tail sample, clustered by k-means
  int64_t tail_features = 0;       // rest of the tail: nearest-centroid search
  int64_t singleton_features = 0;  // private exact vectors
  // bytes_before = n * dim * 4 + index bytes for n keys -> row id
  //                (same index layout, values up to n - 1);
  // bytes_after  = (clusters + 1) * dim * 4 + index bytes for n keys ->
  //                cluster id (values up to clusters - 1).
  size_t index_bytes_before = 0;
  size_t index_bytes_after = 0;
  size_t bytes_before = 0;
  size_t bytes_after = 0;
  double ratio = 0.0;  // bytes_before / bytes_after
  // sum_i f_i ||x_i - c(i)||^2 / sum_i f_i over the field's features
  // (equal weights if all frequencies are 0).
  double weighted_mse = 0.0;
  double seconds = 0.0;          // wall time of the whole compression
  double cluster_seconds = 0.0;  // k-means (head or full), last probe
  double tail_seconds = 0.0;     // coarse index build + tail assignment
  double index_seconds = 0.0;    // key index build
  int k_probes = 0;              // compressions run to choose k
  std::vector<IterationStats> iterations;  // of the final k-means run
};

struct FieldCompression {
  CompressedField field;
  std::vector<uint32_t> assignment;  // cluster of input row i
  CompressionStats stats;
};

// Compresses one field. Errors: ValidateFieldData's; INVALID_ARGUMENT for
// invalid options (k = 0 in kFixed, target_ratio < 1 or unreachable,
// max_mse < 0 or not finite, head_mass outside (0, 1], nprobe < 1,
// negative counts).
absl::StatusOr<FieldCompression> CompressField(const FieldData& field,
                                               const SaecOptions& options);

// Compresses fields in parallel: up to num_threads fields at a time, each
// with an equal share of the thread budget. The result is in input order
// and identical to calling CompressField on each. On failure returns the
// error of the first failing field in input order.
absl::StatusOr<std::vector<FieldCompression>> CompressFields(
    const std::vector<FieldData>& fields, const SaecOptions& options);

// The largest k in [1, n] whose compressed bytes meet target_ratio for a
// field of n features of dimension dim (the kTargetRatio rule).
// INVALID_ARGUMENT if target_ratio < 1 or not even k = 1 meets it.
absl::StatusOr<int64_t> ClustersForTargetRatio(int64_t n, int dim,
                                               double target_ratio,
                                               const KeyIndexOptions& index);

// The kDistortionBudget search over k in [1, n] (see ClusterCountOptions):
// k doubles from initial_k until probe(k)'s weighted MSE <= max_mse (k = n
// is taken as meeting it), then a bisection of at most max_probes probes.
// `probe(k)` clusters with k and returns the weighted MSE; `keep()` is
// called right after each probe that becomes the best so far (the caller
// keeps that probe's result). Returns the chosen k and adds the probes to
// *probes; the first probe error is returned as is.
absl::StatusOr<int64_t> SearchDistortionBudget(
    int64_t n, const ClusterCountOptions& options,
    const std::function<absl::StatusOr<double>(int64_t k)>& probe,
    const std::function<void()>& keep, int* probes);

}  // namespace strata::compression

#endif  // STRATA_COMPRESSION_SAEC_H_
