// Sparse embedding table: uint64 keys -> rows of `dim` floats, created on
// first touch, updated by a per-row optimizer.
#ifndef STRATA_SERVER_STORAGE_SPARSE_TABLE_H_
#define STRATA_SERVER_STORAGE_SPARSE_TABLE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "proto/ps.pb.h"
#include "server/router/router.h"
#include "server/storage/embedding_table.h"
#include "server/storage/memory_budget.h"
#include "server/storage/optimizer.h"

namespace strata {

// Largest embedding dimension a table may have.
inline constexpr uint32_t kMaxSparseDim = 4096;
// Upper bound for SparseTable::Options::max_batch_keys (batch positions are
// 32-bit internally).
inline constexpr size_t kMaxBatchKeysLimit = size_t{1} << 31;
// The default largest batch of one Pull/Push, for every table, the store and
// the PS service: 4M keys at dim 16 is 256 MiB of floats, the default gRPC
// message limit; clients split larger batches.
inline constexpr size_t kDefaultMaxBatchKeys = size_t{4} << 20;

// One embedding table of one shard.
//
// Storage is striped: key k lives in the stripe that the low 32 bits of
// KeyHash(k) pick (the router uses the high 32; internal/key_index.h). Each
// stripe has its own mutex, an open-addressing key -> row index (home slots
// from a remix of KeyHash with the table's random seed), the rows' keys, and
// one contiguous array of row records: a row's values, optimizer state,
// update count (Adam's t) and frequency side by side, so that updating a
// row touches one or two adjacent cache lines. Batch operations hash each key
// once (ownership check, stripe and slot) and group it by stripe (one counting
// sort); within a stripe they search the index (each home slot prefetched
// ahead) and create, read and update rows in batch order. Each touched
// stripe is locked exactly once per batch.
//
// Rows are never deleted (the whole table is dropped instead). A stripe holds
// at most 2^32 - 1 rows.
//
// With a memory budget, a batch that may create rows first reserves room for
// all its keys (one atomic operation); only if that fails does it count the
// keys it lacks, under the stripes' reader locks, and reserve exactly that
// (an upper bound, since rows are never deleted). What the batch did not
// create is released at its end. A batch reserving its worst case can hold
// back room that a concurrent batch needs: near the limit such a batch may
// be refused even though it would have fitted a moment later.
//
// Thread-safe: all methods may be called concurrently. Owns its rows; the
// router and the budget passed in Options are not owned and must outlive the
// table.
class SparseTable final : public EmbeddingTable {
 public:
  struct Options {
    // More stripes mean less lock contention between concurrent batches, at
    // the cost of a little memory per stripe (~200 bytes plus hash-map slack)
    // and a counting pass over num_stripes buckets per batch.
    uint32_t num_stripes = 64;
    // When set, every key of every batch must satisfy
    // router->ShardForKey(key) == shard_id (else FAILED_PRECONDITION), so a
    // misrouted request cannot create rows on the wrong shard.
    const ShardRouter* router = nullptr;
    uint32_t shard_id = 0;
    // Largest batch accepted by Pull/Push (bounds per-call scratch memory).
    size_t max_batch_keys = kDefaultMaxBatchKeys;
    // Largest |gradient| a Push may carry (optimizer.h).
    float max_abs_gradient = kDefaultMaxAbsGradient;
    // When set, every new row is charged to it (bytes_per_row()) before it
    // is created, and the destructor releases the table's charge. Null: no
    // limit.
    MemoryBudget* budget = nullptr;
  };

  // Called for each row by ForEachRow/VisitStripe: key, `dim` values,
  // `state_floats_per_row()` optimizer state floats, update count, frequency.
  using RowVisitor =
      std::function<void(uint64_t key, const float* values, const float* state,
                         int64_t step, uint64_t frequency)>;

  // INVALID_ARGUMENT for an empty name, dim 0 or > kMaxSparseDim, an invalid
  // initializer or optimizer, num_stripes 0, max_batch_keys 0, or a shard_id
  // outside the router's range.
  static absl::StatusOr<std::unique_ptr<SparseTable>> Create(
      const TableConfig& config, const Options& options);
  static absl::StatusOr<std::unique_ptr<SparseTable>> Create(
      const TableConfig& config) {
    return Create(config, Options());
  }

  SparseTable(const SparseTable&) = delete;
  SparseTable& operator=(const SparseTable&) = delete;
  ~SparseTable();

  // Writes keys.size() * dim floats to `out`, row i at out + i * dim.
  // Missing keys are created with the initializer, unless `read_only`: then
  // the initializer's values are written without inserting anything.
  // `count_frequency` adds 1 to the frequency of each occurrence of an
  // existing (or newly created) row. INVALID_ARGUMENT for an empty or
  // oversized batch; FAILED_PRECONDITION for a key of another shard;
  // RESOURCE_EXHAUSTED when the new rows do not fit the memory budget
  // (nothing is created then).
  absl::Status Pull(absl::Span<const uint64_t> keys, bool count_frequency,
                    bool read_only, float* out) override;

  // Applies one gradient row per key (keys.size() rows of dim floats),
  // creating missing rows first; duplicate keys are applied in order. Adds 1
  // to the frequency of each occurrence. The whole batch is validated before
  // anything changes: INVALID_ARGUMENT for an empty/oversized batch, a size
  // mismatch or a gradient that is non-finite or beyond max_abs_gradient;
  // FAILED_PRECONDITION for a key of another shard; RESOURCE_EXHAUSTED when
  // the new rows do not fit the memory budget.
  // Rows read in place (GradientRows) are not copied first.
  absl::Status Push(absl::Span<const uint64_t> keys,
                    const GradientRows& grads) override;
  using EmbeddingTable::Push;  // and with the rows in one array

  // Number of rows held.
  size_t rows() const override { return rows_.load(std::memory_order_relaxed); }
  // Estimated bytes held: values, optimizer state, per-row counters and the
  // hash-map index (capacity, not size).
  size_t MemoryBytes() const override;
  // What one row counts against a memory budget: values, optimizer state,
  // key, update count, frequency and an estimate of its index slot. Growth
  // slack of the stripes' arrays and up to 4 bytes of alignment padding in
  // a row's record are not counted (the default budget leaves room for
  // them).
  uint64_t bytes_per_row() const { return bytes_per_row_; }
  // What the table counts against a memory budget: rows() * bytes_per_row().
  uint64_t BudgetBytes() const { return rows() * bytes_per_row_; }
  // For a table built without a budget (a checkpoint load): from now on new
  // rows are charged to `budget`, and the destructor releases BudgetBytes().
  // The caller has charged BudgetBytes() already. Call at most once, on a
  // table built without a budget, before it is shared with other threads.
  void AdoptBudget(MemoryBudget* budget);
  const TableConfig& config() const override { return config_; }
  uint32_t dim() const override { return dim_; }
  // Optimizer state floats per row (state_per_element * dim).
  size_t state_floats_per_row() const { return state_floats_; }
  uint32_t num_stripes() const { return num_stripes_; }
  // 0 for a key that has no row.
  uint64_t Frequency(uint64_t key) const;

  // Checkpoint support. Visits the rows of stripe `stripe` under its lock
  // (other stripes stay available): first `begin(row_count)`, then `row` for
  // each row in insertion order. Callbacks must not call into this table.
  void VisitStripe(uint32_t stripe, const std::function<void(size_t)>& begin,
                   const RowVisitor& row) const;
  // VisitStripe over all stripes. Each row is consistent; the table as a
  // whole is not a point-in-time snapshot if writers run concurrently.
  void ForEachRow(const RowVisitor& row) const;
  // Inserts or overwrites one row (restore). INVALID_ARGUMENT if values is
  // not dim floats, state not state_floats_per_row() floats, or anything is
  // non-finite; FAILED_PRECONDITION for a key of another shard;
  // RESOURCE_EXHAUSTED when a new row does not fit the memory budget.
  absl::Status InsertRow(uint64_t key, absl::Span<const float> values,
                         absl::Span<const float> state, int64_t step,
                         uint64_t frequency);

 private:
  struct Stripe;

  SparseTable(const TableConfig& config, const Options& options,
              std::unique_ptr<Optimizer> optimizer);

  // A key's stripe and its slot hash there.
  struct Place {
    uint32_t stripe;
    uint64_t slot_hash;
  };
  Place PlaceOf(uint64_t key) const;
  // Validates size and ownership, then fills the thread-local per-stripe
  // buckets of key indices.
  absl::Status Bucket(absl::Span<const uint64_t> keys) const;
  // For the batch keys order[lo, hi) of stripe `s` (thread-local scratch from
  // Bucket), stores each key's row in the scratch `rows` (kNoRow if missing
  // and !create). Returns the number of rows created. Requires s.mu held,
  // exclusively if `create`.
  size_t ResolveRows(Stripe& s, absl::Span<const uint64_t> keys, uint32_t lo,
                     uint32_t hi, bool create);
  // Copies the resolved rows (or initializer values for missing keys) to
  // `out`, counting frequency if asked (then s.mu must be held exclusively).
  void CopyRows(Stripe& s, absl::Span<const uint64_t> keys, uint32_t lo,
                uint32_t hi, bool count_frequency, float* out);
  // Row index of `key` (whose slot hash is `slot_hash`) in `s`, creating
  // the row if missing. Requires s.mu held exclusively.
  uint32_t FindOrCreate(Stripe& s, uint64_t key, uint64_t slot_hash);
  // Charges the budget for the rows the bucketed batch `keys` may create
  // (see the class comment); an empty reservation without a budget.
  absl::StatusOr<MemoryReservation> ReserveRows(
      absl::Span<const uint64_t> keys) const;
  // Keys of the bucketed batch without a row (duplicates counted each time).
  size_t CountMissing(absl::Span<const uint64_t> keys) const;
  // Keeps the part of `reserved` that `created` rows use (the table's
  // charge from now on) and releases the rest.
  void KeepCreated(MemoryReservation& reserved, size_t created) const;

  // Constant after construction.
  const TableConfig config_;
  const Options options_;
  const uint32_t dim_;
  const uint32_t num_stripes_;
  const std::unique_ptr<Optimizer> optimizer_;
  const size_t state_floats_;
  const uint64_t bytes_per_row_;
  // Not owned; set at construction or once by AdoptBudget before sharing.
  MemoryBudget* budget_;
  // Random per table: seeds the stripes' index hashing (KeyIndex).
  const uint64_t seed_;
  // The stripes themselves are constant; their contents are guarded by each
  // stripe's mutex.
  std::vector<std::unique_ptr<Stripe>> stripes_;

  // Sum of the stripes' row counts; updated under the stripe locks.
  std::atomic<size_t> rows_{0};
};

}  // namespace strata

#endif  // STRATA_SERVER_STORAGE_SPARSE_TABLE_H_
