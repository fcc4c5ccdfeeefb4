// Checkpoint files: naming, discovery, and the binary shard-file format
// (specified byte by byte in docs/checkpoint.md).
//
// Layout on disk:
//   <dir>/ckpt-<checkpoint id, 20 digits>/shard-<i, 5 digits>-of-<N, 5
//   digits>.ckpt
// A checkpoint id is complete when shard-i-of-N exists for every i in [0, N).
// Files are written to "<file>.tmp" and renamed into place after an fsync, so
// a crash never leaves a truncated file under its final name; leftover .tmp
// files are ignored.
#ifndef STRATA_SERVER_STORAGE_CHECKPOINT_H_
#define STRATA_SERVER_STORAGE_CHECKPOINT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "proto/ps.pb.h"
#include "server/storage/dense_table.h"
#include "server/storage/compressed_table.h"
#include "server/storage/sparse_table.h"
#include "server/util/env.h"

namespace strata {

inline constexpr char kCheckpointMagic[] = "STRATACK";  // 8 bytes, no NUL
inline constexpr uint32_t kCheckpointFormatVersion = 1;

// "ckpt-00000000000000000042".
std::string CheckpointDirName(uint64_t checkpoint_id);
// "shard-00001-of-00003.ckpt".
std::string ShardFileName(uint32_t shard_id, uint32_t num_shards);

// The files of one complete checkpoint.
struct CheckpointFiles {
  uint64_t checkpoint_id = 0;
  uint32_t num_shards = 0;
  std::string dir;                 // <dir>/ckpt-<id>
  std::vector<std::string> paths;  // paths[i] is shard i's file
};

// Finds complete checkpoint `checkpoint_id` in `dir`, or the complete one with
// the largest id when checkpoint_id is 0. NOT_FOUND when there is none (or
// `dir` does not exist, or the requested id is incomplete, naming a missing
// file); FAILED_PRECONDITION when one id has complete sets for two different
// shard counts (ambiguous; an operator must remove one).
absl::StatusOr<CheckpointFiles> FindCheckpoint(Env* env, const std::string& dir,
                                               uint64_t checkpoint_id);

// Identifies one shard file; stored in its header and checked on reading.
struct ShardFileHeader {
  uint32_t shard_id = 0;
  uint32_t num_shards = 1;
  uint64_t checkpoint_id = 0;
};

struct ShardFileStats {
  uint64_t bytes = 0;  // file size
  uint64_t rows = 0;   // sparse rows written
  uint32_t sparse_tables = 0;
  uint32_t dense_tensors = 0;
};

// Writes one shard file atomically: "<path>.tmp", fsync, close, rename to
// `path`, fsync of the parent directory. On failure the temp file is deleted
// (best effort) and `path` is untouched. Tables are written in the given
// order while they stay live: each row (and each dense tensor) is read under
// its stripe's (tensor's) lock, so rows are self-consistent, but concurrent
// writers are not frozen. `buffer_bytes` bounds the write buffer.
absl::StatusOr<ShardFileStats> WriteShardFile(
    Env* env, const std::string& path, const ShardFileHeader& header,
    absl::Span<const SparseTable* const> sparse,
    absl::Span<const DenseTable* const> dense, size_t buffer_bytes,
    absl::Span<const CompressedTable* const> compressed = {});

// Receives the contents of a shard file, in file order. A non-OK return
// stops reading and is returned (prefixed with the file name).
class CheckpointVisitor {
 public:
  virtual ~CheckpointVisitor() = default;
  // Starts a sparse table; the OnSparseRow calls that follow belong to it.
  virtual absl::Status OnSparseTable(const TableConfig& config) = 0;
  virtual absl::Status OnSparseRow(uint64_t key, uint64_t frequency,
                                   int64_t step, absl::Span<const float> values,
                                   absl::Span<const float> state) = 0;
  virtual absl::Status OnDenseTensor(const DenseConfig& config, int64_t step,
                                     absl::Span<const float> values,
                                     absl::Span<const float> state) = 0;
  // A Saec-compressed table with all its fields (docs/checkpoint.md,
  // section 0x03). Readers that do not handle compressed tables fail.
  virtual absl::Status OnCompressedTable(
      const TableConfig& config, const SaecConfig& saec,
      std::vector<CompressedFieldState> fields) {
    return absl::FailedPreconditionError(absl::StrCat(
        "compressed table ", config.name(), " is not supported here"));
  }
};

// Reads and verifies a whole shard file (the CRC is checked before anything
// is passed to `visitor`). DATA_LOSS naming the file for a bad magic, a CRC
// mismatch, truncation, trailing bytes, an unparsable config or a header
// that does not match `expected`; FAILED_PRECONDITION for an unsupported
// format version; the env's error if the file cannot be read.
absl::Status ReadShardFile(Env* env, const std::string& path,
                           const ShardFileHeader& expected,
                           CheckpointVisitor* visitor);

}  // namespace strata

#endif  // STRATA_SERVER_STORAGE_CHECKPOINT_H_
