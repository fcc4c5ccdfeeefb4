// Reads and verifies one checkpoint shard file (format:
// checkpoint_format.h), handing its contents to a CheckpointVisitor.
#ifndef STRATA_SERVER_STORAGE_CHECKPOINT_READER_H_
#define STRATA_SERVER_STORAGE_CHECKPOINT_READER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "proto/ps.pb.h"
#include "server/storage/checkpoint_format.h"
#include "server/storage/compressed_table.h"
#include "server/storage/push_dedup.h"
#include "server/util/env.h"

namespace strata {

// Receives the contents of a shard file, in file order. A non-OK return
// stops reading and is returned (prefixed with the file name). Called from
// the thread that runs ReadShardFile.
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
  // The growth of compressed table `table` (section 0x06, version 3), right
  // after its OnCompressedTable. Readers that do not handle it fail.
  virtual absl::Status OnCompressedGrowth(const std::string& table,
                                          CompressedGrowth growth) {
    return absl::FailedPreconditionError(absl::StrCat(
        "growth of compressed table ", table, " is not supported here"));
  }
  // The push windows of the shard that wrote the file (version 2; at most
  // once per file). Ignored unless a reader needs them.
  virtual absl::Status OnPushWindows(std::vector<PushWindowState> windows) {
    return absl::OkStatus();
  }
};

// Reads and verifies a whole shard file (the CRC is checked before anything
// is passed to `visitor`). DATA_LOSS naming the file for a bad magic, a CRC
// mismatch, truncation, trailing bytes, an unparsable config or a header
// that does not match `expected`; FAILED_PRECONDITION for a format version
// outside [kOldestCheckpointFormatVersion, kCheckpointFormatVersion]; the env's
// error if the file cannot be read. The whole file is held in memory while it
// is read.
absl::Status ReadShardFile(Env* env, const std::string& path,
                           const ShardFileHeader& expected,
                           CheckpointVisitor* visitor);

}  // namespace strata

#endif  // STRATA_SERVER_STORAGE_CHECKPOINT_READER_H_
