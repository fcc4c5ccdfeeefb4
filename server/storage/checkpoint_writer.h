// Writes one checkpoint shard file (format: checkpoint_format.h; names:
// checkpoint_filename.h).
#ifndef STRATA_SERVER_STORAGE_CHECKPOINT_WRITER_H_
#define STRATA_SERVER_STORAGE_CHECKPOINT_WRITER_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "server/storage/checkpoint_format.h"
#include "server/storage/compressed_table.h"
#include "server/storage/dense_table.h"
#include "server/storage/push_dedup.h"
#include "server/storage/sparse_table.h"
#include "server/util/env.h"

namespace strata {

struct ShardFileStats {
  uint64_t bytes = 0;  // file size
  uint64_t rows = 0;   // sparse rows written (compressed: indexed features)
  uint32_t sparse_tables = 0;  // plain and compressed
  uint32_t dense_tensors = 0;
  uint64_t push_windows = 0;  // clients whose push window was written
};

// Writes one shard file atomically: "<path>.tmp", fsync, close, rename to
// `path`, fsync of the parent directory. On failure the temp file is deleted
// (best effort) and `path` is untouched; the error names the path.
// It never writes what the loader would refuse: a non-finite value or
// optimizer state float (sparse row, dense tensor, compressed centroid,
// fallback or cluster state) fails the write with FAILED_PRECONDITION naming
// the table and the key (tensor, field). Tables
// are written in the given order while they stay live: each row (and each
// dense tensor) is read under its stripe's (tensor's) lock, so rows are
// self-consistent, but concurrent writers are not frozen. `buffer_bytes`
// bounds the write buffer. With `dedup`, its windows (PushDedup::Snapshot,
// taken after the tables are written) follow the tables, when there are
// any. The tables and `dedup` are borrowed for the call; concurrent calls
// must write different paths.
absl::StatusOr<ShardFileStats> WriteShardFile(
    Env* env, const std::string& path, const ShardFileHeader& header,
    absl::Span<const SparseTable* const> sparse,
    absl::Span<const DenseTable* const> dense, size_t buffer_bytes,
    absl::Span<const CompressedTable* const> compressed = {},
    PushDedup* dedup = nullptr);

}  // namespace strata

#endif  // STRATA_SERVER_STORAGE_CHECKPOINT_WRITER_H_
