// CompressedTable: cluster-wide tables (docs/saec.md, "Cluster-wide
// clusters"): ClusterKeys, Resolve, resolved pulls and pushes, and the
// SampleHead a shard contributes to the clustering.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <numeric>
#include <utility>

#include "absl/strings/str_cat.h"
#include "proto/base/status_macros.h"
#include "server/storage/compressed_table.h"
#include "server/storage/internal/validation.h"

namespace strata {
namespace {

// One field's rows for SampleHead.
struct SampleRows {
  std::vector<float> vectors;
  std::vector<uint64_t> frequency;  // >= 1, as Compress weighs them
};

// Head of `order` (rows by descending frequency): the prefix covering
// head_mass of the field's occurrences, or exactly head_count rows.
size_t HeadSize(const std::vector<uint32_t>& order,
                const std::vector<uint64_t>& freq, const SaecConfig& c) {
  if (c.head_count() > 0) {
    return std::min<size_t>(order.size(), c.head_count());
  }
  const double total = std::accumulate(freq.begin(), freq.end(), 0.0);
  double mass = 0;
  size_t n = 0;
  while (n < order.size() && mass < c.head_mass() * total) {
    mass += static_cast<double>(freq[order[n++]]);
  }
  return n;
}

// Appends `count` rows of `rest` (the tail, in the given order) drawn by
// systematic sampling with probability proportional to frequency, each
// weighted frequency / P(sampled) (at least its frequency: certain rows).
void SampleTail(const SampleRows& r, const std::vector<uint32_t>& rest,
                size_t count, uint32_t dim, FieldSample* out) {
  if (count == 0 || rest.empty()) return;
  double total = 0;
  for (uint32_t i : rest) total += static_cast<double>(r.frequency[i]);
  const double step = total / static_cast<double>(count);
  double next = step / 2, acc = 0;  // a fixed start: deterministic
  std::string* v = out->mutable_vectors();
  for (uint32_t i : rest) {
    const double f = static_cast<double>(r.frequency[i]);
    acc += f;
    if (acc <= next) continue;
    while (next < acc) next += step;
    v->append(reinterpret_cast<const char*>(r.vectors.data() + size_t{i} * dim),
              dim * sizeof(float));
    out->add_weights(std::max(f, step));
  }
}

}  // namespace

std::optional<ClusterRef> ParseClusterKey(uint64_t key, uint32_t field_bits) {
  const uint32_t reserved = ReservedField(field_bits);
  if (FieldOfKey(key, field_bits) != reserved) return std::nullopt;
  const uint64_t low = key & (~uint64_t{0} >> field_bits);
  const uint64_t field = low >> 32;
  if (field >= reserved) return std::nullopt;
  return ClusterRef{static_cast<uint32_t>(field),
                    static_cast<uint32_t>(low & 0xffffffffu)};
}

absl::Status ValidateCentroids(const FieldCentroidMap& centroids,
                               uint32_t dim, uint32_t field_bits) {
  for (const auto& [field, c] : centroids) {
    const std::string what = absl::StrCat("centroids of field ", field);
    if (field >= ReservedField(field_bits)) {
      return absl::InvalidArgumentError(absl::StrCat(
          what, ": the field is not below ", ReservedField(field_bits),
          " (field_bits ", field_bits, "; the top field is reserved)"));
    }
    if (c.empty() || c.size() % dim != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          what, ": ", c.size(), " floats are not k >= 1 rows of dim ", dim));
    }
    if (c.size() / dim > kMaxClusterWideClusters) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": ", c.size() / dim, " clusters exceed the ",
                       kMaxClusterWideClusters, "-cluster limit"));
    }
    for (size_t i = 0; i < c.size(); ++i) {
      if (!std::isfinite(c[i])) {
        return absl::InvalidArgumentError(
            absl::StrCat(what, ": value ", i % dim, " of centroid ", i / dim,
                         " is not finite"));
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<SampleHeadResponse> SampleHead(const SparseTable& table,
                                              const SaecConfig& config,
                                              uint64_t max_per_field,
                                              uint64_t max_bytes) {
  STRATA_ASSIGN_OR_RETURN(const SaecConfig c, NormalizeSaecConfig(config));
  if (max_per_field == 0) max_per_field = kDefaultSamplesPerField;
  if (max_per_field > kMaxSamplesPerField) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_per_field ", max_per_field, " exceeds the limit of ",
                     kMaxSamplesPerField));
  }
  const uint32_t dim = table.dim();
  std::map<uint32_t, SampleRows> fields;
  table.ForEachRow([&](uint64_t key, const float* values, const float*,
                       int64_t, uint64_t freq) {
    SampleRows& r = fields[FieldOfKey(key, c.field_bits())];
    r.vectors.insert(r.vectors.end(), values, values + dim);
    r.frequency.push_back(std::max<uint64_t>(freq, 1));
  });
  SampleHeadResponse resp;
  resp.set_dim(dim);
  *resp.mutable_config() = c;
  uint64_t bytes = 0;
  for (const auto& entry : fields) {
    // Not a structured binding: C++17 lambdas cannot capture one (clang).
    const uint32_t field = entry.first;
    const SampleRows& r = entry.second;
    std::vector<uint32_t> order(r.frequency.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
      return r.frequency[a] > r.frequency[b];
    });
    const size_t head = HeadSize(order, r.frequency, c);
    const size_t taken = std::min<size_t>(head, max_per_field);
    FieldSample* s = resp.add_fields();
    s->set_field(field);
    s->set_features(order.size());
    s->set_head_features(taken);
    s->set_truncated(taken < head);
    for (size_t i = 0; i < taken; ++i) {
      s->mutable_vectors()->append(
          reinterpret_cast<const char*>(r.vectors.data() +
                                        size_t{order[i]} * dim),
          dim * sizeof(float));
      s->add_weights(static_cast<double>(r.frequency[order[i]]));
    }
    const std::vector<uint32_t> rest(order.begin() + taken, order.end());
    const size_t want = std::min<size_t>(
        {rest.size(), max_per_field - taken, std::max<size_t>(taken, 64)});
    SampleTail(r, rest, want, dim, s);
    bytes += s->vectors().size() + s->weights_size() * sizeof(double);
    if (bytes > max_bytes) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "SampleHead of table ", table.config().name(), " exceeds ",
          max_bytes, " bytes at field ", field,
          "; lower max_per_field (--samples_per_field)"));
    }
  }
  return resp;
}

bool CompressedTable::Homes(uint32_t field, uint32_t c) const {
  return options_.router == nullptr ||
         options_.router->ShardForKey(ClusterKey(saec_.field_bits(), field,
                                                 c)) == options_.shard_id;
}

std::vector<uint32_t> CompressedTable::HomedClusters(
    const CompressedFieldState& f) const {
  std::vector<uint32_t> homed;
  for (uint32_t c = 0; c < f.vectors.num_clusters(); ++c) {
    if (Homes(f.field, c)) homed.push_back(c);
  }
  return homed;
}

absl::Status CompressedTable::TrimToHomed(CompressedFieldState* f) const {
  const std::vector<uint32_t> homed = HomedClusters(*f);
  if (homed.size() != f->vectors.num_rows()) {
    // Slot c of a field that stores every cluster is cluster c; the
    // fallback's slot (the last) stays last.
    const size_t sf = state_floats_, rows = f->vectors.num_rows();
    std::vector<float> state;
    std::vector<int64_t> steps;
    for (uint32_t c : homed) {
      state.insert(state.end(), f->state.begin() + c * sf,
                   f->state.begin() + (c + 1) * sf);
      steps.push_back(f->steps[c]);
    }
    state.insert(state.end(), f->state.end() - sf, f->state.end());
    steps.push_back(f->steps[rows]);
    STRATA_RETURN_IF_ERROR(f->vectors.Trim(homed));
    f->state = std::move(state);
    f->steps = std::move(steps);
    if (!f->frequency.empty()) {
      f->frequency = SlotFrequencies(f->vectors, f->frequency);
    }
  }
  FieldStats& s = f->stats;
  s.set_cluster_wide(true);
  s.set_clusters(homed.size());
  s.set_vectors_after(homed.size());
  s.set_bytes_after(f->vectors.bytes());
  s.set_ratio(static_cast<double>(s.bytes_before()) / s.bytes_after());
  return absl::OkStatus();
}

std::vector<uint64_t> CompressedTable::SlotFrequencies(
    const compression::CompressedField& v,
    absl::Span<const uint64_t> per_cluster) {
  const uint32_t rows = v.num_rows();
  std::vector<uint64_t> slots(size_t{rows} + 1, 0);
  for (uint32_t c = 0; c < per_cluster.size(); ++c) {
    const bool cluster = c < v.num_clusters();
    slots[cluster ? v.RowOf(c).value_or(rows) : rows] += per_cluster[c];
  }
  return slots;
}

absl::Status CompressedTable::HomeField(CompressedFieldState* f) const {
  if (!f->vectors.trimmed()) return TrimToHomed(f);
  const std::vector<uint32_t> homed = HomedClusters(*f);
  const absl::Span<const uint32_t> stored = f->vectors.row_ids();
  if (!std::equal(stored.begin(), stored.end(), homed.begin(), homed.end())) {
    return absl::DataLossError(absl::StrCat(
        "compressed table ", config_.name(), ": field ", f->field, " stores ",
        stored.size(), " clusters, not the ", homed.size(),
        " that shard ", options_.shard_id, " homes (another router?)"));
  }
  return absl::OkStatus();
}

SampleHeadResponse CompressedTable::HomedCentroids() const {
  SampleHeadResponse resp;
  resp.set_dim(dim());
  *resp.mutable_config() = saec_;
  resp.set_cluster_wide(saec_.cluster_wide());
  if (!saec_.cluster_wide()) return resp;
  absl::ReaderMutexLock lock(&mu_);
  for (const auto& f : by_field_) {
    if (f == nullptr) continue;
    ::strata::HomedCentroids* h = resp.add_homed();
    h->set_field(f->field);
    h->set_clusters(f->vectors.num_clusters());
    for (uint32_t r = 0; r < f->vectors.num_rows(); ++r) {
      h->add_ids(f->vectors.ClusterOfRow(r));
    }
    const absl::Span<const float> v = f->vectors.centroids();
    h->mutable_values()->append(reinterpret_cast<const char*>(v.data()),
                                v.size() * sizeof(float));
  }
  return resp;
}

absl::Status CompressedTable::CheckUnresolved() const {
  if (!saec_.cluster_wide()) return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrCat("table ", config_.name(),
                   " is compressed cluster-wide; resolve keys first"));
}

absl::Status CompressedTable::CheckResolvedBatch(
    absl::Span<const uint64_t> keys) const {
  STRATA_RETURN_IF_ERROR(internal::CheckBatchSize(
      keys.size(), options_.max_batch_keys, config_.name()));
  const uint32_t fb = saec_.field_bits();
  for (uint64_t key : keys) {
    if (FieldOfKey(key, fb) != ReservedField(fb)) {
      STRATA_RETURN_IF_ERROR(internal::CheckOwner(
          key, options_.router, options_.shard_id, config_.name()));
      continue;
    }
    const std::optional<ClusterRef> ref = ParseClusterKey(key, fb);
    const CompressedFieldState* f =
        ref.has_value() ? by_field_[ref->field].get() : nullptr;
    if (f == nullptr || ref->cluster >= f->vectors.num_clusters()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "table ", config_.name(), ": key ", key,
          " is not the ClusterKey of a cluster of a compressed field"));
    }
    if (!f->vectors.RowOf(ref->cluster).has_value()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "table ", config_.name(), ": cluster ", ref->cluster, " of field ",
          ref->field, " (key ", key, ") is not homed by shard ",
          options_.shard_id));
    }
  }
  return absl::OkStatus();
}

absl::Status CompressedTable::SlotFor(uint64_t key, bool resolved,
                                      CompressedFieldState** f,
                                      std::optional<uint32_t>* slot) const {
  const uint32_t fb = saec_.field_bits();
  if (resolved && FieldOfKey(key, fb) == ReservedField(fb)) {
    const ClusterRef ref = *ParseClusterKey(key, fb);  // CheckResolvedBatch
    *f = by_field_[ref.field].get();
    *slot = (*f)->vectors.RowOf(ref.cluster);  // homed: CheckResolvedBatch
    return absl::OkStatus();
  }
  *f = FieldFor(key);
  if (resolved && *f != nullptr && ClusterOf(**f, key).has_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat("table ", config_.name(), ": key ", key,
                     " has a cluster; send its ClusterKey (Resolve)"));
  }
  *slot = SlotOf(*f, key);
  return absl::OkStatus();
}

absl::Status CompressedTable::PullResolved(absl::Span<const uint64_t> keys,
                                           bool count_frequency,
                                           bool read_only, float* out) {
  return PullImpl(keys, saec_.cluster_wide(), count_frequency, read_only, out);
}

absl::Status CompressedTable::PushResolved(absl::Span<const uint64_t> keys,
                                           absl::Span<const float> grads) {
  return PushImpl(keys, grads, saec_.cluster_wide());
}

absl::Status CompressedTable::Resolve(absl::Span<const uint64_t> keys,
                                      uint64_t* out) const {
  STRATA_RETURN_IF_ERROR(CheckBatch(keys));
  const uint32_t fb = saec_.field_bits();
  absl::ReaderMutexLock lock(&mu_);
  for (size_t i = 0; i < keys.size(); ++i) {
    out[i] = keys[i];
    if (!saec_.cluster_wide()) continue;
    if (FieldOfKey(keys[i], fb) == ReservedField(fb)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "table ", config_.name(), ": key ", keys[i], " lies in field ",
          ReservedField(fb), ", reserved for ClusterKeys on a cluster-wide "
          "table"));
    }
    const CompressedFieldState* f = FieldFor(keys[i]);
    if (f == nullptr) continue;
    if (std::optional<uint32_t> c = ClusterOf(*f, keys[i])) {
      out[i] = ClusterKey(fb, f->field, *c);
    }
  }
  return absl::OkStatus();
}

}  // namespace strata
