#include "server/storage/checkpoint_retention.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/storage/checkpoint_filename.h"
#include "server/storage/internal/checkpoint_testing.h"
#include "server/util/env_testing.h"

namespace strata {
namespace {

using internal::WriteRaw;
using ::testing::ElementsAre;

class RetentionTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = internal::CheckpointTestDir(); }

  std::string CkptDir(uint64_t id) const {
    return JoinPath(dir_, CheckpointDirName(id));
  }
  void Touch(uint64_t id, const std::string& name) {
    ASSERT_TRUE(DefaultEnv()->CreateDir(CkptDir(id)).ok());
    WriteRaw(JoinPath(CkptDir(id), name), "");
  }
  // Every shard file of checkpoint `id` written by `n` shards.
  void Complete(uint64_t id, uint32_t n) {
    for (uint32_t i = 0; i < n; ++i) Touch(id, ShardFileName(i, n));
  }
  bool Exists(uint64_t id, const std::string& name) const {
    return DefaultEnv()->FileExists(JoinPath(CkptDir(id), name)).ok();
  }
  bool DirExists(uint64_t id) const {
    return DefaultEnv()->FileExists(CkptDir(id)).ok();
  }

  std::string dir_;
};

RetentionOptions Keep(uint32_t keep, uint32_t shard, uint32_t num_shards) {
  return RetentionOptions{keep, shard, num_shards};
}

TEST_F(RetentionTest, DeletesOwnFilesOfCheckpointsOlderThanTheNewestKept) {
  for (uint64_t id = 1; id <= 6; ++id) Complete(id, 2);
  Touch(2, ShardFileName(0, 2) + ".tmp");  // leftover of a crashed write
  Touch(7, ShardFileName(1, 2));           // being written: incomplete
  auto pruned = PruneCheckpoints(DefaultEnv(), dir_, Keep(2, 0, 2), {});
  ASSERT_TRUE(pruned.ok()) << pruned.status();
  EXPECT_THAT(*pruned, ElementsAre(1, 2, 3, 4));
  for (uint64_t id = 1; id <= 4; ++id) {
    EXPECT_FALSE(Exists(id, ShardFileName(0, 2))) << id;
    EXPECT_TRUE(Exists(id, ShardFileName(1, 2))) << "shard 1's file " << id;
  }
  EXPECT_FALSE(Exists(2, ShardFileName(0, 2) + ".tmp"));
  for (uint64_t id : {5, 6}) {
    EXPECT_TRUE(Exists(id, ShardFileName(0, 2)));
    EXPECT_TRUE(Exists(id, ShardFileName(1, 2)));
  }
  EXPECT_TRUE(Exists(7, ShardFileName(1, 2)));

  // Shard 1's pass empties the old directories, which then go too.
  pruned = PruneCheckpoints(DefaultEnv(), dir_, Keep(2, 1, 2), {});
  ASSERT_TRUE(pruned.ok()) << pruned.status();
  EXPECT_THAT(*pruned, ElementsAre(1, 2, 3, 4));
  for (uint64_t id = 1; id <= 4; ++id) EXPECT_FALSE(DirExists(id)) << id;
  auto left = ListCheckpoints(DefaultEnv(), dir_);
  ASSERT_TRUE(left.ok());
  ASSERT_EQ(left->size(), 3u);  // 7 (incomplete), 6, 5
  EXPECT_TRUE((*left)[1].files.ok());
  EXPECT_TRUE((*left)[2].files.ok());
}

TEST_F(RetentionTest, ProtectedCheckpointsAreNeverTouched) {
  for (uint64_t id = 1; id <= 4; ++id) Complete(id, 1);
  auto pruned = PruneCheckpoints(DefaultEnv(), dir_, Keep(1, 0, 1), {2});
  ASSERT_TRUE(pruned.ok()) << pruned.status();
  EXPECT_THAT(*pruned, ElementsAre(1, 3));
  EXPECT_TRUE(Exists(2, ShardFileName(0, 1)));
  EXPECT_TRUE(Exists(4, ShardFileName(0, 1)));
  EXPECT_FALSE(DirExists(1));
  EXPECT_FALSE(DirExists(3));
}

TEST_F(RetentionTest, IncompleteCheckpointsDoNotCountTowardsKeep) {
  Complete(1, 2);
  Complete(2, 2);
  Touch(3, ShardFileName(0, 2));  // shard 1 failed to write 3
  Touch(4, ShardFileName(0, 2));
  auto pruned = PruneCheckpoints(DefaultEnv(), dir_, Keep(2, 0, 2), {});
  ASSERT_TRUE(pruned.ok()) << pruned.status();
  EXPECT_TRUE(pruned->empty()) << "1 and 2 are the two newest complete";
  pruned = PruneCheckpoints(DefaultEnv(), dir_, Keep(1, 0, 2), {});
  ASSERT_TRUE(pruned.ok()) << pruned.status();
  EXPECT_THAT(*pruned, ElementsAre(1));
  EXPECT_TRUE(Exists(3, ShardFileName(0, 2))) << "newer than the kept one";
}

TEST_F(RetentionTest, FilesOfAnotherShardCountAreSplitAmongTheShards) {
  Complete(1, 3);  // written before resharding 3 -> 2
  Complete(2, 2);
  auto pruned = PruneCheckpoints(DefaultEnv(), dir_, Keep(1, 0, 2), {});
  ASSERT_TRUE(pruned.ok()) << pruned.status();
  EXPECT_THAT(*pruned, ElementsAre(1));
  EXPECT_FALSE(Exists(1, ShardFileName(0, 3)));
  EXPECT_TRUE(Exists(1, ShardFileName(1, 3))) << "1 % 2 == 1: shard 1's";
  EXPECT_FALSE(Exists(1, ShardFileName(2, 3)));
  ASSERT_TRUE(PruneCheckpoints(DefaultEnv(), dir_, Keep(1, 1, 2), {}).ok());
  EXPECT_FALSE(DirExists(1));
  EXPECT_TRUE(Exists(2, ShardFileName(0, 2)));
}

TEST_F(RetentionTest, KeepZeroOrTooFewCompleteCheckpointsDeleteNothing) {
  for (uint64_t id = 1; id <= 3; ++id) Complete(id, 1);
  auto pruned = PruneCheckpoints(DefaultEnv(), dir_, Keep(0, 0, 1), {});
  ASSERT_TRUE(pruned.ok());
  EXPECT_TRUE(pruned->empty());
  pruned = PruneCheckpoints(DefaultEnv(), dir_, Keep(3, 0, 1), {});
  ASSERT_TRUE(pruned.ok());
  EXPECT_TRUE(pruned->empty());
  for (uint64_t id = 1; id <= 3; ++id) EXPECT_TRUE(DirExists(id));
  EXPECT_EQ(PruneCheckpoints(DefaultEnv(), JoinPath(dir_, "missing"),
                             Keep(1, 0, 1), {})
                .status()
                .code(),
            absl::StatusCode::kNotFound);
}

TEST_F(RetentionTest, AFailedDeletionIsReportedAndNothingElseBreaks) {
  for (uint64_t id = 1; id <= 3; ++id) Complete(id, 1);
  FaultInjectionEnv env(DefaultEnv());
  env.Crash();  // every deletion fails
  const absl::Status s =
      PruneCheckpoints(&env, dir_, Keep(1, 0, 1), {}).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  for (uint64_t id = 1; id <= 3; ++id) {
    EXPECT_TRUE(Exists(id, ShardFileName(0, 1))) << id;
  }
}

TEST_F(RetentionTest, LedgerProtectsTheLoadedAndTheUnloadableCheckpoints) {
  for (uint64_t id = 1; id <= 6; ++id) Complete(id, 1);
  CheckpointLedger ledger(Keep(1, 0, 1));
  ledger.RecordUnloadable(5);
  ledger.RecordLoaded(2);
  EXPECT_TRUE(ledger.CheckWritable(6).ok());
  const absl::Status refused = ledger.CheckWritable(5);
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.message().find("checkpoint 5 could not be loaded"),
            std::string::npos)
      << refused;

  auto pruned = ledger.Prune(DefaultEnv(), dir_);
  ASSERT_TRUE(pruned.ok()) << pruned.status();
  EXPECT_THAT(*pruned, ElementsAre(1, 3, 4));
  EXPECT_TRUE(DirExists(2));
  EXPECT_TRUE(DirExists(5));
  EXPECT_TRUE(DirExists(6));

  FaultInjectionEnv env(DefaultEnv());
  Complete(7, 1);
  env.Crash();
  EXPECT_FALSE(ledger.Prune(&env, dir_).ok());
  const CheckpointLedger::Counters c = ledger.counters();
  EXPECT_EQ(c.loaded_checkpoint_id, 2u);
  EXPECT_EQ(c.load_fallbacks, 1u);
  EXPECT_EQ(c.pruned, 3u);
  EXPECT_EQ(c.prune_errors, 1u);
}

}  // namespace
}  // namespace strata
