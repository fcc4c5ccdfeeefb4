#include "server/storage/compressed_table.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "compression/saec.h"
#include "proto/base/status_macros.h"
#include "server/storage/initializer.h"
#include "server/storage/internal/nearest_cluster.h"
#include "server/storage/internal/validation.h"

namespace strata {
namespace {

// A field's rows copied out of the source table.
struct FieldRows {
  std::vector<uint64_t> keys;
  std::vector<float> vectors;
  std::vector<float> state;
  std::vector<uint64_t> frequency;  // >= 1: a weight of 0 would hide a row
  std::vector<int64_t> steps;
};

// `c` is normalized (NormalizeSaecConfig).
compression::SaecOptions ToSaecOptions(const SaecConfig& c, int threads) {
  compression::SaecOptions o;
  using Mode = compression::ClusterCountOptions::Mode;
  if (c.clusters() > 0) {
    o.clusters.mode = Mode::kFixed;
    o.clusters.k = static_cast<int64_t>(c.clusters());
  } else if (c.max_mse() > 0) {
    o.clusters.mode = Mode::kDistortionBudget;
    o.clusters.max_mse = c.max_mse();
  } else {
    o.clusters.mode = Mode::kTargetRatio;
    o.clusters.target_ratio = c.target_ratio();
  }
  o.algorithm = c.full_kmeans()
                    ? compression::SaecOptions::Algorithm::kFullKMeans
                    : compression::SaecOptions::Algorithm::kSaec;
  o.head_mass = c.head_mass();
  o.head_count = static_cast<int64_t>(c.head_count());
  o.hot_singletons = static_cast<int64_t>(c.hot_singletons());
  o.min_features_to_compress = static_cast<int64_t>(c.min_features());
  o.kmeans.seed = c.seed();
  o.kmeans.max_iters = static_cast<int>(c.max_iters());
  o.index.layout = c.index_layout() == SaecConfig::COMPACT
                       ? compression::IndexLayout::kCompact
                   : c.index_layout() == SaecConfig::FLAT_HASH_MAP
                       ? compression::IndexLayout::kFlatHashMap
                       : compression::IndexLayout::kMph;
  o.index.fingerprint_bits = static_cast<int>(c.fingerprint_bits());
  o.num_threads = threads;
  return o;
}

FieldStats ToFieldStats(const compression::CompressionStats& s,
                        const std::string& table, uint32_t field,
                        uint32_t shard) {
  FieldStats f;
  f.set_table(table);
  f.set_field(field);
  f.set_shard_id(shard);
  f.set_method(s.method);
  f.set_features(s.features);
  f.set_clusters(s.clusters);
  f.set_vectors_before(s.vectors_before);
  f.set_vectors_after(s.vectors_after);
  f.set_bytes_before(s.bytes_before);
  f.set_bytes_after(s.bytes_after);
  f.set_ratio(s.ratio);
  f.set_seconds(s.seconds);
  f.set_weighted_mse(s.weighted_mse);
  f.set_head_features(s.head_features);
  f.set_tail_features(s.tail_features);
  return f;
}

std::map<uint32_t, FieldRows> SnapshotByField(const SparseTable& table,
                                              uint32_t field_bits) {
  std::map<uint32_t, FieldRows> fields;
  const uint32_t dim = table.dim();
  const size_t sf = table.state_floats_per_row();
  table.ForEachRow([&](uint64_t key, const float* values, const float* state,
                       int64_t step, uint64_t freq) {
    FieldRows& f = fields[FieldOfKey(key, field_bits)];
    f.keys.push_back(key);
    f.vectors.insert(f.vectors.end(), values, values + dim);
    f.state.insert(f.state.end(), state, state + sf);
    f.frequency.push_back(std::max<uint64_t>(freq, 1));
    f.steps.push_back(step);
  });
  return fields;
}

// Optimizer state of each cluster (and, in slot k, the fallback): the
// frequency-weighted mean of its members' states, so Adagrad accumulators
// and Adam moments carry over; the step is the members' largest.
void MergeState(const FieldRows& rows, const std::vector<uint32_t>& assign,
                uint32_t k, size_t sf, CompressedFieldState* out) {
  out->state.assign((k + 1) * sf, 0.f);
  out->steps.assign(k + 1, 0);
  std::vector<double> weight(k + 1, 0.0);
  std::vector<double> acc((k + 1) * sf, 0.0);
  for (size_t i = 0; i < rows.keys.size(); ++i) {
    const double w = static_cast<double>(rows.frequency[i]);
    for (uint32_t slot : {assign[i], k}) {
      weight[slot] += w;
      for (size_t j = 0; j < sf; ++j) {
        acc[slot * sf + j] += w * rows.state[i * sf + j];
      }
      out->steps[slot] = std::max(out->steps[slot], rows.steps[i]);
    }
  }
  for (uint32_t c = 0; c <= k; ++c) {
    if (weight[c] == 0) continue;
    for (size_t j = 0; j < sf; ++j) {
      out->state[c * sf + j] = static_cast<float>(acc[c * sf + j] / weight[c]);
    }
  }
}

// A push's gradients per touched (field, cluster): summed, with the number
// of occurrences (for the mean and the frequency).
struct ClusterBatch {
  explicit ClusterBatch(uint32_t d) : dim(d) {}
  void Add(CompressedFieldState* f, uint32_t c, const float* g) {
    auto [it, fresh] = slot_of.try_emplace({f, c}, slots.size());
    if (fresh) {
      slots.push_back({f, c});
      sums.resize(sums.size() + dim, 0.f);
      counts.push_back(0);
    }
    float* dst = sums.data() + size_t{it->second} * dim;
    for (uint32_t j = 0; j < dim; ++j) dst[j] += g[j];
    ++counts[it->second];
  }

  const uint32_t dim;
  absl::flat_hash_map<std::pair<CompressedFieldState*, uint32_t>, uint32_t>
      slot_of;
  std::vector<std::pair<CompressedFieldState*, uint32_t>> slots;
  std::vector<float> sums;
  std::vector<uint32_t> counts;
};

// Stripes of the overflow table: new keys are a small fraction of a
// compressed table, so fewer than a plain table's 64.
constexpr uint32_t kOverflowStripes = 16;

// The key-index part of NormalizeSaecConfig: the server's default layout
// is MPH (docs/saec.md, "Key index", has the figures), its fingerprint
// width the library's.
absl::StatusOr<SaecConfig> NormalizeIndexLayout(SaecConfig c) {
  if (!SaecConfig::IndexLayout_IsValid(c.index_layout())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "index_layout ", static_cast<int>(c.index_layout()),
        " is not a SaecConfig.IndexLayout (COMPACT, FLAT_HASH_MAP, MPH)"));
  }
  if (c.index_layout() == SaecConfig::INDEX_LAYOUT_DEFAULT) {
    c.set_index_layout(SaecConfig::MPH);
  }
  if (!c.has_fingerprint_bits()) {
    c.set_fingerprint_bits(
        compression::KeyIndexOptions::kDefaultFingerprintBits);
  }
  if (c.fingerprint_bits() >
      compression::KeyIndexOptions::kMaxFingerprintBits) {
    return absl::InvalidArgumentError(absl::StrCat(
        "fingerprint_bits ", c.fingerprint_bits(), " is outside [0, ",
        compression::KeyIndexOptions::kMaxFingerprintBits, "]"));
  }
  return c;
}

// Cluster-wide compression of one field: every feature assigned to the
// nearest of the field's given centroids (BLAS search), as CompressFields
// would return it; the fallback as Saec's (SaecOptions::fallback).
absl::StatusOr<compression::FieldCompression> AssignField(
    const FieldRows& r, const std::vector<float>& centroids, uint32_t dim,
    const compression::SaecOptions& o) {
  std::vector<uint32_t> assign =
      internal::NearestClusters(r.vectors, centroids, dim, o.num_threads);
  std::vector<double> mean(dim, 0.0);
  double weight = 0, mse = 0;
  for (size_t i = 0; i < r.keys.size(); ++i) {
    const double w = static_cast<double>(r.frequency[i]);
    const float* v = r.vectors.data() + i * dim;
    const float* c = centroids.data() + size_t{assign[i]} * dim;
    for (uint32_t j = 0; j < dim; ++j) {
      mean[j] += w * v[j];
      mse += w * (double{v[j]} - c[j]) * (double{v[j]} - c[j]);
    }
    weight += w;
  }
  std::vector<float> fallback(dim, 0.f);
  if (o.fallback == compression::SaecOptions::Fallback::kWeightedMean &&
      weight > 0) {
    for (uint32_t j = 0; j < dim; ++j) {
      fallback[j] = static_cast<float>(mean[j] / weight);
    }
  }
  STRATA_ASSIGN_OR_RETURN(compression::CompressedField field,
                          compression::CompressedField::Create(
                              static_cast<int>(dim), centroids,
                              std::move(fallback), r.keys, assign, o.index));
  compression::CompressionStats s;
  s.method = "global";
  s.features = s.vectors_before = static_cast<int64_t>(r.keys.size());
  s.clusters = s.vectors_after = field.num_clusters();
  s.index_bytes_before = s.index_bytes_after = field.index_bytes();
  s.bytes_before = r.vectors.size() * sizeof(float) + field.index_bytes();
  s.bytes_after = field.bytes();
  s.weighted_mse = weight > 0 ? mse / weight : 0.0;
  return compression::FieldCompression{std::move(field), std::move(assign),
                                       std::move(s)};
}

// The cluster-wide counterpart of CompressFields over `rows`.
absl::StatusOr<std::vector<compression::FieldCompression>> AssignFields(
    const std::map<uint32_t, FieldRows>& rows,
    const FieldCentroidMap& centroids, uint32_t dim, uint32_t field_bits,
    const compression::SaecOptions& o, const std::string& table) {
  STRATA_RETURN_IF_ERROR(ValidateCentroids(centroids, dim, field_bits));
  std::vector<compression::FieldCompression> out;
  for (const auto& [field, r] : rows) {
    if (field == ReservedField(field_bits)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "table ", table, " has key ", r.keys[0], " of field ", field,
          ", reserved for ClusterKeys on a cluster-wide table"));
    }
    const auto it = centroids.find(field);
    if (it == centroids.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "table ", table, ": field ", field, " has ", r.keys.size(),
          " rows but the request has no centroids for it"));
    }
    STRATA_ASSIGN_OR_RETURN(compression::FieldCompression fc,
                            AssignField(r, it->second, dim, o));
    out.push_back(std::move(fc));
  }
  return out;
}

}  // namespace

absl::StatusOr<SaecConfig> NormalizeSaecConfig(SaecConfig c) {
  // The defaults documented on the SaecConfig fields (proto/ps.proto): the
  // field split is the server's own, the rest are the compression library's
  // (a default-constructed SaecOptions), so each number is written once.
  constexpr uint32_t kDefaultFieldBits = 8;
  // docs/saec.md, "Sum or average": the figures that chose it.
  constexpr ClusterGradient kDefaultClusterGradient = CLUSTER_GRADIENT_MEAN;
  const compression::SaecOptions library;
  if (c.field_bits() == 0) c.set_field_bits(kDefaultFieldBits);
  if (c.field_bits() > 16) {
    return absl::InvalidArgumentError(
        absl::StrCat("field_bits ", c.field_bits(), " is outside [1, 16]"));
  }
  if (c.head_mass() == 0) c.set_head_mass(library.head_mass);
  if (!(c.head_mass() > 0 && c.head_mass() <= 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("head_mass ", c.head_mass(), " is outside (0, 1]"));
  }
  if (!(c.target_ratio() >= 0 && std::isfinite(c.target_ratio())) ||
      !(c.max_mse() >= 0 && std::isfinite(c.max_mse()))) {
    return absl::InvalidArgumentError(
        "target_ratio and max_mse must be finite and not negative");
  }
  if (c.clusters() == 0 && c.max_mse() == 0 && c.target_ratio() == 0) {
    c.set_target_ratio(library.clusters.target_ratio);
  }
  if (c.target_ratio() != 0 && c.target_ratio() < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("target_ratio ", c.target_ratio(), " is below 1"));
  }
  if (c.min_features() == 0) {
    c.set_min_features(static_cast<uint64_t>(library.min_features_to_compress));
  }
  if (c.seed() == 0) c.set_seed(library.kmeans.seed);
  if (!ClusterGradient_IsValid(c.cluster_gradient())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cluster_gradient ", c.cluster_gradient(), " is not a known value"));
  }
  if (c.cluster_gradient() == CLUSTER_GRADIENT_DEFAULT) {
    c.set_cluster_gradient(kDefaultClusterGradient);
  }
  if (c.max_iters() == 0) {
    c.set_max_iters(static_cast<uint32_t>(library.kmeans.max_iters));
  }
  return NormalizeIndexLayout(std::move(c));
}

CompressedTable::CompressedTable(const TableConfig& config,
                                 const SaecConfig& saec, const Options& options,
                                 std::unique_ptr<Optimizer> opt)
    : config_(config),
      saec_(saec),
      options_(options),
      optimizer_(std::move(opt)),
      state_floats_(optimizer_->state_per_element() * config.dim()) {}

absl::StatusOr<std::unique_ptr<CompressedTable>> CompressedTable::Compress(
    const SparseTable& table, const SaecConfig& config, const Options& options,
    const FieldCentroidMap& centroids) {
  STRATA_ASSIGN_OR_RETURN(SaecConfig saec, NormalizeSaecConfig(config));
  if (saec.cluster_wide() && centroids.empty()) {
    return absl::InvalidArgumentError(
        "cluster_wide is set by the shard when Compress carries centroids; "
        "compute them with stratactl compress --cluster_wide");
  }
  saec.set_cluster_wide(!centroids.empty());
  std::map<uint32_t, FieldRows> rows =
      SnapshotByField(table, saec.field_bits());
  if (rows.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "table ", table.config().name(), " has no rows to compress"));
  }
  if (!centroids.empty()) {
    // A home shard serves its clusters of a field even when it holds none
    // of the field's keys: every field given gets its centroids here.
    STRATA_RETURN_IF_ERROR(
        ValidateCentroids(centroids, table.dim(), saec.field_bits()));
    for (const auto& [field, c] : centroids) rows[field];
  }
  std::vector<compression::FieldData> data;
  for (const auto& [field, r] : rows) {
    compression::FieldData d;
    d.name = absl::StrCat(table.config().name(), "/field", field);
    d.dim = static_cast<int>(table.dim());
    d.vectors = r.vectors;
    d.keys = r.keys;
    d.frequencies = r.frequency;
    data.push_back(d);
  }
  const compression::SaecOptions saec_options =
      ToSaecOptions(saec, options.num_threads);
  std::vector<compression::FieldCompression> results;
  if (saec.cluster_wide()) {
    STRATA_ASSIGN_OR_RETURN(
        results, AssignFields(rows, centroids, table.dim(), saec.field_bits(),
                              saec_options, table.config().name()));
  } else {
    STRATA_ASSIGN_OR_RETURN(results,
                            compression::CompressFields(data, saec_options));
  }
  STRATA_ASSIGN_OR_RETURN(std::unique_ptr<Optimizer> opt,
                          Optimizer::Create(table.config().optimizer()));
  std::unique_ptr<CompressedTable> out(
      new CompressedTable(table.config(), saec, options, std::move(opt)));
  std::vector<CompressedFieldState> fields;
  size_t i = 0;
  for (auto& [field, r] : rows) {
    compression::FieldCompression& fc = results[i++];
    CompressedFieldState f{field, std::move(fc.field), {}, {}, {}};
    MergeState(r, fc.assignment, f.vectors.num_clusters(), out->state_floats_,
               &f);
    f.stats =
        ToFieldStats(fc.stats, table.config().name(), field, options.shard_id);
    fields.push_back(std::move(f));  // Install trims cluster-wide fields
  }
  STRATA_RETURN_IF_ERROR(out->Install(std::move(fields)));
  return out;
}

absl::StatusOr<std::unique_ptr<CompressedTable>> CompressedTable::Restore(
    const TableConfig& config, const SaecConfig& saec,
    std::vector<CompressedFieldState> fields, const Options& options) {
  STRATA_ASSIGN_OR_RETURN(const SaecConfig normalized,
                          NormalizeSaecConfig(saec));
  STRATA_ASSIGN_OR_RETURN(std::unique_ptr<Optimizer> opt,
                          Optimizer::Create(config.optimizer()));
  std::unique_ptr<CompressedTable> out(
      new CompressedTable(config, normalized, options, std::move(opt)));
  STRATA_RETURN_IF_ERROR(out->Install(std::move(fields)));
  return out;
}

absl::Status CompressedTable::Install(
    std::vector<CompressedFieldState> fields) {
  by_field_.resize(size_t{1} << saec_.field_bits());
  for (CompressedFieldState& f : fields) {
    const size_t slots = size_t{f.vectors.num_rows()} + 1;
    if (f.field >= by_field_.size() || by_field_[f.field] != nullptr ||
        f.vectors.dim() != static_cast<int>(dim()) ||
        f.state.size() != slots * state_floats_ || f.steps.size() != slots) {
      return absl::DataLossError(absl::StrCat(
          "compressed table ", config_.name(), ": field ", f.field,
          " is inconsistent (duplicate id, dimension or state size)"));
    }
    if (f.frequency.empty()) f.frequency.assign(slots, 0);
    if (f.frequency.size() != slots) {
      return absl::DataLossError(
          absl::StrCat("compressed table ", config_.name(), ": field ", f.field,
                       " has ", f.frequency.size(), " cluster frequencies for ",
                       slots - 1, " stored clusters"));
    }
    if (saec_.cluster_wide()) {
      STRATA_RETURN_IF_ERROR(HomeField(&f));
    } else if (f.vectors.trimmed()) {
      return absl::DataLossError(absl::StrCat(
          "compressed table ", config_.name(), ": field ", f.field,
          " stores some of its clusters but the table is not cluster-wide"));
    }
    features_ += f.vectors.num_features();
    const uint32_t id = f.field;
    by_field_[id] = std::make_unique<CompressedFieldState>(std::move(f));
  }
  STRATA_ASSIGN_OR_RETURN(
      std::unique_ptr<SparseTable> overflow,
      SparseTable::Create(config_, OverflowOptions(options_.budget)));
  absl::MutexLock lock(&mu_);
  overflow_ = std::move(overflow);
  budget_bytes_ = FixedBytes();
  if (options_.budget != nullptr) {
    STRATA_RETURN_IF_ERROR(options_.budget->Charge(
        budget_bytes_, absl::StrCat("compressed table ", config_.name())));
    budget_ = options_.budget;
  }
  return absl::OkStatus();
}

CompressedTable::~CompressedTable() {
  if (budget_ != nullptr) budget_->Release(budget_bytes_ + folded_bytes_);
}

SparseTable::Options CompressedTable::OverflowOptions(
    MemoryBudget* budget) const {
  SparseTable::Options o;
  o.num_stripes = kOverflowStripes;
  o.router = options_.router;
  o.shard_id = options_.shard_id;
  o.max_batch_keys = options_.max_batch_keys;
  o.max_abs_gradient = options_.max_abs_gradient;
  o.budget = budget;
  return o;
}

void CompressedTable::AdoptBudget(MemoryBudget* budget) {
  budget_ = budget;
  absl::MutexLock lock(&mu_);
  overflow_->AdoptBudget(budget);
}

uint64_t CompressedTable::BudgetBytes() const {
  absl::ReaderMutexLock lock(&mu_);
  return budget_bytes_ + folded_bytes_ + overflow_->BudgetBytes();
}

size_t CompressedTable::rows() const {
  absl::ReaderMutexLock lock(&mu_);
  size_t n = features_ + overflow_->rows();
  for (const auto& f : by_field_) {
    if (f != nullptr && f->folded != nullptr) n += f->folded->size();
  }
  return n;
}

std::optional<uint32_t> CompressedTable::SlotOf(CompressedFieldState* f,
                                                uint64_t key) const {
  if (f == nullptr) return std::nullopt;
  const uint32_t fallback = f->vectors.num_rows();
  if (const std::optional<uint32_t> c = ClusterOf(*f, key)) {
    // Unresolved keys reach here only on tables that store every cluster
    // (Pull and Push refuse cluster-wide ones).
    return f->vectors.RowOf(*c).value_or(fallback);
  }
  if (saec_.freeze_new_keys()) return fallback;
  return std::nullopt;
}

float* CompressedTable::Row(CompressedFieldState& f, uint32_t slot) {
  return slot < f.vectors.num_rows() ? f.vectors.mutable_row(slot).data()
                                     : f.vectors.mutable_fallback().data();
}

std::optional<uint32_t> CompressedTable::ClusterOf(
    const CompressedFieldState& f, uint64_t key) {
  if (f.folded != nullptr) {
    if (std::optional<uint32_t> c = f.folded->Find(key)) return c;
  }
  return f.vectors.ClusterOf(key);
}

uint64_t CompressedTable::FoldedBytes() const {
  uint64_t bytes = 0;
  for (const auto& f : by_field_) {
    if (f != nullptr && f->folded != nullptr) bytes += f->folded->bytes();
  }
  return bytes;
}

CompressedFieldState* CompressedTable::FieldFor(uint64_t key) const {
  return by_field_[FieldOfKey(key, saec_.field_bits())].get();
}

absl::Status CompressedTable::CheckBatch(
    absl::Span<const uint64_t> keys) const {
  STRATA_RETURN_IF_ERROR(internal::CheckBatchSize(
      keys.size(), options_.max_batch_keys, config_.name()));
  for (uint64_t key : keys) {
    STRATA_RETURN_IF_ERROR(internal::CheckOwner(
        key, options_.router, options_.shard_id, config_.name()));
  }
  return absl::OkStatus();
}

absl::Status CompressedTable::Pull(absl::Span<const uint64_t> keys,
                                   bool count_frequency, bool read_only,
                                   float* out) {
  STRATA_RETURN_IF_ERROR(CheckUnresolved());
  return PullImpl(keys, /*resolved=*/false, count_frequency, read_only, out);
}

absl::Status CompressedTable::PullImpl(absl::Span<const uint64_t> keys,
                                       bool resolved, bool count_frequency,
                                       bool read_only, float* out) {
  STRATA_RETURN_IF_ERROR(resolved ? CheckResolvedBatch(keys)
                                  : CheckBatch(keys));
  const uint32_t d = dim();
  uint64_t unknown = 0;
  std::vector<uint32_t> fresh;  // positions served by overflow rows
  absl::ReaderMutexLock lock(&mu_);
  for (size_t i = 0; i < keys.size(); ++i) {
    CompressedFieldState* f = nullptr;
    std::optional<uint32_t> c;
    STRATA_RETURN_IF_ERROR(SlotFor(keys[i], resolved, &f, &c));
    if (!c.has_value()) {
      unknown += f == nullptr;
      if (f == nullptr && saec_.freeze_new_keys()) {
        InitializeRow(config_.initializer(), keys[i], d, out + i * d);
        continue;
      }
      fresh.push_back(static_cast<uint32_t>(i));
      continue;
    }
    std::memcpy(out + i * d, Row(*f, *c), d * sizeof(float));
    if (count_frequency) {
      __atomic_fetch_add(&f->frequency[*c], 1, __ATOMIC_RELAXED);
    }
  }
  if (unknown > 0) unknown_field_keys_ += unknown;
  if (fresh.empty()) return absl::OkStatus();
  return PullOverflow(keys, fresh, count_frequency, read_only, out);
}

absl::Status CompressedTable::PullOverflow(absl::Span<const uint64_t> keys,
                                           absl::Span<const uint32_t> positions,
                                           bool count_frequency, bool read_only,
                                           float* out) {
  const uint32_t d = dim();
  std::vector<uint64_t> sub(positions.size());
  for (size_t j = 0; j < positions.size(); ++j) sub[j] = keys[positions[j]];
  std::vector<float> rows(sub.size() * d);
  STRATA_RETURN_IF_ERROR(
      overflow_->Pull(sub, count_frequency, read_only, rows.data()));
  for (size_t j = 0; j < positions.size(); ++j) {
    std::memcpy(out + size_t{positions[j]} * d, rows.data() + j * d,
                d * sizeof(float));
  }
  return absl::OkStatus();
}

absl::Status CompressedTable::Push(absl::Span<const uint64_t> keys,
                                   const GradientRows& grads) {
  STRATA_RETURN_IF_ERROR(CheckUnresolved());
  std::vector<float> scratch;
  return PushImpl(keys, grads.Contiguous(&scratch), /*resolved=*/false);
}

absl::Status CompressedTable::PushImpl(absl::Span<const uint64_t> keys,
                                       absl::Span<const float> grads,
                                       bool resolved) {
  STRATA_RETURN_IF_ERROR(resolved ? CheckResolvedBatch(keys)
                                  : CheckBatch(keys));
  const uint32_t d = dim();
  STRATA_RETURN_IF_ERROR(internal::CheckGradients(
      grads, keys.size(), d, options_.max_abs_gradient, config_.name()));
  // Combine the batch's gradients per (field, cluster); the keys without a
  // cluster go to the overflow table.
  ClusterBatch batch(d);
  std::vector<uint64_t> fresh_keys;
  std::vector<float> fresh_grads;
  absl::MutexLock lock(&mu_);
  for (size_t i = 0; i < keys.size(); ++i) {
    CompressedFieldState* f = nullptr;
    std::optional<uint32_t> c;
    STRATA_RETURN_IF_ERROR(SlotFor(keys[i], resolved, &f, &c));
    const float* g = grads.data() + i * d;
    if (!c.has_value()) {
      if (f == nullptr) ++unknown_field_keys_;
      if (f == nullptr && saec_.freeze_new_keys()) continue;  // dropped
      fresh_keys.push_back(keys[i]);
      fresh_grads.insert(fresh_grads.end(), g, g + d);
      continue;
    }
    batch.Add(f, *c, g);
  }
  // First the part that may fail (new rows must fit the budget), so that a
  // refused batch changes nothing.
  if (!fresh_keys.empty()) {
    STRATA_RETURN_IF_ERROR(overflow_->Push(fresh_keys, fresh_grads));
  }
  const bool mean = saec_.cluster_gradient() == CLUSTER_GRADIENT_MEAN;
  for (size_t s = 0; s < batch.slots.size(); ++s) {
    auto [f, c] = batch.slots[s];
    float* sum = batch.sums.data() + s * d;
    if (mean && batch.counts[s] > 1) {
      const float scale = 1.0f / static_cast<float>(batch.counts[s]);
      for (uint32_t j = 0; j < d; ++j) sum[j] *= scale;
    }
    optimizer_->Apply(Row(*f, c), sum,
                      f->state.data() + size_t{c} * state_floats_, &f->steps[c],
                      d);
    f->frequency[c] += batch.counts[s];
  }
  return absl::OkStatus();
}

uint64_t CompressedTable::FixedBytes() const {
  uint64_t bytes = sizeof(*this) + by_field_.size() * sizeof(by_field_[0]);
  for (const auto& f : by_field_) {
    if (f == nullptr) continue;
    bytes += f->vectors.bytes() + f->state.size() * sizeof(float) +
             f->steps.size() * sizeof(int64_t) +
             f->frequency.size() * sizeof(uint64_t);
  }
  return bytes;
}

size_t CompressedTable::MemoryBytes() const {
  absl::ReaderMutexLock lock(&mu_);
  return FixedBytes() + FoldedBytes() + overflow_->MemoryBytes();
}

std::vector<FieldStats> CompressedTable::Stats() const {
  absl::ReaderMutexLock lock(&mu_);
  // Overflow rows by field: (rows, frequency).
  std::map<uint32_t, std::pair<uint64_t, uint64_t>> fresh;
  overflow_->ForEachRow(
      [&](uint64_t key, const float*, const float*, int64_t, uint64_t freq) {
        auto& [rows, f] = fresh[FieldOfKey(key, saec_.field_bits())];
        ++rows;
        f += freq;
      });
  const uint64_t row_bytes = overflow_->bytes_per_row();
  std::vector<FieldStats> out;
  for (uint32_t id = 0; id < by_field_.size(); ++id) {
    const CompressedFieldState* f = by_field_[id].get();
    const auto it = fresh.find(id);
    if (f == nullptr && it == fresh.end()) continue;
    FieldStats s;
    if (f != nullptr) {
      s = f->stats;
      for (const uint64_t& n : f->frequency) {
        s.set_frequency(s.frequency() + __atomic_load_n(&n, __ATOMIC_RELAXED));
      }
      if (f->folded != nullptr) {
        s.set_folded_features(f->folded->size());
        s.set_growth_bytes(f->folded->bytes());
      }
    } else {  // a field first seen after compression: no clusters
      s.set_table(config_.name());
      s.set_field(id);
      s.set_shard_id(options_.shard_id);
      s.set_method("new");
    }
    if (it != fresh.end()) {
      s.set_new_rows(it->second.first);
      s.set_frequency(s.frequency() + it->second.second);
      s.set_growth_bytes(s.growth_bytes() + it->second.first * row_bytes);
    }
    out.push_back(std::move(s));
  }
  return out;
}

void CompressedTable::VisitFields(
    const std::function<void(const CompressedFieldState&)>& fn) const {
  absl::ReaderMutexLock lock(&mu_);
  for (const auto& f : by_field_) {
    if (f != nullptr) fn(*f);
  }
}

void CompressedTable::ForEachKey(const SparseTable::RowVisitor& fn) const {
  absl::ReaderMutexLock lock(&mu_);
  for (const auto& f : by_field_) {
    if (f == nullptr) continue;
    const auto visit = [&](uint64_t key, uint32_t c) {
      const std::optional<uint32_t> r = f->vectors.RowOf(c);
      if (!r.has_value()) return;  // homed by another shard
      fn(key, f->vectors.centroids().data() + size_t{*r} * dim(),
         f->state.data() + size_t{*r} * state_floats_, f->steps[*r], 0);
    };
    f->vectors.index().ForEach(visit);
    if (f->folded != nullptr) f->folded->ForEach(visit);
  }
  overflow_->ForEachRow(fn);
}

}  // namespace strata
