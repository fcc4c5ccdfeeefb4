// Loads a checkpoint into the tables of one shard: the reading half of
// TableStore::Load (docs/checkpoint.md, "Loading and resharding"). Reads
// every shard file of the checkpoint (checkpoint_filename.h,
// checkpoint_reader.h) and keeps what the router assigns to this shard, so
// the checkpoint may have been written by any number of shards.
#ifndef STRATA_SERVER_STORAGE_CHECKPOINT_LOADER_H_
#define STRATA_SERVER_STORAGE_CHECKPOINT_LOADER_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "server/storage/compressed_table.h"
#include "server/storage/dense_table.h"
#include "server/storage/push_dedup.h"
#include "server/storage/shard_tables.h"
#include "server/storage/sparse_table.h"
#include "server/util/env.h"

namespace strata {

struct LoadInfo {
  uint64_t checkpoint_id = 0;
  uint32_t written_by_num_shards = 0;
  uint64_t rows = 0;  // sparse rows now held by this shard
  uint32_t sparse_tables = 0;
  uint32_t dense_tensors = 0;  // dense tensors now held by this shard
  uint64_t push_windows = 0;   // clients whose push window was loaded
};

struct CheckpointLoaderOptions {
  // Shard count of the loading store. A checkpoint written by as many
  // shards restores compressed tables as they are; any other count expands
  // them into plain rows.
  uint32_t num_shards = 1;
  // For the sparse tables the loader creates. Its router and shard_id also
  // say what is kept: the rows and dense tensors the router assigns to
  // shard_id (everything with a null router, which needs num_shards 1).
  SparseTable::Options sparse;
  // For the compressed tables it restores; the same router and shard_id.
  CompressedTable::Options compressed;
  // For the dense tensors it creates.
  DenseTable::Options dense;
};

struct LoadedCheckpoint {
  ShardTables tables;
  LoadInfo info;
  // The push windows of this shard's own file, when the checkpoint was
  // written by as many shards as load it (push sequences count per shard,
  // so another layout's windows mean nothing here); else none.
  std::vector<PushWindowState> push_windows;
};

// Builds the tables of checkpoint `checkpoint_id` (0: the newest complete
// one) in `dir` for the shard of `options`. Every sparse table of the
// checkpoint is created, even if none of its rows route here. A compressed
// table loaded into another shard count becomes a plain table whose rows
// hold their cluster's centroid and optimizer state (frequency 0).
// NOT_FOUND / FAILED_PRECONDITION as FindCheckpoint; DATA_LOSS (naming the
// file) for corrupt files, files that disagree about a table's config, a
// table or tensor present twice, or rows the tables reject; the env's
// errors. Peak memory: the new tables and one file. Thread-safe as far as
// `env` is; the result belongs to the caller.
absl::StatusOr<LoadedCheckpoint> LoadCheckpoint(
    Env* env, const std::string& dir, uint64_t checkpoint_id,
    const CheckpointLoaderOptions& options);

}  // namespace strata

#endif  // STRATA_SERVER_STORAGE_CHECKPOINT_LOADER_H_
