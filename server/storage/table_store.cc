#include "server/storage/table_store.h"

#include <algorithm>
#include <utility>

#include "absl/memory/memory.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "glog/logging.h"
#include "google/protobuf/util/message_differencer.h"
#include "proto/base/names.h"
#include "proto/base/status_macros.h"
#include "server/storage/checkpoint_filename.h"
#include "server/storage/checkpoint_writer.h"
#include "server/storage/internal/status_context.h"

namespace strata {
namespace {

using ::google::protobuf::util::MessageDifferencer;

constexpr absl::string_view KindName(const TableConfig*) {
  return "sparse table";
}
constexpr absl::string_view KindName(const DenseConfig*) {
  return "dense tensor";
}
constexpr absl::string_view OtherKindName(const TableConfig*) {
  return "dense tensor";
}
constexpr absl::string_view OtherKindName(const DenseConfig*) {
  return "sparse table";
}

// Result of creating `config` when its name is taken. `existing` is the
// config of the same-kind table holding the name, or null if the name is
// held by the other kind.
template <typename Config>
absl::Status ExistingStatus(const Config& config, const Config* existing,
                            bool if_not_exists) {
  if (existing == nullptr) {
    return absl::AlreadyExistsError(absl::StrCat("a ", OtherKindName(&config),
                                                 " named ", config.name(),
                                                 " already exists"));
  }
  if (!if_not_exists) {
    return absl::AlreadyExistsError(
        absl::StrCat(KindName(&config), " ", config.name(), " already exists"));
  }
  if (!MessageDifferencer::Equals(*existing, config)) {
    return absl::AlreadyExistsError(
        absl::StrCat(KindName(&config), " ", config.name(),
                     " already exists with a different config {",
                     existing->ShortDebugString(), "}"));
  }
  return absl::OkStatus();
}

// OK or the INVALID_ARGUMENT that TableStore::Create documents.
absl::Status ValidateOptions(const TableStore::Options& options) {
  if (options.num_shards == 0 || options.shard_id >= options.num_shards) {
    return absl::InvalidArgumentError(
        absl::StrCat("shard_id ", options.shard_id, " is outside [0, ",
                     options.num_shards, ")"));
  }
  if (options.router == nullptr && options.num_shards != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a store of ", options.num_shards, " shards needs a router"));
  }
  if (options.router != nullptr &&
      options.router->num_shards() != options.num_shards) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the router has ", options.router->num_shards(),
        " shards but the store was configured with ", options.num_shards));
  }
  if (options.sparse_stripes == 0 || options.max_batch_keys == 0 ||
      options.max_batch_keys > kMaxBatchKeysLimit) {
    return absl::InvalidArgumentError(
        absl::StrCat("sparse_stripes must be > 0 and max_batch_keys in [1, ",
                     kMaxBatchKeysLimit, "]"));
  }
  if (options.max_tables == 0 || options.max_push_clients == 0) {
    return absl::InvalidArgumentError(
        "max_tables and max_push_clients must be > 0");
  }
  return ValidateMaxAbsGradient(options.max_abs_gradient);
}

// What the table of `entry` counts against the memory budget.
uint64_t BudgetBytes(const ShardTable& entry) {
  if (entry.sparse != nullptr) return entry.sparse->BudgetBytes();
  if (entry.dense != nullptr) return entry.dense->BudgetBytes();
  return entry.compressed->BudgetBytes();
}

// AdoptBudget on the table of `entry`.
void AdoptBudget(const ShardTable& entry, MemoryBudget* budget) {
  if (entry.sparse != nullptr) entry.sparse->AdoptBudget(budget);
  if (entry.dense != nullptr) entry.dense->AdoptBudget(budget);
  if (entry.compressed != nullptr) entry.compressed->AdoptBudget(budget);
}

}  // namespace

absl::StatusOr<std::unique_ptr<TableStore>> TableStore::Create(
    const Options& options) {
  STRATA_RETURN_IF_ERROR(ValidateOptions(options));
  return absl::WrapUnique(new TableStore(options));
}

TableStore::TableStore(const Options& options)
    : options_([&] {
        Options o = options;
        if (o.env == nullptr) o.env = DefaultEnv();
        if (o.clock == nullptr) o.clock = RealClock();
        if (o.max_memory_bytes == 0) {
          o.max_memory_bytes = DefaultMemoryBudgetBytes();
        }
        return o;
      }()),
      budget_(options_.max_memory_bytes),
      ledger_(RetentionOptions{options.keep_checkpoints, options.shard_id,
                               options.num_shards}),
      dedup_(PushDedup::Options{options.max_push_clients}),
      updates_(options_.env, options.update_count_path) {}

TableStore::~TableStore() {
  absl::MutexLock lock(&mu_);
  CancelDense(tables_);
}

SparseTable::Options TableStore::SparseOptions() const {
  SparseTable::Options o;
  o.num_stripes = options_.sparse_stripes;
  o.router = options_.router;
  o.shard_id = options_.shard_id;
  o.max_batch_keys = options_.max_batch_keys;
  o.max_abs_gradient = options_.max_abs_gradient;
  o.budget = &budget_;
  return o;
}

DenseTable::Options TableStore::DenseOptions() const {
  DenseTable::Options o;
  o.max_abs_gradient = options_.max_abs_gradient;
  o.budget = &budget_;
  return o;
}

absl::Status TableStore::CheckDenseOwner(absl::string_view name) const {
  if (options_.router == nullptr) return absl::OkStatus();
  const uint32_t owner = options_.router->ShardForName(name);
  if (owner != options_.shard_id) {
    return absl::FailedPreconditionError(
        absl::StrCat("dense tensor ", name, " belongs to shard ", owner,
                     ", not shard ", options_.shard_id));
  }
  return absl::OkStatus();
}

absl::Status TableStore::CheckRoomForTable() const {
  if (tables_.size() >= options_.max_tables) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "shard ", options_.shard_id, " holds ", tables_.size(),
        " tables and dense tensors, its limit (--max_tables)"));
  }
  return absl::OkStatus();
}

void TableStore::CancelDense(const ShardTables& tables) {
  for (const auto& [name, entry] : tables) {
    if (entry.dense != nullptr) entry.dense->Cancel();
  }
}

absl::Status TableStore::CreateSparse(const TableConfig& config,
                                      bool if_not_exists) {
  STRATA_RETURN_IF_ERROR(CheckName("sparse table name", config.name()));
  STRATA_ASSIGN_OR_RETURN(std::unique_ptr<SparseTable> table,
                          SparseTable::Create(config, SparseOptions()));
  absl::MutexLock lock(&mu_);
  const auto it = tables_.find(config.name());
  if (it != tables_.end()) {
    const SparseTable* existing = it->second.sparse.get();
    return ExistingStatus(config, existing ? &existing->config() : nullptr,
                          if_not_exists);
  }
  STRATA_RETURN_IF_ERROR(CheckRoomForTable());
  tables_[config.name()].sparse = std::move(table);
  return absl::OkStatus();
}

absl::Status TableStore::CreateDense(const DenseConfig& config,
                                     bool if_not_exists) {
  STRATA_RETURN_IF_ERROR(CheckName("dense tensor name", config.name()));
  STRATA_RETURN_IF_ERROR(CheckDenseOwner(config.name()));
  const auto taken = [&](const ShardTable& entry) {
    const DenseTable* existing = entry.dense.get();
    return ExistingStatus(config, existing ? &existing->config() : nullptr,
                          if_not_exists);
  };
  {
    // Check first so an idempotent or refused create does not allocate a
    // big tensor.
    absl::MutexLock lock(&mu_);
    const auto it = tables_.find(config.name());
    if (it != tables_.end()) return taken(it->second);
    STRATA_RETURN_IF_ERROR(CheckRoomForTable());
  }
  STRATA_ASSIGN_OR_RETURN(std::unique_ptr<DenseTable> table,
                          DenseTable::Create(config, DenseOptions()));
  absl::MutexLock lock(&mu_);
  const auto it = tables_.find(config.name());
  if (it != tables_.end()) return taken(it->second);  // a concurrent create won
  STRATA_RETURN_IF_ERROR(CheckRoomForTable());
  tables_[config.name()].dense = std::move(table);
  return absl::OkStatus();
}

absl::Status TableStore::Drop(absl::string_view name) {
  ShardTable entry;
  {
    absl::MutexLock lock(&mu_);
    const auto it = tables_.find(name);
    if (it == tables_.end()) {
      return absl::NotFoundError(
          absl::StrCat("no table or dense tensor named ", name));
    }
    entry = std::move(it->second);
    tables_.erase(it);
  }
  if (entry.dense != nullptr) entry.dense->Cancel();
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<SparseTable>> TableStore::GetSparse(
    absl::string_view name) const {
  absl::ReaderMutexLock lock(&mu_);
  const auto it = tables_.find(name);
  if (it == tables_.end()) {
    return absl::NotFoundError(absl::StrCat("no sparse table named ", name));
  }
  if (it->second.compressed != nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat(name, " is compressed; it has no plain rows"));
  }
  if (it->second.sparse == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat(name, " is a dense tensor, not a sparse table"));
  }
  return it->second.sparse;
}

absl::StatusOr<std::shared_ptr<EmbeddingTable>> TableStore::GetEmbedding(
    absl::string_view name) const {
  absl::ReaderMutexLock lock(&mu_);
  const auto it = tables_.find(name);
  if (it == tables_.end()) {
    return absl::NotFoundError(absl::StrCat("no sparse table named ", name));
  }
  if (it->second.compressed != nullptr) return it->second.compressed;
  if (it->second.sparse == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat(name, " is a dense tensor, not a sparse table"));
  }
  return it->second.sparse;
}

CompressedTable::Options TableStore::CompressedOptions(int num_threads) const {
  CompressedTable::Options o;
  o.router = options_.router;
  o.shard_id = options_.shard_id;
  o.max_batch_keys = options_.max_batch_keys;
  o.max_abs_gradient = options_.max_abs_gradient;
  o.num_threads = num_threads;
  o.budget = &budget_;
  return o;
}

CheckpointLoaderOptions TableStore::LoaderOptions() const {
  CheckpointLoaderOptions o;
  o.num_shards = options_.num_shards;
  // Built without a budget; Load charges the whole checkpoint at once.
  o.sparse = SparseOptions();
  o.sparse.budget = nullptr;
  o.compressed = CompressedOptions(0);
  o.compressed.budget = nullptr;
  o.dense = DenseOptions();
  o.dense.budget = nullptr;
  return o;
}

absl::StatusOr<std::vector<FieldStats>> TableStore::Compress(
    absl::string_view name, const SaecConfig& config, int num_threads,
    const FieldCentroidMap& centroids) {
  STRATA_RETURN_IF_ERROR(NormalizeSaecConfig(config).status());
  if (name.empty() && !centroids.empty()) {
    return absl::InvalidArgumentError(
        "a cluster-wide compress (centroids) names its table");
  }
  absl::MutexLock io(&io_mu_);  // not concurrently with checkpoint/load
  std::vector<std::pair<std::string, std::shared_ptr<SparseTable>>> todo;
  std::vector<std::pair<std::string, std::shared_ptr<CompressedTable>>> fold;
  {
    absl::ReaderMutexLock lock(&mu_);
    for (const auto& [n, entry] : tables_) {
      if (!name.empty() && n != name) continue;
      if (!name.empty() && entry.dense != nullptr) {
        return absl::FailedPreconditionError(
            absl::StrCat("table ", n, " is a dense tensor"));
      }
      if (entry.sparse != nullptr) todo.emplace_back(n, entry.sparse);
      if (entry.compressed != nullptr) fold.emplace_back(n, entry.compressed);
    }
  }
  if (!name.empty() && todo.empty() && fold.empty()) {
    return absl::NotFoundError(absl::StrCat("no sparse table named ", name));
  }
  std::sort(todo.begin(), todo.end());
  std::sort(fold.begin(), fold.end());
  // Every table is compressed before any is swapped in, so that a refused
  // Compress changes nothing.
  std::vector<std::unique_ptr<CompressedTable>> built(todo.size());
  std::vector<FieldStats> stats;
  for (size_t i = 0; i < todo.size(); ++i) {
    const auto& [n, plain] = todo[i];
    if (plain->rows() == 0) continue;  // nothing to cluster yet
    auto ct = CompressedTable::Compress(
        *plain, config, CompressedOptions(num_threads), centroids);
    if (!ct.ok()) {
      return internal::WithContext(ct.status(),
                                   absl::StrCat("compressing table ", n));
    }
    for (FieldStats& f : (*ct)->Stats()) stats.push_back(std::move(f));
    built[i] = *std::move(ct);
  }
  {
    absl::MutexLock lock(&mu_);
    for (size_t i = 0; i < todo.size(); ++i) {
      auto it = tables_.find(todo[i].first);
      if (built[i] != nullptr && it != tables_.end() &&
          it->second.sparse == todo[i].second) {
        it->second.sparse = nullptr;
        it->second.compressed = std::move(built[i]);
      }
    }
  }
  for (const auto& [n, table] : fold) {
    auto folded = table->Fold(num_threads, centroids);
    if (!folded.ok()) {
      return internal::WithContext(folded.status(),
                                   absl::StrCat("folding table ", n));
    }
    for (FieldStats& f : *folded) stats.push_back(std::move(f));
  }
  return stats;
}

absl::StatusOr<std::vector<FieldStats>> TableStore::Stats(
    absl::string_view name) const {
  std::vector<std::pair<std::string, std::shared_ptr<CompressedTable>>> tables;
  {
    absl::ReaderMutexLock lock(&mu_);
    for (const auto& [n, entry] : tables_) {
      if (!name.empty() && n != name) continue;
      if (entry.compressed != nullptr) tables.emplace_back(n, entry.compressed);
    }
    if (!name.empty() && !tables_.contains(name)) {
      return absl::NotFoundError(absl::StrCat("no table named ", name));
    }
  }
  std::sort(tables.begin(), tables.end());
  std::vector<FieldStats> out;
  for (const auto& [n, t] : tables) {
    for (FieldStats& f : t->Stats()) out.push_back(std::move(f));
  }
  return out;
}

absl::StatusOr<std::shared_ptr<DenseTable>> TableStore::GetDense(
    absl::string_view name) const {
  absl::ReaderMutexLock lock(&mu_);
  const auto it = tables_.find(name);
  if (it == tables_.end()) {
    return absl::NotFoundError(absl::StrCat("no dense tensor named ", name));
  }
  if (it->second.dense == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat(name, " is a sparse table, not a dense tensor"));
  }
  return it->second.dense;
}

absl::StatusOr<DenseStepReset> TableStore::ResetDenseSteps(
    absl::string_view prefix) {
  STRATA_RETURN_IF_ERROR(CheckName("dense tensor name prefix", prefix));
  std::vector<std::shared_ptr<DenseTable>> matched;
  {
    absl::ReaderMutexLock lock(&mu_);
    for (const auto& [name, entry] : tables_) {
      const std::shared_ptr<DenseTable>& t = entry.dense;
      if (t != nullptr && t->config().sync() == BSP &&
          absl::StartsWith(name, prefix)) {
        matched.push_back(t);
      }
    }
  }
  DenseStepReset out;
  for (const std::shared_ptr<DenseTable>& t : matched) {
    ++out.tensors;
    out.reset += t->ResetStep();
  }
  return out;
}

DenseTable::ResyncCounters TableStore::DenseResyncCounters() const {
  std::vector<std::shared_ptr<DenseTable>> dense;
  {
    absl::ReaderMutexLock lock(&mu_);
    for (const auto& [name, entry] : tables_) {
      if (entry.dense != nullptr) dense.push_back(entry.dense);
    }
  }
  DenseTable::ResyncCounters sum;
  for (const std::shared_ptr<DenseTable>& t : dense) {
    const DenseTable::ResyncCounters c = t->resync_counters();
    sum.steps_skipped += c.steps_skipped;
    sum.pushes_dropped += c.pushes_dropped;
  }
  return sum;
}

std::vector<TableSummary> TableStore::List() const {
  std::vector<std::pair<std::string, ShardTable>> entries;
  {
    absl::ReaderMutexLock lock(&mu_);
    entries.assign(tables_.begin(), tables_.end());
  }
  std::sort(entries.begin(), entries.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<TableSummary> out;
  out.reserve(entries.size());
  for (const auto& [name, entry] : entries) {
    TableSummary s;
    s.name = name;
    if (entry.sparse != nullptr) {
      const SparseTable& t = *entry.sparse;
      s.kind = TableKind::kSparse;
      s.dim = t.dim();
      s.rows = t.rows();
      s.bytes = t.MemoryBytes();
      s.optimizer = t.config().optimizer().type();
      s.sparse_config = t.config();
    } else if (entry.compressed != nullptr) {
      const CompressedTable& t = *entry.compressed;
      s.kind = TableKind::kSparse;
      s.compressed = true;
      s.cluster_wide = t.cluster_wide();
      s.cluster_gradient = t.saec_config().cluster_gradient();
      s.dim = t.dim();
      s.rows = t.rows();
      s.bytes = t.MemoryBytes();
      s.optimizer = t.config().optimizer().type();
      s.sparse_config = t.config();
    } else {
      const DenseTable& t = *entry.dense;
      s.kind = TableKind::kDense;
      s.rows = 1;
      s.size = t.size();
      s.bytes = t.MemoryBytes();
      s.optimizer = t.config().optimizer().type();
      s.sync = t.config().sync();
      s.step = t.step();
      s.dense_config = t.config();
    }
    out.push_back(std::move(s));
  }
  return out;
}

uint64_t TableStore::loaded_checkpoint_id() const {
  return loaded_checkpoint_id_.load();
}

void TableStore::List(ListTablesResponse* out) const {
  out->Clear();
  out->set_shard_id(options_.shard_id);
  out->set_num_shards(options_.num_shards);
  UpdatesLost* lost = out->mutable_updates_lost();
  if (std::optional<uint64_t> n = updates_.lost_at_start(); n.has_value()) {
    lost->set_at_start(*n);
  }
  lost->set_loaded_checkpoint_id(loaded_checkpoint_id());
  const DenseTable::ResyncCounters resync = DenseResyncCounters();
  lost->set_bsp_steps_skipped(resync.steps_skipped);
  lost->set_bsp_pushes_dropped(resync.pushes_dropped);
  for (TableSummary& s : List()) {
    TableInfo* info = out->add_tables();
    info->set_name(s.name);
    info->set_kind(s.kind == TableKind::kSparse ? TableInfo::SPARSE
                                                : TableInfo::DENSE);
    info->set_dim(s.dim);
    info->set_rows(s.rows);
    info->set_size(s.size);
    info->set_bytes(s.bytes);
    info->set_optimizer(s.optimizer);
    info->set_sync(s.sync);
    info->set_step(s.step);
    info->set_compressed(s.compressed);
    info->set_cluster_wide(s.cluster_wide);
    info->set_cluster_gradient(s.cluster_gradient);
    if (s.kind == TableKind::kSparse) {
      *info->mutable_sparse_config() = std::move(s.sparse_config);
    } else {
      *info->mutable_dense_config() = std::move(s.dense_config);
    }
  }
}

absl::StatusOr<CheckpointInfo> TableStore::Checkpoint(const std::string& dir,
                                                      uint64_t checkpoint_id) {
  absl::MutexLock io(&io_mu_);
  if (checkpoint_id == 0) {
    checkpoint_id =
        static_cast<uint64_t>(absl::ToUnixMillis(options_.clock->Now()));
  }
  STRATA_RETURN_IF_ERROR(ledger_.CheckWritable(checkpoint_id));
  const uint64_t cut = updates_.applied();
  // Hold references so Drop during the write is safe; write in name order.
  std::vector<std::pair<std::string, ShardTable>> entries;
  {
    absl::ReaderMutexLock lock(&mu_);
    entries.assign(tables_.begin(), tables_.end());
  }
  std::sort(entries.begin(), entries.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<const SparseTable*> sparse;
  std::vector<const DenseTable*> dense;
  std::vector<const CompressedTable*> compressed;
  for (const auto& [name, entry] : entries) {
    if (entry.sparse != nullptr) sparse.push_back(entry.sparse.get());
    if (entry.dense != nullptr) dense.push_back(entry.dense.get());
    if (entry.compressed != nullptr) {
      compressed.push_back(entry.compressed.get());
    }
  }
  Env* env = options_.env;
  const std::string ckpt_dir = JoinPath(dir, CheckpointDirName(checkpoint_id));
  STRATA_RETURN_IF_ERROR(env->CreateDir(ckpt_dir));
  const std::string path =
      JoinPath(ckpt_dir, ShardFileName(options_.shard_id, options_.num_shards));
  ShardFileHeader header;
  header.shard_id = options_.shard_id;
  header.num_shards = options_.num_shards;
  header.checkpoint_id = checkpoint_id;
  STRATA_ASSIGN_OR_RETURN(
      const ShardFileStats stats,
      WriteShardFile(env, path, header, sparse, dense,
                     options_.checkpoint_buffer_bytes, compressed, &dedup_));
  // The checkpoint directory itself may be new: make its entry durable.
  STRATA_RETURN_IF_ERROR(env->SyncDir(dir));
  CheckpointInfo info;
  info.checkpoint_id = checkpoint_id;
  info.path = path;
  info.bytes = stats.bytes;
  info.rows = stats.rows;
  info.push_windows = stats.push_windows;
  updates_.RecordCut(checkpoint_id, cut);
  if (absl::Status s = updates_.Persist(); !s.ok()) {
    // The checkpoint is fine; a restart from it cannot tell what it lost.
    LOG(WARNING) << "recording the update count of checkpoint " << checkpoint_id
                 << ": " << s;
  }
  // Logged and counted by the ledger; the checkpoint itself succeeded.
  absl::StatusOr<std::vector<uint64_t>> pruned =
      ledger_.Prune(env, dir, checkpoint_id);
  if (pruned.ok()) info.pruned = *std::move(pruned);
  return info;
}

absl::Status TableStore::ChargeLoaded(uint64_t checkpoint_id,
                                      ShardTables& tables) {
  if (tables.size() > options_.max_tables) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "checkpoint ", checkpoint_id, " holds ", tables.size(),
        " tables and dense tensors for shard ", options_.shard_id,
        ", more than its limit of ", options_.max_tables, " (--max_tables)"));
  }
  uint64_t bytes = 0;
  for (const auto& [name, entry] : tables) bytes += BudgetBytes(entry);
  STRATA_RETURN_IF_ERROR(
      budget_.Charge(bytes, absl::StrCat("checkpoint ", checkpoint_id)));
  for (const auto& [name, entry] : tables) AdoptBudget(entry, &budget_);
  return absl::OkStatus();
}

absl::StatusOr<LoadInfo> TableStore::Load(const std::string& dir,
                                          uint64_t checkpoint_id) {
  absl::MutexLock io(&io_mu_);
  STRATA_ASSIGN_OR_RETURN(
      LoadedCheckpoint loaded,
      LoadCheckpoint(options_.env, dir, checkpoint_id, LoaderOptions()));
  return Install(std::move(loaded));
}

absl::StatusOr<LoadInfo> TableStore::Install(LoadedCheckpoint loaded) {
  STRATA_RETURN_IF_ERROR(
      ChargeLoaded(loaded.info.checkpoint_id, loaded.tables));
  // Windows first: a push racing the swap is then recorded with the new
  // windows and lost with the old tables, rather than applied to the new
  // tables under a forgotten id (which a retry would apply again).
  dedup_.Restore(loaded.push_windows);
  ShardTables old;
  {
    absl::MutexLock lock(&mu_);
    old = std::exchange(tables_, std::move(loaded.tables));
  }
  CancelDense(old);
  ledger_.RecordLoaded(loaded.info.checkpoint_id);
  loaded_checkpoint_id_.store(loaded.info.checkpoint_id);
  return loaded.info;
}

absl::StatusOr<FallbackLoadInfo> TableStore::LoadNewestLoadable(
    const std::string& dir) {
  absl::MutexLock io(&io_mu_);
  FallbackLoadInfo out;
  absl::StatusOr<std::vector<CheckpointEntry>> entries =
      ListCheckpoints(options_.env, dir);
  if (absl::IsNotFound(entries.status())) return out;  // no directory yet
  STRATA_RETURN_IF_ERROR(entries.status());
  for (const CheckpointEntry& e : *entries) {
    if (absl::IsNotFound(e.files.status())) continue;  // incomplete
    absl::StatusOr<LoadedCheckpoint> loaded =
        e.files.ok() ? LoadCheckpoint(options_.env, dir, e.checkpoint_id,
                                      LoaderOptions())
                     : e.files.status();
    // One that does not fit the memory budget is skipped like a corrupt one.
    absl::StatusOr<LoadInfo> installed =
        loaded.ok() ? Install(*std::move(loaded)) : loaded.status();
    if (installed.ok()) {
      out.loaded = *std::move(installed);
      return out;
    }
    ledger_.RecordUnloadable(e.checkpoint_id);
    out.skipped.push_back({e.checkpoint_id, installed.status()});
  }
  return out;
}

}  // namespace strata
