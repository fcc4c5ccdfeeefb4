// Saec benchmark: prints tables for
//   (1) fast Saec vs full k-means on one large Zipf field (time, distortion);
//   (2) tail assignment: brute force vs the coarse (IVF) index at several
//       nprobe (time, distortion, agreement with brute force);
//   (3) compression ratio of a multi-field synthetic table, index counted;
//   (4) key-index layouts: bytes per key, build time, lookup time for seen
//       and unseen keys, and how many unseen keys each layout mistakes
//       for stored ones;
//   (5) minimal perfect hash libraries: BBHash vs CMPH (build time,
//       bits per key, lookup time).
// Run once: bazel run -c opt //compression:saec_bench -- --sections=1,2,3,4,5
#include <cblas.h>
#include <cmph.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "compression/internal/bbhash_mphf.h"
#include "compression/internal/synthetic.h"
#include "compression/internal/timer.h"
#include "compression/key_index.h"
#include "compression/saec.h"
#include "proto/base/hash.h"

ABSL_FLAG(std::string, sections, "1,2,3,4,5", "which tables to print");
ABSL_FLAG(uint32_t, index_values, 10000,
          "(4) values stored in the key index are < this (cluster count)");
ABSL_FLAG(int, threads, 2, "thread budget");
ABSL_FLAG(int64_t, n, 1000000, "(1,2) features in the large field");
ABSL_FLAG(int, dim, 16, "(1,2) embedding dimension");
ABSL_FLAG(int64_t, k, 10000, "(1,2) clusters");
ABSL_FLAG(std::string, groups, "3000,10000,50000",
          "(1) latent groups of the large field, one run of (1) per value");
ABSL_FLAG(int64_t, tail_groups, 10000, "(2) latent groups of the large field");
ABSL_FLAG(double, noise, 0.1,
          "(1,2) per-coordinate noise around a group centre");
ABSL_FLAG(double, zipf, 1.05, "Zipf exponent of feature frequencies");
ABSL_FLAG(int, iters, 20, "(1,2) max Lloyd iterations of Saec's head k-means");
ABSL_FLAG(int, full_iters, 20, "(1) max Lloyd iterations of full k-means");
ABSL_FLAG(std::string, full_inits, "kmeans++",
          "(1) full k-means runs, by init: kmeans++ (as Saec's head) and/or "
          "sample (weighted sampling); empty for none");
ABSL_FLAG(double, head_mass, 0.8, "(1,2) Saec head share of occurrences");
ABSL_FLAG(int, nprobe, -1, "(1) Saec nprobe; -1 = the library default");
ABSL_FLAG(double, tail_sample, 2.0, "(1,2) Saec tail_sample_per_cluster");
ABSL_FLAG(std::string, head_init, "batched",
          "(1,2) Saec head seeding: batched (k-means++ in BLAS rounds) or "
          "kmeans++");
ABSL_FLAG(std::string, tail_sampling, "frequency",
          "(1,2) Saec tail sample: frequency (systematic, proportional to f) "
          "or uniform");
ABSL_FLAG(double, min_head_per_cluster, 2.0, "(1,2) Saec min_head_per_cluster");
ABSL_FLAG(int, head_candidates, -1,
          "(1,2) Saec head_candidates; -1 = the library default");
ABSL_FLAG(int, coarse_cells, 0, "(1) Saec coarse_cells; 0 = round(sqrt(k))");
ABSL_FLAG(int, refine_rounds, -1, "(1) Saec refine_rounds; -1 = the default");
ABSL_FLAG(double, head_tol, -1, "(1,2) Saec head_tol; -1 = the default");
ABSL_FLAG(std::string, nprobes, "1,2,4,8,16,32", "(2) nprobe values");
ABSL_FLAG(int, table_dim, 64, "(3) embedding dimension of the table");
ABSL_FLAG(double, mse_budget_factor, 2.0,
          "(3) distortion budget as a multiple of the noise floor");
ABSL_FLAG(uint64_t, seed, 1, "data and clustering seed");

namespace strata::compression {
namespace {

using internal::SecondsSince;
using internal::SteadyClock;
using internal::SyntheticField;
using internal::SyntheticSpec;

FieldData View(const SyntheticField& f, const std::string& name) {
  FieldData d;
  d.name = name;
  d.dim = f.dim;
  d.vectors = f.vectors;
  d.keys = f.keys;
  d.frequencies = f.frequencies;
  return d;
}

SyntheticField LargeField(int64_t groups) {
  SyntheticSpec spec;
  spec.n = absl::GetFlag(FLAGS_n);
  spec.dim = absl::GetFlag(FLAGS_dim);
  spec.groups = groups;
  spec.noise_stddev = absl::GetFlag(FLAGS_noise);
  spec.zipf_exponent = absl::GetFlag(FLAGS_zipf);
  spec.seed = absl::GetFlag(FLAGS_seed);
  return internal::MakeSyntheticField(spec);
}

SaecOptions BaseOptions() {
  SaecOptions o;
  o.clusters.mode = ClusterCountOptions::Mode::kFixed;
  o.clusters.k = absl::GetFlag(FLAGS_k);
  o.num_threads = absl::GetFlag(FLAGS_threads);
  o.kmeans.seed = absl::GetFlag(FLAGS_seed);
  o.kmeans.max_iters = absl::GetFlag(FLAGS_iters);
  o.head_mass = absl::GetFlag(FLAGS_head_mass);
  if (absl::GetFlag(FLAGS_nprobe) > 0) o.nprobe = absl::GetFlag(FLAGS_nprobe);
  o.coarse_cells = absl::GetFlag(FLAGS_coarse_cells);
  o.tail_sample_per_cluster = absl::GetFlag(FLAGS_tail_sample);
  o.min_head_per_cluster = absl::GetFlag(FLAGS_min_head_per_cluster);
  if (absl::GetFlag(FLAGS_head_candidates) >= 0) {
    o.head_candidates = absl::GetFlag(FLAGS_head_candidates);
  }
  if (absl::GetFlag(FLAGS_refine_rounds) >= 0) {
    o.refine_rounds = absl::GetFlag(FLAGS_refine_rounds);
  }
  if (absl::GetFlag(FLAGS_head_tol) >= 0) {
    o.head_tol = absl::GetFlag(FLAGS_head_tol);
  }
  o.head_init = absl::GetFlag(FLAGS_head_init) == "kmeans++"
                    ? KMeansOptions::Init::kKMeansPlusPlus
                    : KMeansOptions::Init::kBatchedPlusPlus;
  o.tail_sampling = absl::GetFlag(FLAGS_tail_sampling) == "uniform"
                        ? SaecOptions::TailSampling::kUniform
                        : SaecOptions::TailSampling::kByFrequency;
  return o;
}

// CPU seconds of the whole process (all threads): less sensitive than wall
// time to other jobs competing for the cores.
double CpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

double IterSeconds(const CompressionStats& s) {
  double total = 0;
  for (const IterationStats& it : s.iterations) total += it.seconds;
  return s.iterations.empty() ? 0 : total / s.iterations.size();
}

void PrintRun(const char* label, const CompressionStats& s, double cpu) {
  double iter_total = 0;
  for (const IterationStats& it : s.iterations) iter_total += it.seconds;
  std::printf(
      "%-22s %9.2f %9.2f %9.2f %6zu %9.3f %9.2f %9.2f %7lld %8lld %12.5f\n",
      label, s.seconds, cpu, s.cluster_seconds - iter_total,
      s.iterations.size(), IterSeconds(s), s.tail_seconds, s.index_seconds,
      static_cast<long long>(s.head_features),
      static_cast<long long>(s.clusters), s.weighted_mse);
}

void SectionFastVsFull(const SyntheticField& f) {
  std::printf(
      "\n(1) Saec vs full k-means: n=%lld dim=%d k=%lld groups=%lld "
      "noise=%g zipf=%g threads=%d\n",
      static_cast<long long>(f.keys.size()), f.dim,
      static_cast<long long>(absl::GetFlag(FLAGS_k)),
      static_cast<long long>(f.centres.size() / f.dim),
      absl::GetFlag(FLAGS_noise), absl::GetFlag(FLAGS_zipf),
      absl::GetFlag(FLAGS_threads));
  std::printf("%-22s %9s %9s %9s %6s %9s %9s %9s %7s %8s %12s\n", "method",
              "total_s", "cpu_s", "init_s", "iters", "s/iter", "tail_s",
              "index_s", "head", "k", "wMSE");
  SaecOptions fast = BaseOptions();
  double cpu = CpuSeconds();
  absl::StatusOr<FieldCompression> saec = CompressField(View(f, "large"), fast);
  const double saec_cpu = CpuSeconds() - cpu;
  if (!saec.ok()) {
    std::printf("saec failed: %s\n", saec.status().ToString().c_str());
    return;
  }
  PrintRun("saec", saec->stats, saec_cpu);
  std::printf(
      "  -> saec: %lld head + %lld sampled tail features clustered, "
      "%lld assigned by search\n",
      static_cast<long long>(saec->stats.head_features),
      static_cast<long long>(saec->stats.tail_sample_features),
      static_cast<long long>(saec->stats.tail_features));
  double total_weight = 0;
  for (uint64_t x : f.frequencies) total_weight += x;
  std::printf("  -> saec clustered-set objective / field weight per pass:");
  for (const IterationStats& it : saec->stats.iterations) {
    std::printf(" %.4f", it.objective / total_weight);
  }
  std::printf("\n  -> saec head pass seconds (re-seeded clusters):");
  for (const IterationStats& it : saec->stats.iterations) {
    std::printf(" %.3f (%lld)", it.seconds, static_cast<long long>(it.reseeded));
  }
  std::printf("\n");
  for (absl::string_view init : absl::StrSplit(absl::GetFlag(FLAGS_full_inits),
                                               ',', absl::SkipEmpty())) {
    SaecOptions full = BaseOptions();
    full.algorithm = SaecOptions::Algorithm::kFullKMeans;
    full.kmeans.max_iters = absl::GetFlag(FLAGS_full_iters);
    full.kmeans.init = init == "kmeans++"
                           ? KMeansOptions::Init::kKMeansPlusPlus
                           : KMeansOptions::Init::kWeightedSample;
    cpu = CpuSeconds();
    absl::StatusOr<FieldCompression> km = CompressField(View(f, "large"), full);
    const double full_cpu = CpuSeconds() - cpu;
    if (!km.ok()) {
      std::printf("full failed: %s\n", km.status().ToString().c_str());
      return;
    }
    const std::string label = "full k-means (" + std::string(init) + ")";
    PrintRun(label.c_str(), km->stats, full_cpu);
    const CompressionStats& a = saec->stats;
    const CompressionStats& b = km->stats;
    const bool capped =
        static_cast<int>(b.iterations.size()) == full.kmeans.max_iters + 1;
    std::printf(
        "  -> speed-up (full / saec): %.1fx wall, %.1fx cpu; "
        "distortion (saec / full): %.3f; %zu passes%s\n",
        b.seconds / a.seconds, full_cpu / saec_cpu,
        a.weighted_mse / b.weighted_mse, b.iterations.size(),
        capped ? " (capped by --full_iters, not converged)" : "");
    std::printf("  -> wMSE per pass:");
    for (const IterationStats& it : b.iterations) {
      std::printf(" %.4f", it.objective / total_weight);
    }
    std::printf("\n");
  }
}

void SectionTail(const SyntheticField& f) {
  std::printf(
      "\n(2) tail assignment (refine off, same head clustering): n=%zu "
      "k=%lld\n",
      f.keys.size(), static_cast<long long>(absl::GetFlag(FLAGS_k)));
  std::printf("%-18s %9s %9s %12s %12s\n", "search", "tail_s", "tail_feat",
              "wMSE", "agree_brute");
  std::printf("(tail_s: wall time of coarse index build + tail assignment)\n");
  SaecOptions o = BaseOptions();
  o.refine_with_tail = false;
  o.tail_search = SaecOptions::TailSearch::kBruteForce;
  absl::StatusOr<FieldCompression> brute = CompressField(View(f, "large"), o);
  if (!brute.ok()) return;
  std::printf("%-18s %9.2f %9lld %12.5f %12s\n", "brute force (BLAS)",
              brute->stats.tail_seconds,
              static_cast<long long>(brute->stats.tail_features),
              brute->stats.weighted_mse, "1");
  o.tail_search = SaecOptions::TailSearch::kCoarseIndex;
  for (absl::string_view p :
       absl::StrSplit(absl::GetFlag(FLAGS_nprobes), ',')) {
    o.nprobe = std::stoi(std::string(p));
    absl::StatusOr<FieldCompression> c = CompressField(View(f, "large"), o);
    if (!c.ok()) return;
    size_t same = 0;
    for (size_t i = 0; i < f.keys.size(); ++i) {
      same += c->assignment[i] == brute->assignment[i];
    }
    const double tail = static_cast<double>(c->stats.tail_features);
    const double agree = (same - (f.keys.size() - tail)) / tail;
    const std::string label = "ivf nprobe=" + std::string(p);
    std::printf("%-18s %9.2f %9lld %12.5f %12.4f\n", label.c_str(),
                c->stats.tail_seconds,
                static_cast<long long>(c->stats.tail_features),
                c->stats.weighted_mse, agree);
  }
}

void SectionRatio() {
  const int dim = absl::GetFlag(FLAGS_table_dim);
  const uint64_t seed = absl::GetFlag(FLAGS_seed);
  const std::vector<int64_t> sizes = {400000, 200000, 100000, 50000,
                                      20000,  10000,  5000,   800};
  std::mt19937_64 rng(seed);
  std::vector<SyntheticField> data;
  std::vector<int64_t> groups;
  for (size_t i = 0; i < sizes.size(); ++i) {
    SyntheticSpec spec;
    spec.n = sizes[i];
    spec.dim = dim;
    spec.groups = 200 + static_cast<int64_t>(rng() % 301);  // 200..500
    spec.noise_stddev = 0.05;
    spec.zipf_exponent = absl::GetFlag(FLAGS_zipf);
    spec.seed = seed * 1000 + i;
    groups.push_back(spec.groups);
    data.push_back(internal::MakeSyntheticField(spec));
  }
  std::vector<FieldData> fields;
  for (size_t i = 0; i < data.size(); ++i) {
    fields.push_back(View(data[i], "field" + std::to_string(i)));
  }
  const double floor_mse = dim * 0.05 * 0.05;
  SaecOptions o;
  o.clusters.mode = ClusterCountOptions::Mode::kDistortionBudget;
  o.clusters.max_mse = absl::GetFlag(FLAGS_mse_budget_factor) * floor_mse;
  o.num_threads = absl::GetFlag(FLAGS_threads);
  o.kmeans.seed = seed;
  const SteadyClock::time_point start = SteadyClock::now();
  absl::StatusOr<std::vector<FieldCompression>> out = CompressFields(fields, o);
  const double secs = SecondsSince(start);
  if (!out.ok()) {
    std::printf("table failed: %s\n", out.status().ToString().c_str());
    return;
  }
  std::printf(
      "\n(3) table of %zu fields, dim=%d, 200-500 latent groups each, "
      "noise floor %.3f, budget wMSE <= %.3f (compact index)\n",
      fields.size(), dim, floor_mse, o.clusters.max_mse);
  std::printf("%-8s %8s %6s %6s %7s %6s %9s %12s %12s %8s %10s %7s\n", "field",
              "n", "groups", "k", "probes", "method", "wMSE", "bytes_before",
              "bytes_after", "ratio", "ratio_flat", "secs");
  size_t before = 0, after = 0, before_flat = 0, after_flat = 0;
  int64_t n_total = 0, k_total = 0;
  KeyIndexOptions flat;
  flat.layout = IndexLayout::kFlatHashMap;
  for (size_t i = 0; i < out->size(); ++i) {
    const CompressionStats& s = (*out)[i].stats;
    const size_t flat_index = KeyIndex::PredictBytes(s.features, 0, flat);
    const size_t bf = s.features * dim * 4 + flat_index;
    const size_t af = (s.clusters + 1) * dim * 4 + flat_index;
    std::printf(
        "%-8s %8lld %6lld %6lld %7d %6s %9.4f %12zu %12zu %8.2f %10.2f %7.2f\n",
        s.field.c_str(), static_cast<long long>(s.features),
        static_cast<long long>(groups[i]), static_cast<long long>(s.clusters),
        s.k_probes, s.method.c_str(), s.weighted_mse, s.bytes_before,
        s.bytes_after, s.ratio, double(bf) / af, s.seconds);
    before += s.bytes_before;
    after += s.bytes_after;
    before_flat += bf;
    after_flat += af;
    n_total += s.features;
    k_total += s.clusters;
  }
  std::printf(
      "total: %lld features -> %lld vectors (%.1fx fewer); bytes %zu -> "
      "%zu = %.2fx (compact index); %.2fx with flat_hash_map on both "
      "sides; %.2f s wall\n",
      static_cast<long long>(n_total), static_cast<long long>(k_total),
      double(n_total) / k_total, before, after, double(before) / after,
      double(before_flat) / after_flat, secs);
}

// Median of `rounds` timings of fn() (ns per probe), the layouts' timings
// interleaved round by round so that load from other jobs hits all alike.
struct LookupTimes {
  std::vector<double> seen, unseen;
  static double Median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  }
};

// CPU time, not wall time: on a shared machine the wall clock mostly
// measures the other jobs.
double NsPerProbe(const KeyIndex& index, const std::vector<uint64_t>& probes,
                  uint64_t* sink) {
  const double start = CpuSeconds();
  for (uint64_t p : probes) *sink += index.Find(p).value_or(1);
  return (CpuSeconds() - start) * 1e9 / probes.size();
}

void SectionIndex() {
  const size_t n = 1000000;
  const uint32_t max_value = absl::GetFlag(FLAGS_index_values) - 1;
  const int rounds = 5;
  std::printf(
      "\n(4) key index, n=%zu keys, values < %u, 1M seen + 1M unseen "
      "lookups per round, %d rounds alternated between layouts (median), "
      "single thread, CPU time\n",
      n, max_value + 1, rounds);
  std::vector<uint64_t> keys(n);
  std::vector<uint32_t> values(n);
  for (size_t i = 0; i < n; ++i) {
    keys[i] = SplitMix64(i * 2 + 12345);
    values[i] = static_cast<uint32_t>(i % (uint64_t{max_value} + 1));
  }
  std::vector<uint64_t> seen(n), unseen(n);
  std::mt19937_64 rng(3);
  for (size_t i = 0; i < n; ++i) {
    seen[i] = keys[rng() % n];
    unseen[i] = SplitMix64(i * 2 + 12346);  // even inputs: never stored
  }
  struct Row {
    std::string name;
    std::unique_ptr<KeyIndex> index;
    double build_s = 0;
    LookupTimes t;
    size_t false_hits = 0;
  };
  std::vector<Row> rows;
  for (auto [layout, f] : {std::pair{IndexLayout::kCompact, 0},
                           {IndexLayout::kFlatHashMap, 0},
                           {IndexLayout::kMph, 0},
                           {IndexLayout::kMph, 8},
                           {IndexLayout::kMph, 16}}) {
    KeyIndexOptions o;
    o.layout = layout;
    o.fingerprint_bits = f;
    const double start = CpuSeconds();
    absl::StatusOr<std::unique_ptr<KeyIndex>> index =
        KeyIndex::Build(keys, values, max_value, o);
    if (!index.ok()) return;
    Row r;
    r.build_s = CpuSeconds() - start;
    r.name = layout == IndexLayout::kMph ? absl::StrCat("mph f=", f)
                                         : std::string(IndexLayoutName(layout));
    r.index = *std::move(index);
    for (uint64_t u : unseen) r.false_hits += r.index->Find(u).has_value();
    rows.push_back(std::move(r));
  }
  uint64_t sink = 0;
  for (int round = 0; round < rounds; ++round) {
    for (Row& r : rows) {
      r.t.seen.push_back(NsPerProbe(*r.index, seen, &sink));
      r.t.unseen.push_back(NsPerProbe(*r.index, unseen, &sink));
    }
  }
  std::printf("%-14s %10s %7s %8s %9s %11s %14s\n", "layout", "bytes", "B/key",
              "build_s", "ns_seen", "ns_unseen", "unseen_found");
  for (const Row& r : rows) {
    std::printf("%-14s %10zu %7.2f %8.3f %9.1f %11.1f %14.6f\n", r.name.c_str(),
                r.index->bytes(), double(r.index->bytes()) / n, r.build_s,
                LookupTimes::Median(r.t.seen), LookupTimes::Median(r.t.unseen),
                double(r.false_hits) / n);
  }
  std::printf("(checksum %llu)\n", static_cast<unsigned long long>(sink));
}

// CMPH over 8-byte keys with algorithm `algo`; nullptr on failure. CMPH
// seeds its hash functions from rand(), so srand(1) first (determinism).
cmph_t* BuildCmph(std::vector<uint64_t>* keys, CMPH_ALGO algo) {
  std::srand(1);
  cmph_io_adapter_t* source = cmph_io_struct_vector_adapter(
      keys->data(), sizeof(uint64_t), 0, sizeof(uint64_t),
      static_cast<cmph_uint32>(keys->size()));
  cmph_config_t* config = cmph_config_new(source);
  cmph_config_set_algo(config, algo);
  cmph_t* mph = cmph_new(config);
  cmph_config_destroy(config);
  cmph_io_struct_vector_adapter_destroy(source);
  return mph;
}

// (5) The minimal perfect hash alone: BBHash (libbbhash-dev) at gamma 1
// and 2 against CMPH's CHD and BDZ (libcmph-dev), positions of 8-byte keys.
void SectionMphLibraries() {
  const size_t n = 1000000;
  const int rounds = 5;
  std::printf(
      "\n(5) minimal perfect hash libraries, n=%zu 8-byte keys, 1M seen "
      "lookups per round, %d rounds alternated (median), single thread, CPU "
      "time\n",
      n, rounds);
  std::vector<uint64_t> keys(n), probes(n);
  for (size_t i = 0; i < n; ++i) keys[i] = SplitMix64(i * 2 + 12345);
  std::mt19937_64 rng(4);
  for (uint64_t& p : probes) p = keys[rng() % n];
  struct Lib {
    std::string name;
    double build_s = 0;
    double bits_per_key = 0;
    std::function<uint64_t(uint64_t)> lookup;
    std::vector<double> ns;
  };
  std::vector<Lib> libs;
  std::vector<internal::BBHashMphf> bb;
  bb.reserve(2);
  for (double gamma : {1.0, 2.0}) {
    const double start = CpuSeconds();
    absl::StatusOr<internal::BBHashMphf> f =
        internal::BBHashMphf::Build(keys, gamma);
    if (!f.ok()) return;
    Lib l;
    l.build_s = CpuSeconds() - start;
    bb.push_back(*std::move(f));
    const internal::BBHashMphf* fp = &bb.back();
    l.name = absl::StrCat("bbhash g=", gamma);
    l.bits_per_key = 8.0 * fp->bytes() / n;
    l.lookup = [fp](uint64_t k) { return fp->Lookup(k); };
    libs.push_back(std::move(l));
  }
  std::vector<std::string> packed;
  packed.reserve(2);
  for (auto [algo, name] :
       {std::pair{CMPH_CHD, "cmph chd"}, std::pair{CMPH_BDZ, "cmph bdz"}}) {
    std::vector<uint64_t> copy = keys;
    const double start = CpuSeconds();
    cmph_t* mph = BuildCmph(&copy, algo);
    if (mph == nullptr) {
      std::printf("%s: build failed\n", name);
      continue;
    }
    Lib l;
    l.build_s = CpuSeconds() - start;
    std::string buf(cmph_packed_size(mph), '\0');
    cmph_pack(mph, buf.data());
    cmph_destroy(mph);
    packed.push_back(std::move(buf));
    char* p = packed.back().data();
    l.name = name;
    l.bits_per_key = 8.0 * packed.back().size() / n;
    l.lookup = [p](uint64_t k) {
      return uint64_t{
          cmph_search_packed(p, reinterpret_cast<const char*>(&k), sizeof(k))};
    };
    libs.push_back(std::move(l));
  }
  uint64_t sink = 0;
  for (int round = 0; round < rounds; ++round) {
    for (Lib& l : libs) {
      const double start = CpuSeconds();
      for (uint64_t k : probes) sink += l.lookup(k);
      l.ns.push_back((CpuSeconds() - start) * 1e9 / n);
    }
  }
  std::printf("%-12s %8s %9s %9s\n", "library", "build_s", "bits/key",
              "ns/lookup");
  for (const Lib& l : libs) {
    std::printf("%-12s %8.3f %9.2f %9.1f\n", l.name.c_str(), l.build_s,
                l.bits_per_key, LookupTimes::Median(l.ns));
  }
  std::printf("(checksum %llu; the std::function call adds ~1-2 ns to all)\n",
              static_cast<unsigned long long>(sink));
}

}  // namespace
}  // namespace strata::compression

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  // We parallelise over row blocks ourselves; OpenBLAS's own threads would
  // only oversubscribe the cores.
  openblas_set_num_threads(1);
  const std::vector<std::string> sections =
      absl::StrSplit(absl::GetFlag(FLAGS_sections), ',');
  auto has = [&](const char* s) {
    return std::find(sections.begin(), sections.end(), s) != sections.end();
  };
  using strata::compression::LargeField;
  if (has("1")) {
    for (absl::string_view g :
         absl::StrSplit(absl::GetFlag(FLAGS_groups), ',', absl::SkipEmpty())) {
      strata::compression::SectionFastVsFull(
          LargeField(std::stoll(std::string(g))));
    }
  }
  if (has("2")) {
    strata::compression::SectionTail(
        LargeField(absl::GetFlag(FLAGS_tail_groups)));
  }
  if (has("3")) strata::compression::SectionRatio();
  if (has("4")) strata::compression::SectionIndex();
  if (has("5")) strata::compression::SectionMphLibraries();
  return 0;
}
