// CompressedTable: growth after compression (docs/saec.md): the fold of
// overflow rows into their nearest clusters, and the checkpointed growth.
#include <cstring>
#include <map>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "proto/base/status_macros.h"
#include "server/storage/compressed_table.h"
#include "server/storage/internal/nearest_cluster.h"

namespace strata {
namespace {

// One field's overflow rows as a fold snapshots them, with its centroids.
struct FoldInput {
  std::vector<uint64_t> keys;
  std::vector<float> values;
  std::vector<float> centroids;
};

}  // namespace

absl::StatusOr<std::vector<FieldStats>> CompressedTable::Fold(
    int num_threads, const FieldCentroidMap& centroids) {
  absl::MutexLock serial(&fold_mu_);
  const uint32_t d = dim();
  STRATA_RETURN_IF_ERROR(ValidateCentroids(centroids, d, saec_.field_bits()));
  for (const auto& [id, c] : centroids) {
    const CompressedFieldState* f =
        id < by_field_.size() ? by_field_[id].get() : nullptr;
    if (f == nullptr || c.size() != size_t{f->vectors.num_clusters()} * d) {
      return absl::InvalidArgumentError(absl::StrCat(
          "table ", config_.name(), ": the centroids of field ", id,
          " do not match its clusters"));
    }
  }
  std::map<uint32_t, FoldInput> inputs;
  {
    absl::ReaderMutexLock lock(&mu_);
    overflow_->ForEachRow([&](uint64_t key, const float* values, const float*,
                              int64_t, uint64_t) {
      const CompressedFieldState* f = FieldFor(key);
      if (f == nullptr) return;  // a field without clusters stays as it is
      // Cluster-wide: only fields whose current centroids were given.
      if (saec_.cluster_wide() && !centroids.count(f->field)) return;
      FoldInput& in = inputs[f->field];
      in.keys.push_back(key);
      in.values.insert(in.values.end(), values, values + d);
    });
    for (auto& [id, in] : inputs) {
      const auto given = centroids.find(id);
      const absl::Span<const float> c =
          given != centroids.end() ? absl::MakeConstSpan(given->second)
                                   : by_field_[id]->vectors.centroids();
      in.centroids.assign(c.begin(), c.end());
    }
  }
  if (inputs.empty()) return Stats();
  // The search, without the lock: pulls and pushes go on.
  std::vector<uint64_t> keys;
  std::vector<float> values;
  std::vector<uint32_t> clusters;
  for (const auto& [id, in] : inputs) {
    const std::vector<uint32_t> ids = internal::NearestClusters(
        in.values, in.centroids, static_cast<int>(d), num_threads);
    keys.insert(keys.end(), in.keys.begin(), in.keys.end());
    values.insert(values.end(), in.values.begin(), in.values.end());
    clusters.insert(clusters.end(), ids.begin(), ids.end());
  }
  if (options_.before_fold_swap) options_.before_fold_swap();
  std::shared_ptr<SparseTable> old;  // released after the lock
  {
    absl::MutexLock lock(&mu_);
    STRATA_RETURN_IF_ERROR(
        SwapFold(keys, values, std::move(clusters), centroids, &old));
  }
  old.reset();
  return Stats();
}

absl::Status CompressedTable::SwapFold(const std::vector<uint64_t>& keys,
                                       const std::vector<float>& values,
                                       std::vector<uint32_t> clusters,
                                       const FieldCentroidMap& centroids,
                                       std::shared_ptr<SparseTable>* old) {
  const uint32_t d = dim();
  absl::flat_hash_map<uint64_t, size_t> pos;
  for (size_t i = 0; i < keys.size(); ++i) pos[keys[i]] = i;
  std::vector<uint64_t> freq(keys.size(), 0);
  // The rows that stay (created after the snapshot) move to a new table;
  // a folded row that a push changed since the snapshot is searched again.
  STRATA_ASSIGN_OR_RETURN(
      std::shared_ptr<SparseTable> next,
      SparseTable::Create(config_, OverflowOptions(nullptr)));
  absl::Status s;
  overflow_->ForEachRow([&](uint64_t key, const float* v, const float* state,
                            int64_t step, uint64_t f) {
    if (!s.ok()) return;
    const auto it = pos.find(key);
    if (it == pos.end()) {
      s = next->InsertRow(key, absl::MakeConstSpan(v, d),
                          absl::MakeConstSpan(state, state_floats_), step, f);
      return;
    }
    freq[it->second] = f;
    if (std::memcmp(v, values.data() + it->second * d, d * sizeof(float))) {
      const CompressedFieldState* f = FieldFor(key);
      const auto given = centroids.find(f->field);
      clusters[it->second] = internal::NearestCluster(
          v,
          given != centroids.end() ? absl::MakeConstSpan(given->second)
                                   : f->vectors.centroids(),
          static_cast<int>(d));
    }
  });
  STRATA_RETURN_IF_ERROR(s);
  std::vector<
      std::pair<CompressedFieldState*, std::unique_ptr<compression::KeyIndex>>>
      built;
  uint64_t folded_bytes = 0;
  STRATA_RETURN_IF_ERROR(BuildFolded(keys, clusters, &built, &folded_bytes));
  // Charged before anything changes: the remaining rows and the growth of
  // the folded indexes; the old overflow table releases its own charge.
  if (budget_ != nullptr) {
    const uint64_t grow =
        folded_bytes > folded_bytes_ ? folded_bytes - folded_bytes_ : 0;
    STRATA_RETURN_IF_ERROR(budget_->Charge(
        next->BudgetBytes() + grow,
        absl::StrCat("folding compressed table ", config_.name())));
    if (folded_bytes < folded_bytes_) {
      budget_->Release(folded_bytes_ - folded_bytes);
    }
    next->AdoptBudget(budget_);
  }
  for (auto& [f, index] : built) f->folded = std::move(index);
  for (size_t i = 0; i < keys.size(); ++i) {
    // A cluster another shard homes: counted in the fallback's slot.
    CompressedFieldState* f = FieldFor(keys[i]);
    f->frequency[f->vectors.RowOf(clusters[i]).value_or(f->vectors.num_rows())] +=
        freq[i];
  }
  folded_bytes_ = folded_bytes;
  *old = std::exchange(overflow_, std::move(next));
  return absl::OkStatus();
}

absl::Status CompressedTable::BuildFolded(
    const std::vector<uint64_t>& keys, const std::vector<uint32_t>& clusters,
    std::vector<std::pair<CompressedFieldState*,
                          std::unique_ptr<compression::KeyIndex>>>* built,
    uint64_t* folded_bytes) const {
  std::map<CompressedFieldState*,
           std::pair<std::vector<uint64_t>, std::vector<uint32_t>>>
      grown;
  for (size_t i = 0; i < keys.size(); ++i) {
    auto& [k, c] = grown[FieldFor(keys[i])];
    k.push_back(keys[i]);
    c.push_back(clusters[i]);
  }
  *folded_bytes = FoldedBytes();
  for (auto& [f, kc] : grown) {
    // Plain references, not a structured binding: C++17 lambdas cannot
    // capture bindings (clang refuses; GCC accepts).
    std::vector<uint64_t>& k = kc.first;
    std::vector<uint32_t>& c = kc.second;
    if (f->folded != nullptr) {
      f->folded->ForEach([&](uint64_t key, uint32_t cluster) {
        k.push_back(key);
        c.push_back(cluster);
      });
      *folded_bytes -= f->folded->bytes();
    }
    STRATA_ASSIGN_OR_RETURN(
        std::unique_ptr<compression::KeyIndex> index,
        compression::KeyIndex::Build(k, c, f->vectors.num_clusters() - 1,
                                     compression::KeyIndexOptions()));
    *folded_bytes += index->bytes();
    built->emplace_back(f, std::move(index));
  }
  return absl::OkStatus();
}

CompressedGrowth CompressedTable::Growth() const {
  absl::ReaderMutexLock lock(&mu_);
  CompressedGrowth g;
  for (const auto& f : by_field_) {
    if (f == nullptr) continue;
    CompressedGrowth::Field& gf = g.fields.emplace_back();
    gf.field = f->field;
    for (const uint64_t& n : f->frequency) {
      gf.frequency.push_back(__atomic_load_n(&n, __ATOMIC_RELAXED));
    }
    if (f->folded == nullptr) continue;
    f->folded->ForEach([&](uint64_t key, uint32_t cluster) {
      gf.folded_keys.push_back(key);
      gf.folded_clusters.push_back(cluster);
    });
  }
  overflow_->ForEachRow([&](uint64_t key, const float* values,
                            const float* state, int64_t step, uint64_t freq) {
    g.keys.push_back(key);
    g.frequency.push_back(freq);
    g.steps.push_back(step);
    g.values.insert(g.values.end(), values, values + dim());
    g.state.insert(g.state.end(), state, state + state_floats_);
  });
  return g;
}

bool CompressedTable::HasGrowth() const {
  absl::ReaderMutexLock lock(&mu_);
  if (overflow_->rows() > 0) return true;
  for (const auto& f : by_field_) {
    if (f == nullptr) continue;
    if (f->folded != nullptr) return true;
    for (const uint64_t& n : f->frequency) {
      if (__atomic_load_n(&n, __ATOMIC_RELAXED) != 0) return true;
    }
  }
  return false;
}

absl::Status CompressedTable::RestoreField(CompressedGrowth::Field g) {
  const auto bad = [&](const std::string& what) {
    return absl::DataLossError(absl::StrCat("compressed table ", config_.name(),
                                            ", growth of field ", g.field, ": ",
                                            what));
  };
  CompressedFieldState* f =
      g.field < by_field_.size() ? by_field_[g.field].get() : nullptr;
  if (f == nullptr) return bad("the table has no such field");
  const uint32_t k = f->vectors.num_clusters();
  const uint32_t rows = f->vectors.num_rows();
  if (g.frequency.size() == size_t{k} + 1 && rows != k) {
    // A format-3 cluster-wide checkpoint counted every cluster; Restore
    // trimmed the field to the homed ones.
    g.frequency = SlotFrequencies(f->vectors, g.frequency);
  }
  if (g.frequency.size() != size_t{rows} + 1) {
    return bad(absl::StrCat(g.frequency.size(), " frequencies for ", rows,
                            " stored clusters"));
  }
  if (g.folded_keys.size() != g.folded_clusters.size()) {
    return bad("folded keys and clusters differ in number");
  }
  for (size_t i = 0; i < g.folded_keys.size(); ++i) {
    const uint64_t key = g.folded_keys[i];
    if (g.folded_clusters[i] >= k ||
        FieldOfKey(key, saec_.field_bits()) != g.field ||
        f->vectors.ClusterOf(key).has_value()) {
      return bad(absl::StrCat("folded key ", key, " (cluster ",
                              g.folded_clusters[i],
                              ") is out of range, of another field or "
                              "already indexed"));
    }
  }
  f->frequency = std::move(g.frequency);
  if (g.folded_keys.empty()) return absl::OkStatus();
  absl::StatusOr<std::unique_ptr<compression::KeyIndex>> index =
      compression::KeyIndex::Build(g.folded_keys, g.folded_clusters, k - 1,
                                   compression::KeyIndexOptions());
  if (!index.ok()) return bad(std::string(index.status().message()));
  f->folded = *std::move(index);
  return absl::OkStatus();
}

absl::Status CompressedTable::RestoreGrowth(CompressedGrowth growth) {
  absl::MutexLock lock(&mu_);
  const uint32_t d = dim();
  const size_t n = growth.keys.size();
  if (growth.frequency.size() != n || growth.steps.size() != n ||
      growth.values.size() != n * d ||
      growth.state.size() != n * state_floats_) {
    return absl::DataLossError(absl::StrCat("compressed table ", config_.name(),
                                            ": inconsistent overflow rows"));
  }
  for (CompressedGrowth::Field& g : growth.fields) {
    STRATA_RETURN_IF_ERROR(RestoreField(std::move(g)));
  }
  const uint64_t folded = FoldedBytes();
  if (budget_ != nullptr) {
    STRATA_RETURN_IF_ERROR(budget_->Charge(
        folded, absl::StrCat("compressed table ", config_.name())));
  }
  folded_bytes_ = folded;
  for (size_t i = 0; i < n; ++i) {
    const CompressedFieldState* f = FieldFor(growth.keys[i]);
    if (f != nullptr && ClusterOf(*f, growth.keys[i]).has_value()) {
      return absl::DataLossError(
          absl::StrCat("compressed table ", config_.name(), ": overflow key ",
                       growth.keys[i], " is also indexed"));
    }
    STRATA_RETURN_IF_ERROR(overflow_->InsertRow(
        growth.keys[i], absl::MakeConstSpan(growth.values).subspan(i * d, d),
        absl::MakeConstSpan(growth.state)
            .subspan(i * state_floats_, state_floats_),
        growth.steps[i], growth.frequency[i]));
  }
  return absl::OkStatus();
}

}  // namespace strata
