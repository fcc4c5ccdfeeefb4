// A Saec-compressed embedding table of one shard (docs/saec.md).
//
// Each field's features share cluster centroids: a pull returns the centroid
// of the key's cluster (or the field's fallback vector for a key unseen at
// compression time); a push sums the gradients of the batch per cluster and
// applies the table's optimizer once per touched centroid. That sum is the
// exact gradient of the loss with respect to the shared vector, the same
// convention as a hashed or shared embedding row in TorchRec or HugeCTR.
//
// A key's field is its top `field_bits` bits (SaecConfig.field_bits; see
// proto/ps.proto for its default). Keys of a field that did not
// exist at compression time read as the table's initializer and their
// gradients are dropped (there is no vector to train); the count of such
// keys is exposed as unknown_field_keys().
//
// Thread-safe: pulls share a reader lock, pushes take it exclusively. The
// router and memory budget in Options are not owned and must outlive the
// table.
#ifndef STRATA_SERVER_STORAGE_COMPRESSED_TABLE_H_
#define STRATA_SERVER_STORAGE_COMPRESSED_TABLE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "compression/compressed_field.h"
#include "proto/ps.pb.h"
#include "server/router/router.h"
#include "server/storage/embedding_table.h"
#include "server/storage/memory_budget.h"
#include "server/storage/optimizer.h"
#include "server/storage/sparse_table.h"

namespace strata {

// One field of a compressed table, as stored and checkpointed. Slot k (one
// past the last cluster) of `state` and `steps` belongs to the fallback.
struct CompressedFieldState {
  uint32_t field = 0;
  compression::CompressedField vectors;
  std::vector<float> state;    // (clusters + 1) * state floats per row
  std::vector<int64_t> steps;  // clusters + 1 optimizer steps
  FieldStats stats;
};

// The SaecConfig with the defaults documented on its fields (proto/ps.proto)
// applied: the one place they are applied. INVALID_ARGUMENT for bad values.
absl::StatusOr<SaecConfig> NormalizeSaecConfig(SaecConfig config);

// Field id of `key` under `field_bits`.
inline uint32_t FieldOfKey(uint64_t key, uint32_t field_bits) {
  return static_cast<uint32_t>(key >> (64 - field_bits));
}

class CompressedTable final : public EmbeddingTable {
 public:
  struct Options {
    // As SparseTable::Options: keys must belong to shard_id under router.
    const ShardRouter* router = nullptr;
    uint32_t shard_id = 0;
    size_t max_batch_keys = kDefaultMaxBatchKeys;
    float max_abs_gradient = kDefaultMaxAbsGradient;
    // Threads for compression (fields run in parallel); <= 0: all cores.
    int num_threads = 0;
    // When set, the built table charges BudgetBytes() to it (the table is
    // refused with RESOURCE_EXHAUSTED if that does not fit) and releases it
    // when destroyed. The copy and scratch memory of the clustering itself
    // are not charged. Null: no limit.
    MemoryBudget* budget = nullptr;
  };

  ~CompressedTable() override;

  // Clusters every field of `table` (a consistent copy is taken first; the
  // source table is not modified). FAILED_PRECONDITION for an empty table;
  // RESOURCE_EXHAUSTED when the result does not fit options.budget.
  static absl::StatusOr<std::unique_ptr<CompressedTable>> Compress(
      const SparseTable& table, const SaecConfig& config,
      const Options& options);
  // Rebuilds a table from checkpointed fields (RESOURCE_EXHAUSTED as
  // Compress).
  static absl::StatusOr<std::unique_ptr<CompressedTable>> Restore(
      const TableConfig& config, const SaecConfig& saec,
      std::vector<CompressedFieldState> fields, const Options& options);

  absl::Status Pull(absl::Span<const uint64_t> keys, bool count_frequency,
                    bool read_only, float* out) override;
  absl::Status Push(absl::Span<const uint64_t> keys,
                    absl::Span<const float> grads) override;
  const TableConfig& config() const override { return config_; }
  uint32_t dim() const override { return config_.dim(); }
  size_t rows() const override { return features_; }
  size_t MemoryBytes() const override;
  bool compressed() const override { return true; }
  // What the table counts against a memory budget: MemoryBytes() when it
  // was built (centroids, state and index do not grow).
  uint64_t BudgetBytes() const { return budget_bytes_; }
  // For a table built without a budget (a checkpoint load): the destructor
  // releases BudgetBytes() from `budget`, which the caller has charged. Call
  // at most once, before the table is shared with other threads.
  void AdoptBudget(MemoryBudget* budget) { budget_ = budget; }

  const SaecConfig& saec_config() const { return saec_; }
  // Statistics of every field, ordered by field id.
  std::vector<FieldStats> Stats() const;
  uint64_t unknown_field_keys() const { return unknown_field_keys_.load(); }
  size_t state_floats_per_row() const { return state_floats_; }
  // Visits every field under the reader lock (checkpoints).
  void VisitFields(
      const std::function<void(const CompressedFieldState&)>& fn) const;
  // Visits every indexed key with its current vector and optimizer state:
  // the table expanded back into plain rows (frequency 0), for loading a
  // checkpoint into a different number of shards.
  void ForEachKey(const SparseTable::RowVisitor& fn) const;

 private:
  CompressedTable(const TableConfig& config, const SaecConfig& saec,
                  const Options& options, std::unique_ptr<Optimizer> opt);
  absl::Status Install(std::vector<CompressedFieldState> fields);
  absl::Status CheckBatch(absl::Span<const uint64_t> keys) const;
  CompressedFieldState* FieldFor(uint64_t key) const;

  // Constant after construction.
  const TableConfig config_;
  const SaecConfig saec_;
  const Options options_;
  const std::unique_ptr<Optimizer> optimizer_;
  const size_t state_floats_;
  size_t features_ = 0;  // set once by Install
  uint64_t budget_bytes_ = 0;  // set once by Install
  // Not owned; set once by Install or AdoptBudget before sharing.
  MemoryBudget* budget_ = nullptr;

  mutable absl::Mutex mu_;
  // Fields by id (size 2^field_bits; null where the field has no features).
  // The vector is fixed after Install; centroid values, state and steps are
  // guarded by mu_.
  std::vector<std::unique_ptr<CompressedFieldState>> by_field_;
  std::atomic<uint64_t> unknown_field_keys_{0};
};

}  // namespace strata

#endif  // STRATA_SERVER_STORAGE_COMPRESSED_TABLE_H_
