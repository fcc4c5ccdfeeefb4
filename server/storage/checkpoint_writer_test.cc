#include "server/storage/checkpoint_writer.h"

#include <limits>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "server/storage/checkpoint_reader.h"
#include "server/storage/internal/checkpoint_testing.h"
#include "server/util/env_testing.h"

namespace strata {
namespace {

using internal::CompressedWithState;
using internal::ReadRaw;
using internal::Recorder;
using CheckpointWriterTest = internal::CheckpointFileTest;

TEST_F(CheckpointWriterTest, RoundTripsRowsStateAndDenseTensors) {
  absl::StatusOr<ShardFileStats> stats = Write(DefaultEnv());
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->rows, 3u);
  EXPECT_EQ(stats->sparse_tables, 1u);
  EXPECT_EQ(stats->dense_tensors, 1u);
  EXPECT_EQ(stats->bytes, ReadRaw(path_).size());
  EXPECT_EQ(DefaultEnv()->FileExists(path_ + ".tmp").code(),
            absl::StatusCode::kNotFound);

  Recorder r;
  ASSERT_TRUE(ReadShardFile(DefaultEnv(), path_, header_, &r).ok());
  ASSERT_EQ(r.tables.size(), 1u);
  EXPECT_EQ(r.tables[0].SerializeAsString(),
            sparse_->config().SerializeAsString());
  ASSERT_EQ(r.rows.size(), 3u);
  sparse_->ForEachRow([&](uint64_t key, const float* v, const float* s,
                          int64_t step, uint64_t freq) {
    const Recorder::Row& row = r.rows.at(key);
    EXPECT_EQ(row.values, std::vector<float>(v, v + 3));
    EXPECT_EQ(row.state, std::vector<float>(s, s + 6));
    EXPECT_EQ(row.step, step);
    EXPECT_EQ(row.freq, freq);
  });
  EXPECT_EQ(r.rows.at(1).step, 2);
  EXPECT_EQ(r.rows.at(3).freq, 2u);
  ASSERT_EQ(r.dense.size(), 1u);
  EXPECT_EQ(r.dense[0].name(), "dense");
  EXPECT_EQ(r.dense_steps[0], 1);
  dense_->Visit(
      [&](absl::Span<const float> v, absl::Span<const float> s, int64_t) {
        EXPECT_EQ(r.dense_values[0], std::vector<float>(v.begin(), v.end()));
        EXPECT_EQ(r.dense_state[0], std::vector<float>(s.begin(), s.end()));
      });
}

TEST_F(CheckpointWriterTest, StreamsLargeTablesThroughASmallBuffer) {
  std::vector<uint64_t> keys(20000);
  for (uint64_t k = 0; k < keys.size(); ++k) keys[k] = k * 31 + 1000;
  ASSERT_TRUE(sparse_->Push(keys, std::vector<float>(keys.size() * 3, 1)).ok());
  absl::StatusOr<ShardFileStats> stats = Write(DefaultEnv(), 4096);
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->rows, 20003u);
  Recorder r;
  ASSERT_TRUE(ReadShardFile(DefaultEnv(), path_, header_, &r).ok());
  EXPECT_EQ(r.rows.size(), 20003u);
}

TEST_F(CheckpointWriterTest, FailedWriteLeavesNoFileBehind) {
  FaultInjectionEnv env(DefaultEnv());
  env.FailWritesAfter(100);
  const absl::Status s = Write(&env).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(s.message().find("writing checkpoint " + path_), std::string::npos)
      << s;
  EXPECT_EQ(env.FileExists(path_).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(env.FileExists(path_ + ".tmp").code(), absl::StatusCode::kNotFound);
}

TEST_F(CheckpointWriterTest, CrashDuringWriteLeavesOnlyThePartialTempFile) {
  FaultInjectionEnv env(DefaultEnv());
  ASSERT_TRUE(Write(&env).ok());
  const std::string good = ReadRaw(path_);
  ASSERT_TRUE(sparse_->Push({99}, {1, 1, 1}).ok());
  env.CrashAfter(100);
  EXPECT_EQ(Write(&env).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(ReadRaw(path_), good) << "the previous file is untouched";
  EXPECT_EQ(ReadRaw(path_ + ".tmp").size(), 100u);
}

TEST_F(CheckpointWriterTest, SyncOrRenameFailureIsReported) {
  FaultInjectionEnv env(DefaultEnv());
  env.FailSync(true);
  EXPECT_EQ(Write(&env).status().code(), absl::StatusCode::kInternal);
  EXPECT_EQ(env.FileExists(path_).code(), absl::StatusCode::kNotFound);
  env.Reset();
  env.FailRename(true);
  EXPECT_EQ(Write(&env).status().code(), absl::StatusCode::kInternal);
  EXPECT_EQ(env.FileExists(path_).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(env.FileExists(path_ + ".tmp").code(), absl::StatusCode::kNotFound);
}

TEST_F(CheckpointWriterTest,
       RefusesWhatTheLoaderWouldRejectAndKeepsTheOldFile) {
  ASSERT_TRUE(Write(DefaultEnv()).ok());
  const std::string good = ReadRaw(path_);
  // No push can make a row non-finite (optimizers saturate), but restored
  // compressed state is not checked by the table: the writer is the guard.
  auto bad = CompressedWithState(std::numeric_limits<float>::infinity());
  ASSERT_NE(bad, nullptr);
  const CompressedTable* c = bad.get();
  const absl::Status s =
      WriteShardFile(DefaultEnv(), path_, header_, {}, {}, 4096, {&c, 1})
          .status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("refusing to checkpoint compressed table emb, "
                             "field 1: optimizer state float 4 is not finite"),
            std::string::npos)
      << s;
  EXPECT_NE(s.message().find(path_), std::string::npos) << s;
  EXPECT_EQ(ReadRaw(path_), good) << "the previous file is untouched";
  EXPECT_EQ(DefaultEnv()->FileExists(path_ + ".tmp").code(),
            absl::StatusCode::kNotFound);

  auto fine = CompressedWithState(0.25f);
  c = fine.get();
  EXPECT_TRUE(
      WriteShardFile(DefaultEnv(), path_, header_, {}, {}, 4096, {&c, 1}).ok());
}

}  // namespace
}  // namespace strata
