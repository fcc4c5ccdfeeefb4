// A Saec-compressed embedding table of one shard (docs/saec.md).
//
// Each field's features share cluster centroids: a pull returns the centroid
// of the key's cluster; a push combines the batch's gradients per cluster
// (summed or averaged: SaecConfig.cluster_gradient) and applies the table's
// optimizer once per touched centroid.
//
// Growth (docs/saec.md, "Growth after compression"): unless
// SaecConfig.freeze_new_keys (then it reads and trains the field's fallback
// vector, the behaviour before growth handling), a key first seen after
// compression gets a row of its own in an owned overflow SparseTable,
// created by the table's initializer, trained by its optimizer and charged
// to the memory budget like any new row. Fold() (a later compress) moves the
// overflow rows of compressed fields into their nearest clusters; folded
// keys live in a small exact index per field (kCompact, ~8 B/key) layered
// over the main one. A key is served by, in order: its folded cluster, its
// main-index cluster, its overflow row (the three sets are disjoint: an
// overflow row exists only for a key neither index knows, and a fold moves
// it out of the overflow table).
//
// A key's field is its top `field_bits` bits (SaecConfig.field_bits; see
// proto/ps.proto for its default). Keys of a field that did not exist at
// compression time get overflow rows too (counted by unknown_field_keys());
// a fold leaves them there (that field has no clusters).
//
// Cluster-wide (SaecConfig.cluster_wide; docs/saec.md, "Cluster-wide
// clusters"): built by Compress with the field centroids computed once for
// the whole cluster; cluster ids are global and cluster c of field f is
// served only by its home shard, as the ClusterKey(f, c) below. A shard
// stores the centroids (and their optimizer state and frequencies) of the
// clusters it homes only, about k / shards per field. Pull and Push refuse
// such a table (FAILED_PRECONDITION); clients Resolve the keys first and
// use PullResolved / PushResolved.
//
// Frequencies keep being counted: per cluster for indexed and folded keys
// (pulls with count_frequency and every pushed occurrence, like SparseTable),
// per key for overflow rows (by the overflow SparseTable).
//
// Thread-safe: pulls share a reader lock (cluster frequencies are relaxed
// atomic increments), pushes take it exclusively; Fold() builds off to the
// side and swaps under the writer lock. The router and memory budget in
// Options are not owned and must outlive the table.
#ifndef STRATA_SERVER_STORAGE_COMPRESSED_TABLE_H_
#define STRATA_SERVER_STORAGE_COMPRESSED_TABLE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "compression/compressed_field.h"
#include "proto/ps.pb.h"
#include "server/router/router.h"
#include "server/storage/embedding_table.h"
#include "server/storage/memory_budget.h"
#include "server/storage/optimizer.h"
#include "server/storage/sparse_table.h"

namespace strata {

// One field of a compressed table, as stored and checkpointed. Its slots
// are the rows of `vectors` (one per stored centroid: every cluster, or on
// a cluster-wide table the clusters this shard homes) and, last, the
// fallback: slot r < vectors.num_rows() is the centroid of cluster
// vectors.ClusterOfRow(r), slot num_rows() the fallback.
struct CompressedFieldState {
  uint32_t field = 0;
  compression::CompressedField vectors;
  std::vector<float> state;    // (rows + 1) * state floats per row
  std::vector<int64_t> steps;  // rows + 1 optimizer steps
  FieldStats stats;
  // Occurrences counted since compression, per slot (rows + 1; the
  // fallback's slot counts reads and writes of the fallback and, on a
  // cluster-wide table, the frequency a fold moves to a cluster another
  // shard homes). Empty reads as zeros. Incremented with relaxed atomics
  // under the table's reader lock.
  std::vector<uint64_t> frequency;
  // Keys folded in after compression -> cluster; null when none.
  std::unique_ptr<compression::KeyIndex> folded;
};

// What a compressed table learned after compression, as checkpointed
// (section 0x06, docs/checkpoint.md): per field its cluster frequencies and
// folded keys; the overflow rows, flattened (n keys, n * dim values, n *
// state floats).
struct CompressedGrowth {
  struct Field {
    uint32_t field = 0;
    std::vector<uint64_t> frequency;  // slots: rows + 1
    std::vector<uint64_t> folded_keys;
    std::vector<uint32_t> folded_clusters;
  };
  std::vector<Field> fields;
  std::vector<uint64_t> keys;
  std::vector<uint64_t> frequency;
  std::vector<int64_t> steps;
  std::vector<float> values;
  std::vector<float> state;
};

// The SaecConfig with the defaults documented on its fields (proto/ps.proto)
// applied: the one place they are applied. INVALID_ARGUMENT for bad values.
absl::StatusOr<SaecConfig> NormalizeSaecConfig(SaecConfig config);

// Field id of `key` under `field_bits`.
inline uint32_t FieldOfKey(uint64_t key, uint32_t field_bits) {
  return static_cast<uint32_t>(key >> (64 - field_bits));
}

// --- Cluster-wide tables (docs/saec.md, "Cluster-wide clusters").

// Most clusters per field a cluster-wide Compress accepts.
constexpr uint32_t kMaxClusterWideClusters = 1u << 20;
// Default and largest SampleHead samples per field.
constexpr uint64_t kDefaultSamplesPerField = 1u << 16;
constexpr uint64_t kMaxSamplesPerField = 1u << 20;

// The field reserved for ClusterKeys on cluster-wide tables: the all-ones
// top field, 2^field_bits - 1.
inline uint32_t ReservedField(uint32_t field_bits) {
  return (1u << field_bits) - 1;
}

// The key under which cluster `cluster` of field `field` (< ReservedField)
// is pulled and pushed; its home shard is router.ShardForKey of it.
inline uint64_t ClusterKey(uint32_t field_bits, uint32_t field,
                           uint32_t cluster) {
  return (uint64_t{ReservedField(field_bits)} << (64 - field_bits)) |
         (uint64_t{field} << 32) | cluster;
}

// Field and cluster of a key of the reserved field; nullopt when it is not
// of the reserved field or not a well-formed ClusterKey.
struct ClusterRef {
  uint32_t field = 0;
  uint32_t cluster = 0;
};
std::optional<ClusterRef> ParseClusterKey(uint64_t key, uint32_t field_bits);

// Centroids per field (k x dim floats each), as CompressRequest.centroids.
using FieldCentroidMap = std::map<uint32_t, std::vector<float>>;

// INVALID_ARGUMENT unless every entry has a field below ReservedField, a
// multiple of dim floats, 1 <= k <= kMaxClusterWideClusters clusters and
// only finite values.
absl::Status ValidateCentroids(const FieldCentroidMap& centroids, uint32_t dim,
                               uint32_t field_bits);

// SampleHead: per field of `table`, its head features (Saec's head
// selection by frequency mass, `config` normalized) and a sample of the
// rest drawn with probability proportional to frequency, at most
// `max_per_field` in all (0: kDefaultSamplesPerField), weighted frequency /
// P(sampled). INVALID_ARGUMENT for a bad config or max_per_field >
// kMaxSamplesPerField; RESOURCE_EXHAUSTED when the vectors exceed
// `max_bytes`.
absl::StatusOr<SampleHeadResponse> SampleHead(const SparseTable& table,
                                              const SaecConfig& config,
                                              uint64_t max_per_field,
                                              uint64_t max_bytes);

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
    // Tests only: called by Fold between the search (no lock held) and the
    // swap, to interleave pulls and pushes deterministically.
    std::function<void()> before_fold_swap;
  };

  ~CompressedTable() override;

  // Clusters every field of `table` (a consistent copy is taken first; the
  // source table is not modified). FAILED_PRECONDITION for an empty table;
  // RESOURCE_EXHAUSTED when the result does not fit options.budget.
  //
  // With `centroids` (non-empty): cluster-wide. Each field's features are
  // assigned to the nearest of its given centroids (no clustering).
  // INVALID_ARGUMENT for centroids ValidateCentroids refuses, a field of
  // the table without centroids, or keys of the reserved field; with
  // config.cluster_wide but no centroids.
  static absl::StatusOr<std::unique_ptr<CompressedTable>> Compress(
      const SparseTable& table, const SaecConfig& config,
      const Options& options, const FieldCentroidMap& centroids = {});
  // Rebuilds a table from checkpointed fields (RESOURCE_EXHAUSTED as
  // Compress). Call RestoreGrowth next for a checkpoint with section 0x06.
  // Cluster-wide fields that store every cluster (checkpoints of format 3)
  // are trimmed to the clusters this shard homes; trimmed ones must store
  // exactly those (DATA_LOSS otherwise: another router or shard id).
  static absl::StatusOr<std::unique_ptr<CompressedTable>> Restore(
      const TableConfig& config, const SaecConfig& saec,
      std::vector<CompressedFieldState> fields, const Options& options);

  absl::Status Pull(absl::Span<const uint64_t> keys, bool count_frequency,
                    bool read_only, float* out) override;
  // Rows read in place are copied into one array first (Saec sums them per
  // cluster; not the hot path measured in issue 16).
  absl::Status Push(absl::Span<const uint64_t> keys,
                    const GradientRows& grads) override;
  using EmbeddingTable::Push;  // and with the rows in one array
  // Pull and Push of Resolve's keys: a ClusterKey this shard homes reads or
  // trains its centroid; any other key (not indexed here) its overflow row
  // as Pull would. INVALID_ARGUMENT for a ClusterKey this shard does not
  // home, of a field without clusters or with a cluster id >= k, and for a
  // key that an index holds (it must travel as its ClusterKey). On a table
  // that is not cluster-wide: Pull and Push.
  absl::Status PullResolved(absl::Span<const uint64_t> keys,
                            bool count_frequency, bool read_only, float* out);
  absl::Status PushResolved(absl::Span<const uint64_t> keys,
                            absl::Span<const float> grads);
  // out[i] = the key to pull and push keys[i] under: ClusterKey of its
  // cluster if an index holds it, else keys[i]. Keys must be this shard's
  // (FAILED_PRECONDITION otherwise, as Pull); INVALID_ARGUMENT for a key of
  // the reserved field on a cluster-wide table. Identity on other tables.
  absl::Status Resolve(absl::Span<const uint64_t> keys, uint64_t* out) const;
  bool cluster_wide() const { return saec_.cluster_wide(); }
  // The current centroids this shard homes, per field (cluster-wide tables;
  // empty otherwise), as a SampleHead answer.
  SampleHeadResponse HomedCentroids() const;
  const TableConfig& config() const override { return config_; }
  uint32_t dim() const override { return config_.dim(); }
  // Indexed, folded and overflow keys.
  size_t rows() const override;
  size_t MemoryBytes() const override;
  bool compressed() const override { return true; }
  // What the table counts against a memory budget: MemoryBytes() when it
  // was built (centroids, state, frequencies and main index), plus the
  // folded indexes and the overflow rows (SparseTable::BudgetBytes).
  uint64_t BudgetBytes() const;
  // For a table built without a budget (a checkpoint load): the destructor
  // releases BudgetBytes() from `budget`, which the caller has charged, and
  // new overflow rows are charged to it. Call at most once, before the table
  // is shared with other threads.
  void AdoptBudget(MemoryBudget* budget);
  // Installs checkpointed growth (section 0x06) into a table fresh from
  // Restore, before it is shared. DATA_LOSS for a field the table lacks, a
  // frequency vector of the wrong size, a cluster id out of range, a folded
  // key the main index already holds or a bad overflow row;
  // RESOURCE_EXHAUSTED when it does not fit the budget.
  absl::Status RestoreGrowth(CompressedGrowth growth);
  // A consistent copy of the growth (checkpoints), under the reader lock.
  CompressedGrowth Growth() const;
  // True when there is any growth to checkpoint (overflow rows, folded keys
  // or counted frequencies).
  bool HasGrowth() const;

  // Folds the overflow rows of every compressed field into the field's
  // nearest cluster (BLAS search over the centroids, `num_threads` threads;
  // <= 0: all cores). The search runs on a snapshot without the lock; the
  // swap takes the writer lock and re-reads every folded row there, so a
  // push that reached a row before the swap decides its cluster, and a row
  // created after the snapshot stays an overflow row. A folded key's own
  // vector and optimizer state are dropped (it now shares its cluster's);
  // its frequency is added to the cluster's. RESOURCE_EXHAUSTED (nothing
  // changed) when the swap's transient copy does not fit the budget.
  // Returns Stats() afterwards.
  // On a cluster-wide table `centroids` holds the current global centroids
  // of the fields to fold (the local copies of centroids this shard does
  // not home are stale); fields without an entry are left as they are.
  absl::StatusOr<std::vector<FieldStats>> Fold(
      int num_threads, const FieldCentroidMap& centroids = {});

  const SaecConfig& saec_config() const { return saec_; }
  // Statistics of every field, ordered by field id.
  std::vector<FieldStats> Stats() const;
  uint64_t unknown_field_keys() const { return unknown_field_keys_.load(); }
  size_t state_floats_per_row() const { return state_floats_; }
  // Visits every field under the reader lock (checkpoints).
  void VisitFields(
      const std::function<void(const CompressedFieldState&)>& fn) const;
  // Visits every indexed key with its current vector and optimizer state:
  // the table expanded back into plain rows (frequency 0), plus the
  // overflow rows as they are (on a cluster-wide table, only the keys whose
  // cluster this shard homes). Only for tables whose main index lists its
  // keys (KeyIndex::enumerable(): not SaecConfig MPH); calling it on an MPH
  // table is a programmer error (CHECK).
  void ForEachKey(const SparseTable::RowVisitor& fn) const;

 private:
  CompressedTable(const TableConfig& config, const SaecConfig& saec,
                  const Options& options, std::unique_ptr<Optimizer> opt);
  absl::Status Install(std::vector<CompressedFieldState> fields);
  absl::Status CheckBatch(absl::Span<const uint64_t> keys) const;
  // CheckBatch for resolved keys: ClusterKeys must be well formed, of a
  // compressed field, in range and homed here (INVALID_ARGUMENT).
  absl::Status CheckResolvedBatch(absl::Span<const uint64_t> keys) const;
  // FAILED_PRECONDITION for an unresolved pull or push of a cluster-wide
  // table.
  absl::Status CheckUnresolved() const;
  // Field and slot serving `key`: SlotOf for an unresolved key; for a
  // resolved one its ClusterKey's cluster, or SlotOf of a key no index
  // holds (INVALID_ARGUMENT for one an index holds). Requires mu_ held.
  absl::Status SlotFor(uint64_t key, bool resolved, CompressedFieldState** f,
                       std::optional<uint32_t>* slot) const;
  // Cluster-wide: drops from `f` the centroids, state, steps and
  // frequencies of the clusters this shard does not home, and sets its
  // stats to count what is left.
  absl::Status TrimToHomed(CompressedFieldState* f) const;
  // Install's part for a cluster-wide field: a field that stores every
  // cluster is trimmed to the homed ones (TrimToHomed); a trimmed one must
  // store exactly those (DATA_LOSS).
  absl::Status HomeField(CompressedFieldState* f) const;
  // Counts of every cluster (k + 1, the fallback's last) as slots of `v`
  // (rows + 1): a stored cluster's in its row, the others' (homed by
  // another shard) and the fallback's in the fallback's slot, so their sum
  // is kept.
  static std::vector<uint64_t> SlotFrequencies(
      const compression::CompressedField& v,
      absl::Span<const uint64_t> per_cluster);
  // Cluster-wide: the clusters of `f` this shard homes, increasing.
  std::vector<uint32_t> HomedClusters(const CompressedFieldState& f) const;
  // Whether this shard homes cluster `c` of `field`.
  bool Homes(uint32_t field, uint32_t c) const;
  absl::Status PullImpl(absl::Span<const uint64_t> keys, bool resolved,
                        bool count_frequency, bool read_only, float* out);
  absl::Status PushImpl(absl::Span<const uint64_t> keys,
                        absl::Span<const float> grads, bool resolved);
  CompressedFieldState* FieldFor(uint64_t key) const;
  // Folded, then main-index cluster of `key`; nullopt for an overflow key.
  // Requires mu_ held (either way).
  static std::optional<uint32_t> ClusterOf(const CompressedFieldState& f,
                                           uint64_t key);
  // The slot serving `key` of field `f` (null: a field without clusters):
  // its cluster's row, the fallback (slot num_rows()) for a new key under
  // freeze_new_keys, or nullopt for an overflow key. Requires mu_ held.
  std::optional<uint32_t> SlotOf(CompressedFieldState* f, uint64_t key) const;
  // The vector of `slot` (a centroid or the fallback). Requires mu_ held
  // (exclusively to write through it).
  static float* Row(CompressedFieldState& f, uint32_t slot);
  // Pulls the keys at `positions` from the overflow table into `out`.
  absl::Status PullOverflow(absl::Span<const uint64_t> keys,
                            absl::Span<const uint32_t> positions,
                            bool count_frequency, bool read_only, float* out)
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // Bytes of the folded indexes. Requires mu_ held.
  uint64_t FoldedBytes() const;
  // Centroids, state, steps, frequencies and main indexes: what Install
  // charges.
  uint64_t FixedBytes() const;
  // Options of the overflow table (without a budget when `budget` is null).
  SparseTable::Options OverflowOptions(MemoryBudget* budget) const;
  // Fold's swap: re-reads the snapshot rows (`values`: keys.size() * dim,
  // assigned to `clusters`), builds the new folded indexes and overflow
  // table and installs them; the replaced overflow table goes to `old` (to
  // be dropped after the lock is released).
  absl::Status SwapFold(const std::vector<uint64_t>& keys,
                        const std::vector<float>& values,
                        std::vector<uint32_t> clusters,
                        const FieldCentroidMap& centroids,
                        std::shared_ptr<SparseTable>* old)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The new folded index of each field that `keys` touch (old folded keys
  // and the new ones), with the folded bytes after the fold.
  absl::Status BuildFolded(
      const std::vector<uint64_t>& keys, const std::vector<uint32_t>& clusters,
      std::vector<std::pair<CompressedFieldState*,
                            std::unique_ptr<compression::KeyIndex>>>* built,
      uint64_t* folded_bytes) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // RestoreGrowth's part for one field.
  absl::Status RestoreField(CompressedGrowth::Field g)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Constant after construction.
  const TableConfig config_;
  const SaecConfig saec_;
  const Options options_;
  const std::unique_ptr<Optimizer> optimizer_;
  const size_t state_floats_;
  size_t features_ = 0;        // set once by Install
  uint64_t budget_bytes_ = 0;  // set once by Install
  // Not owned; set once by Install or AdoptBudget before sharing.
  MemoryBudget* budget_ = nullptr;

  mutable absl::Mutex mu_;
  // Fields by id (size 2^field_bits; null where the field has no features).
  // The vector is fixed after Install; centroid values, state and steps are
  // guarded by mu_.
  std::vector<std::unique_ptr<CompressedFieldState>> by_field_;
  // Rows of keys first seen after compression; replaced by Fold.
  std::shared_ptr<SparseTable> overflow_ ABSL_GUARDED_BY(mu_);
  // Charged for the folded indexes (part of BudgetBytes).
  uint64_t folded_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  // Serialises Fold calls.
  absl::Mutex fold_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  std::atomic<uint64_t> unknown_field_keys_{0};
};

}  // namespace strata

#endif  // STRATA_SERVER_STORAGE_COMPRESSED_TABLE_H_
