// Test helpers shared by the checkpoint tests: a per-test directory, raw
// file access, small table configs and a visitor that records a file.
#ifndef STRATA_SERVER_STORAGE_INTERNAL_CHECKPOINT_TESTING_H_
#define STRATA_SERVER_STORAGE_INTERNAL_CHECKPOINT_TESTING_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "compression/key_index.h"
#include "gtest/gtest.h"
#include "proto/ps.pb.h"
#include "server/storage/checkpoint_reader.h"
#include "server/storage/checkpoint_writer.h"
#include "server/storage/compressed_table.h"
#include "server/storage/dense_table.h"
#include "server/storage/sparse_table.h"
#include "server/util/env.h"

namespace strata {
namespace internal {

// A fresh directory under the test temp dir, named after the running test.
std::string CheckpointTestDir();

// Replaces `path` with `data` / reads it whole ("" on error, with a test
// failure).
void WriteRaw(const std::string& path, const std::string& data);
std::string ReadRaw(const std::string& path);

// Sparse table "emb" (NORMAL init, learning rate 0.1) and dense tensor
// "dense" (Adagrad).
TableConfig SparseConfig(uint32_t dim, OptimizerConfig::Type opt);
DenseConfig DenseCfg(uint64_t size);

// A 3-dim Adagrad compressed table "emb" with one field (1) of two
// clusters (centroids {1, 2, 3} and {4, 5, 6}, keys 1 << 56 | {1, 2});
// optimizer state float 4 (cluster 1, column 1) is `state4`, the others 0.1.
// CompressedTable::Restore does not check state, so it may be non-finite.
// `layout` is the field's key index (kMph: 8 fingerprint bits; written as
// section 0x05).
std::unique_ptr<CompressedTable> CompressedWithState(
    float state4,
    compression::IndexLayout layout = compression::IndexLayout::kCompact);

// Records everything a file contains. Not thread-safe.
struct Recorder : CheckpointVisitor {
  struct Row {
    uint64_t freq;
    int64_t step;
    std::vector<float> values, state;
  };
  std::vector<TableConfig> tables;
  std::map<uint64_t, Row> rows;
  std::vector<DenseConfig> dense;
  std::vector<std::vector<float>> dense_values, dense_state;
  std::vector<int64_t> dense_steps;
  std::vector<PushWindowState> push_windows;
  int push_window_sections = 0;

  absl::Status OnSparseTable(const TableConfig& config) override;
  absl::Status OnSparseRow(uint64_t key, uint64_t frequency, int64_t step,
                           absl::Span<const float> values,
                           absl::Span<const float> state) override;
  absl::Status OnDenseTensor(const DenseConfig& config, int64_t step,
                             absl::Span<const float> values,
                             absl::Span<const float> state) override;
  absl::Status OnPushWindows(std::vector<PushWindowState> windows) override;
};

// One shard file (shard 0 of 1, checkpoint 42) holding a 3-dim Adam sparse
// table with rows 1, 2 and 3 and a 5-element dense tensor, and with
// Write(env, buffer, &dedup) a dedup's push windows.
class CheckpointFileTest : public ::testing::Test {
 protected:
  void SetUp() override;
  absl::StatusOr<ShardFileStats> Write(Env* env, size_t buffer = 1 << 20,
                                       PushDedup* dedup = nullptr);

  std::string dir_, path_;
  ShardFileHeader header_;
  std::unique_ptr<SparseTable> sparse_;
  std::unique_ptr<DenseTable> dense_;
};

}  // namespace internal
}  // namespace strata

#endif  // STRATA_SERVER_STORAGE_INTERNAL_CHECKPOINT_TESTING_H_
