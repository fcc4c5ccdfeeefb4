#include "server/storage/compressed_table.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "compression/saec.h"
#include "proto/base/status_macros.h"
#include "server/storage/initializer.h"
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

}  // namespace

absl::StatusOr<SaecConfig> NormalizeSaecConfig(SaecConfig c) {
  // The defaults documented on the SaecConfig fields (proto/ps.proto): the
  // field split is the server's own, the rest are the compression library's
  // (a default-constructed SaecOptions), so each number is written once.
  constexpr uint32_t kDefaultFieldBits = 8;
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
  if (c.target_ratio() < 0 || c.max_mse() < 0) {
    return absl::InvalidArgumentError(
        "target_ratio and max_mse must not be negative");
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
    const SparseTable& table, const SaecConfig& config,
    const Options& options) {
  STRATA_ASSIGN_OR_RETURN(const SaecConfig saec, NormalizeSaecConfig(config));
  std::map<uint32_t, FieldRows> rows =
      SnapshotByField(table, saec.field_bits());
  if (rows.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "table ", table.config().name(), " has no rows to compress"));
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
  STRATA_ASSIGN_OR_RETURN(std::vector<compression::FieldCompression> results,
                          compression::CompressFields(
                              data, ToSaecOptions(saec, options.num_threads)));
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
    fields.push_back(std::move(f));
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
    const uint32_t k = f.vectors.num_clusters();
    if (f.field >= by_field_.size() || by_field_[f.field] != nullptr ||
        f.vectors.dim() != static_cast<int>(dim()) ||
        f.state.size() != (k + 1) * state_floats_ || f.steps.size() != k + 1) {
      return absl::DataLossError(absl::StrCat(
          "compressed table ", config_.name(), ": field ", f.field,
          " is inconsistent (duplicate id, dimension or state size)"));
    }
    features_ += f.vectors.num_features();
    const uint32_t id = f.field;
    by_field_[id] = std::make_unique<CompressedFieldState>(std::move(f));
  }
  budget_bytes_ = MemoryBytes();
  if (options_.budget != nullptr) {
    STRATA_RETURN_IF_ERROR(options_.budget->Charge(
        budget_bytes_, absl::StrCat("compressed table ", config_.name())));
    budget_ = options_.budget;
  }
  return absl::OkStatus();
}

CompressedTable::~CompressedTable() {
  if (budget_ != nullptr) budget_->Release(budget_bytes_);
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

absl::Status CompressedTable::Pull(absl::Span<const uint64_t> keys, bool, bool,
                                   float* out) {
  STRATA_RETURN_IF_ERROR(CheckBatch(keys));
  const uint32_t d = dim();
  uint64_t unknown = 0;
  absl::ReaderMutexLock lock(&mu_);
  for (size_t i = 0; i < keys.size(); ++i) {
    const CompressedFieldState* f = FieldFor(keys[i]);
    if (f == nullptr) {
      InitializeRow(config_.initializer(), keys[i], d, out + i * d);
      ++unknown;
      continue;
    }
    std::memcpy(out + i * d, f->vectors.Lookup(keys[i]), d * sizeof(float));
  }
  if (unknown > 0) unknown_field_keys_ += unknown;
  return absl::OkStatus();
}

absl::Status CompressedTable::Push(absl::Span<const uint64_t> keys,
                                   absl::Span<const float> grads) {
  STRATA_RETURN_IF_ERROR(CheckBatch(keys));
  const uint32_t d = dim();
  STRATA_RETURN_IF_ERROR(internal::CheckGradients(
      grads, keys.size(), d, options_.max_abs_gradient, config_.name()));
  // Sum the batch's gradients per (field, cluster); slot k is the fallback.
  absl::flat_hash_map<std::pair<CompressedFieldState*, uint32_t>, uint32_t>
      slot_of;
  std::vector<std::pair<CompressedFieldState*, uint32_t>> slots;
  std::vector<float> sums;
  absl::MutexLock lock(&mu_);
  for (size_t i = 0; i < keys.size(); ++i) {
    CompressedFieldState* f = FieldFor(keys[i]);
    if (f == nullptr) {
      ++unknown_field_keys_;
      continue;
    }
    const uint32_t c =
        f->vectors.ClusterOf(keys[i]).value_or(f->vectors.num_clusters());
    auto [it, fresh] = slot_of.try_emplace({f, c}, slots.size());
    if (fresh) {
      slots.push_back({f, c});
      sums.resize(sums.size() + d, 0.f);
    }
    float* dst = sums.data() + size_t{it->second} * d;
    for (uint32_t j = 0; j < d; ++j) dst[j] += grads[i * d + j];
  }
  for (size_t s = 0; s < slots.size(); ++s) {
    auto [f, c] = slots[s];
    float* w = c < f->vectors.num_clusters()
                   ? f->vectors.mutable_centroid(c).data()
                   : f->vectors.mutable_fallback().data();
    optimizer_->Apply(w, sums.data() + s * d,
                      f->state.data() + size_t{c} * state_floats_, &f->steps[c],
                      d);
  }
  return absl::OkStatus();
}

size_t CompressedTable::MemoryBytes() const {
  absl::ReaderMutexLock lock(&mu_);
  size_t bytes = sizeof(*this) + by_field_.size() * sizeof(by_field_[0]);
  for (const auto& f : by_field_) {
    if (f == nullptr) continue;
    bytes += f->vectors.bytes() + f->state.size() * sizeof(float) +
             f->steps.size() * sizeof(int64_t);
  }
  return bytes;
}

std::vector<FieldStats> CompressedTable::Stats() const {
  absl::ReaderMutexLock lock(&mu_);
  std::vector<FieldStats> out;
  for (const auto& f : by_field_) {
    if (f != nullptr) out.push_back(f->stats);
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
    f->vectors.index().ForEach([&](uint64_t key, uint32_t c) {
      fn(key, f->vectors.centroid(c).data(),
         f->state.data() + size_t{c} * state_floats_, f->steps[c], 0);
    });
  }
}

}  // namespace strata
