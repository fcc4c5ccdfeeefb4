// All sparse tables and dense tensors of one parameter-server shard, with
// checkpointing. This is the storage API the service layer calls.
#ifndef STRATA_SERVER_STORAGE_TABLE_STORE_H_
#define STRATA_SERVER_STORAGE_TABLE_STORE_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "proto/ps.pb.h"
#include "server/router/router.h"
#include "server/storage/checkpoint_loader.h"
#include "server/storage/checkpoint_retention.h"
#include "server/storage/compressed_table.h"
#include "server/storage/dense_table.h"
#include "server/storage/embedding_table.h"
#include "server/storage/memory_budget.h"
#include "server/storage/push_dedup.h"
#include "server/storage/push_gate.h"
#include "server/storage/shard_tables.h"
#include "server/storage/sparse_table.h"
#include "server/storage/update_count.h"
#include "server/util/clock.h"
#include "server/util/env.h"

namespace strata {

// The default most tables and dense tensors one shard holds.
inline constexpr size_t kDefaultMaxTables = 4096;

enum class TableKind { kSparse, kDense };

// One row of TableStore::List(); mirrors the TableInfo proto.
struct TableSummary {
  std::string name;
  TableKind kind = TableKind::kSparse;
  uint32_t dim = 0;    // sparse
  uint64_t rows = 0;   // sparse: keys held by this shard; dense: 1
  uint64_t size = 0;   // dense: elements
  uint64_t bytes = 0;  // values + optimizer state + index
  OptimizerConfig::Type optimizer = OptimizerConfig::SGD;
  SyncMode sync = ASYNC;      // dense
  int64_t step = 0;           // dense
  bool compressed = false;    // sparse: Saec-compressed (rows = features)
  bool cluster_wide = false;  // compressed cluster-wide (docs/saec.md)
  ClusterGradient cluster_gradient = CLUSTER_GRADIENT_DEFAULT;  // compressed
  TableConfig sparse_config;  // set for sparse tables
  DenseConfig dense_config;   // set for dense tensors
};

struct CheckpointInfo {
  uint64_t checkpoint_id = 0;
  std::string path;  // the shard file written
  uint64_t bytes = 0;
  uint64_t rows = 0;  // sparse rows written
  uint64_t push_windows = 0;  // clients whose push window was written
  // Older checkpoints whose files retention deleted after this one.
  std::vector<uint64_t> pruned;
};

// What TableStore::ResetDenseSteps did on this shard.
struct DenseStepReset {
  uint32_t tensors = 0;  // BSP dense tensors whose name has the prefix
  uint32_t reset = 0;    // of those, how many had pushes that were discarded
};

// A checkpoint TableStore::LoadNewestLoadable skipped, and why.
struct SkippedCheckpoint {
  uint64_t checkpoint_id = 0;
  absl::Status status;
};

struct FallbackLoadInfo {
  // The checkpoint loaded; none when `dir` holds no loadable one.
  std::optional<LoadInfo> loaded;
  // Newer complete checkpoints that could not be loaded, newest first.
  std::vector<SkippedCheckpoint> skipped;
};

// Owns every table of one shard, by name (sparse tables and dense tensors
// share one namespace). Tables are handed out as shared_ptr, so a Drop or a
// Load that replaces a table while a request still uses it is safe: the
// request finishes on the old object, which is then freed. Dropped or
// replaced dense tensors are cancelled (blocked BSP pulls fail ABORTED).
//
// The store owns the shard's memory budget (memory_budget.h): sparse rows,
// dense tensors and compressed tables charge it, and a table releases its
// charge when the last request using it lets go of it. Tables handed out by
// the store must not outlive it.
//
// Thread-safe. Made by Create (there is no public constructor). The router,
// env and clock in Options are not owned and must outlive the store.
// Checkpoint and Load are serialised with each other; table operations
// continue while a checkpoint is written.
class TableStore {
 public:
  struct Options {
    uint32_t shard_id = 0;
    uint32_t num_shards = 1;
    // Key/name -> shard mapping, used to reject misrouted keys and dense
    // tensors and to re-route rows when loading a checkpoint written with a
    // different shard count. Null means a single shard (num_shards must be
    // 1).
    const ShardRouter* router = nullptr;
    Env* env = nullptr;      // null: DefaultEnv()
    Clock* clock = nullptr;  // null: RealClock(); picks checkpoint id 0
    // Per sparse table (see SparseTable::Options for the trade-offs).
    uint32_t sparse_stripes = 64;
    size_t max_batch_keys = kDefaultMaxBatchKeys;
    // Write buffer of a checkpoint: larger means fewer write calls, more
    // memory while a checkpoint runs.
    size_t checkpoint_buffer_bytes = size_t{4} << 20;
    // Largest |gradient| a push may carry (optimizer.h); positive, finite.
    float max_abs_gradient = kDefaultMaxAbsGradient;
    // After each checkpoint, keep the newest keep_checkpoints complete ones
    // and delete this shard's files of older ones (checkpoint_retention.h);
    // 0 keeps everything. More means more disk, and more to fall back on.
    uint32_t keep_checkpoints = kDefaultKeepCheckpoints;
    // Memory budget of the shard's tables (ps_server --max_memory_bytes):
    // sparse rows, dense tensors and compressed tables. Creating or growing
    // past it fails with RESOURCE_EXHAUSTED and the shard keeps serving
    // what it holds. Higher lets the shard hold more, at the risk of the
    // machine running out of memory first (the kernel's OOM killer ends the
    // process, losing everything since the last checkpoint). 0:
    // DefaultMemoryBudgetBytes(), 3/4 of physical memory.
    uint64_t max_memory_bytes = 0;
    // Most tables and dense tensors the shard holds (ps_server
    // --max_tables). Each costs memory even when empty (a sparse table's
    // stripes) and a line in every ListTables answer and /metrics scrape.
    size_t max_tables = kDefaultMaxTables;
    // Most clients whose applied push ids the shard remembers (ps_server
    // --max_push_clients; PushDedup::Options discusses the trade-off).
    size_t max_push_clients = kDefaultMaxPushClients;
    // The file that keeps updates()'s count across a process kill
    // (ps_server: UpdateCountFileName in --data_dir); empty: none.
    std::string update_count_path;
  };

  // INVALID_ARGUMENT if num_shards is 0, shard_id >= num_shards, the
  // router's shard count differs from num_shards, or there is no router and
  // num_shards > 1.
  // Also INVALID_ARGUMENT for sparse_stripes 0, max_batch_keys outside
  // [1, kMaxBatchKeysLimit], max_tables or max_push_clients 0 or a
  // max_abs_gradient ValidateMaxAbsGradient rejects.
  static absl::StatusOr<std::unique_ptr<TableStore>> Create(
      const Options& options);

  TableStore(const TableStore&) = delete;
  TableStore& operator=(const TableStore&) = delete;
  ~TableStore();

  // ALREADY_EXISTS if a table or tensor with that name exists, unless
  // if_not_exists and it is the same kind with an identical config (then
  // OK). INVALID_ARGUMENT for an invalid config or a name CheckName
  // (proto/base/names.h) refuses; RESOURCE_EXHAUSTED when the shard holds
  // max_tables already. CreateDense also fails with FAILED_PRECONDITION
  // when the router assigns the name to another shard and RESOURCE_EXHAUSTED
  // when it does not fit the memory budget (DenseTable::Create bounds its
  // size; a tensor larger than one message is pulled and pushed in chunks).
  absl::Status CreateSparse(const TableConfig& config, bool if_not_exists);
  absl::Status CreateDense(const DenseConfig& config, bool if_not_exists);
  // NOT_FOUND if there is no table or tensor with that name.
  absl::Status Drop(absl::string_view name);

  // NOT_FOUND "no sparse table named X"; FAILED_PRECONDITION if X is a dense
  // tensor. GetDense likewise.
  absl::StatusOr<std::shared_ptr<SparseTable>> GetSparse(
      absl::string_view name) const;
  absl::StatusOr<std::shared_ptr<DenseTable>> GetDense(
      absl::string_view name) const;

  // The table the embedding service pulls from and pushes to: a plain
  // sparse table or its compressed replacement. NOT_FOUND /
  // FAILED_PRECONDITION (a dense tensor) as GetSparse.
  absl::StatusOr<std::shared_ptr<EmbeddingTable>> GetEmbedding(
      absl::string_view name) const;

  // Compresses sparse table `name` (every plain sparse table when empty)
  // with Saec, fields in parallel, and swaps the compressed table in.
  // Returns the per-field statistics. Pushes that reach the plain table
  // while it is being clustered are not carried over: compress between
  // training phases (load time, or after a checkpoint). INVALID_ARGUMENT
  // for a config NormalizeSaecConfig refuses; NOT_FOUND for an unknown
  // table; FAILED_PRECONDITION if it is dense; RESOURCE_EXHAUSTED when the
  // compressed tables do not fit the memory budget next to the plain ones.
  // All or nothing: every table is compressed before any is swapped in, so
  // on any error every plain table stays as it was. A plain table's charge
  // is released once it is replaced and no request uses it. An already
  // compressed table (every one when `name` is empty) is folded instead,
  // after the plain ones are swapped in: its new rows join their nearest
  // clusters (CompressedTable::Fold, each fold all or nothing) while pulls
  // and pushes go on. Non-empty `centroids` (a named table only): the
  // cluster-wide compression or fold of CompressedTable::Compress / Fold.
  absl::StatusOr<std::vector<FieldStats>> Compress(
      absl::string_view name, const SaecConfig& config, int num_threads = 0,
      const FieldCentroidMap& centroids = {});
  // Compression statistics of compressed table `name` (all when empty).
  absl::StatusOr<std::vector<FieldStats>> Stats(absl::string_view name) const;

  // Discards the open step's accumulated pushes of every BSP dense tensor
  // whose name starts with `prefix` (DenseTable::ResetStep: steps, values
  // and optimizer state stay). INVALID_ARGUMENT for a prefix CheckName
  // (proto/base/names.h) refuses.
  absl::StatusOr<DenseStepReset> ResetDenseSteps(absl::string_view prefix);

  // What resyncing restored BSP tensors cost, summed over the tensors the
  // store holds (DenseTable::ResyncCounters).
  DenseTable::ResyncCounters DenseResyncCounters() const;

  // One summary per table, sorted by name.
  std::vector<TableSummary> List() const;
  // The same as a ListTables response: shard id, shard count and one
  // TableInfo per table, sorted by name (replaces the contents of `out`).
  void List(ListTablesResponse* out) const;

  // Writes this shard's file of checkpoint `checkpoint_id` (0: the clock's
  // Unix time in milliseconds) under `dir` (see checkpoint_filename.h for
  // names, checkpoint_writer.h for atomicity), the push windows of
  // push_dedup() after the tables (docs/checkpoint.md, "Push windows"), and
  // records updates()' count at its cut (the count when the write starts;
  // exact while pushes are paused) and persists it. Errors
  // from the env are returned with the path; FAILED_PRECONDITION for a table
  // holding what the loader would refuse (the file is not written) or for the
  // id of a checkpoint LoadNewestLoadable found unloadable (never overwritten).
  // After a successful write, retention prunes older checkpoints
  // (keep_checkpoints; never the one last loaded nor an unloadable one); a
  // retention failure is logged and counted, and does not fail the checkpoint.
  absl::StatusOr<CheckpointInfo> Checkpoint(const std::string& dir,
                                            uint64_t checkpoint_id);

  // Replaces the contents of this store with checkpoint `checkpoint_id` (0:
  // newest complete) from `dir`, built by LoadCheckpoint
  // (checkpoint_loader.h): it reads every shard file of the checkpoint and
  // keeps the sparse rows and dense tensors the router assigns to this
  // shard, so the checkpoint may have been written by any number of shards.
  // Every sparse table of the checkpoint is created here, even if none of
  // its rows route here. Tables created before or during the load are
  // discarded. NOT_FOUND without a complete checkpoint; DATA_LOSS (naming
  // the file) for corrupt or inconsistent files; RESOURCE_EXHAUSTED when the
  // checkpoint holds more than max_tables tables and tensors for this shard
  // or its tables do not fit the memory budget next to the ones they
  // replace (they are built first, then charged). On error the store is
  // unchanged. The push windows are replaced by the checkpoint's (none when
  // it was written by another shard count). Peak memory: the old tables,
  // the new ones and one file.
  absl::StatusOr<LoadInfo> Load(const std::string& dir, uint64_t checkpoint_id);

  // Start-up load: as Load(dir, 0), but a complete checkpoint that fails to
  // load (any error: corrupt, unreadable, ambiguous, over max_tables or the
  // memory budget) is skipped for the next older one and recorded as
  // unloadable, so this store neither overwrites nor deletes it. Loads nothing (and leaves the store as it is) when `dir`
  // is missing or holds no loadable checkpoint; the env's error when `dir`
  // cannot be listed.
  absl::StatusOr<FallbackLoadInfo> LoadNewestLoadable(const std::string& dir);

  // What Load/LoadNewestLoadable/Checkpoint recorded (for /metrics).
  CheckpointLedger::Counters checkpoint_counters() const {
    return ledger_.counters();
  }

  uint32_t shard_id() const { return options_.shard_id; }
  uint32_t num_shards() const { return options_.num_shards; }
  // The shard's memory budget (bytes in use and the limit).
  const MemoryBudget& memory_budget() const { return budget_; }
  // The request ids of the pushes applied here: the embedding and dense
  // services apply every push through it, checkpoints save it and loads
  // replace it.
  PushDedup& push_dedup() { return dedup_; }
  const PushDedup& push_dedup() const { return dedup_; }
  // The updates applied here (the services count each applied push) and
  // what a restart lost (update_count.h).
  UpdateCount& updates() { return updates_; }
  const UpdateCount& updates() const { return updates_; }
  // The gate every push passes (PausePushes).
  PushGate& push_gate() { return push_gate_; }
  // The checkpoint LoadNewestLoadable or Load last installed (0: none).
  uint64_t loaded_checkpoint_id() const;

 private:
  // `options` passed Create's checks.
  explicit TableStore(const Options& options);

  SparseTable::Options SparseOptions() const;
  CompressedTable::Options CompressedOptions(int num_threads) const;
  DenseTable::Options DenseOptions() const;
  CheckpointLoaderOptions LoaderOptions() const;
  // FAILED_PRECONDITION if the router assigns dense tensor `name` elsewhere.
  absl::Status CheckDenseOwner(absl::string_view name) const;
  // RESOURCE_EXHAUSTED when the shard holds max_tables already.
  absl::Status CheckRoomForTable() const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // Charges the loaded tables to the budget and hands them their charge.
  absl::Status ChargeLoaded(uint64_t checkpoint_id, ShardTables& tables);
  // Cancels the dense tensors of `tables` (after they left tables_).
  static void CancelDense(const ShardTables& tables);
  // Charges the loaded tables (ChargeLoaded), swaps them in and records the
  // load; on RESOURCE_EXHAUSTED the store is unchanged.
  absl::StatusOr<LoadInfo> Install(LoadedCheckpoint loaded)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(io_mu_);

  // Constant after construction.
  const Options options_;
  // Thread-safe itself (mutable: const methods hand it to new tables).
  // Declared before tables_, which release their charges when destroyed.
  mutable MemoryBudget budget_;

  // Serialises Checkpoint and Load. Acquired before mu_.
  absl::Mutex io_mu_;
  CheckpointLedger ledger_;  // thread-safe itself
  PushDedup dedup_;          // thread-safe itself
  UpdateCount updates_;      // thread-safe itself
  PushGate push_gate_;       // thread-safe itself
  std::atomic<uint64_t> loaded_checkpoint_id_{0};
  mutable absl::Mutex mu_;
  ShardTables tables_ ABSL_GUARDED_BY(mu_);
};

}  // namespace strata

#endif  // STRATA_SERVER_STORAGE_TABLE_STORE_H_
