#include "server/storage/checkpoint_filename.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "server/storage/internal/checkpoint_testing.h"

namespace strata {
namespace {

using internal::CheckpointTestDir;
using internal::WriteRaw;

TEST(CheckpointNamesTest, AreZeroPadded) {
  EXPECT_EQ(CheckpointDirName(42), "ckpt-00000000000000000042");
  EXPECT_EQ(CheckpointDirName(~uint64_t{0}), "ckpt-18446744073709551615");
  EXPECT_EQ(ShardFileName(1, 3), "shard-00001-of-00003.ckpt");
}

class FindCheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = CheckpointTestDir(); }
  void Touch(uint64_t id, const std::string& name) {
    const std::string d = JoinPath(dir_, CheckpointDirName(id));
    ASSERT_TRUE(DefaultEnv()->CreateDir(d).ok());
    WriteRaw(JoinPath(d, name), "");
  }
  std::string dir_;
};

TEST_F(FindCheckpointTest, PicksTheNewestCompleteCheckpoint) {
  Touch(5, ShardFileName(0, 2));
  Touch(5, ShardFileName(1, 2));
  Touch(7, ShardFileName(0, 1));
  Touch(7, ShardFileName(0, 1) + ".tmp");
  Touch(9, ShardFileName(0, 3));  // incomplete: newest but not chosen
  Touch(9, ShardFileName(2, 3));
  Touch(9, ShardFileName(1, 3) + ".tmp");
  WriteRaw(JoinPath(dir_, "ckpt-123"), "");  // not a checkpoint name
  WriteRaw(JoinPath(dir_, "notes.txt"), "");
  absl::StatusOr<CheckpointFiles> f = FindCheckpoint(DefaultEnv(), dir_, 0);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->checkpoint_id, 7u);
  EXPECT_EQ(f->num_shards, 1u);
  ASSERT_EQ(f->paths.size(), 1u);
  EXPECT_EQ(f->paths[0], JoinPath(JoinPath(dir_, CheckpointDirName(7)),
                                  ShardFileName(0, 1)));

  f = FindCheckpoint(DefaultEnv(), dir_, 5);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->num_shards, 2u);
  EXPECT_EQ(f->paths.size(), 2u);

  f = FindCheckpoint(DefaultEnv(), dir_, 9);
  EXPECT_EQ(f.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(f.status().message().find("missing shard-00001-of-00003.ckpt"),
            std::string::npos)
      << f.status();
  f = FindCheckpoint(DefaultEnv(), dir_, 8);
  EXPECT_EQ(f.status().code(), absl::StatusCode::kNotFound);
}

TEST_F(FindCheckpointTest, NoCompleteCheckpointIsNotFound) {
  EXPECT_EQ(FindCheckpoint(DefaultEnv(), dir_, 0).status().code(),
            absl::StatusCode::kNotFound);
  Touch(3, ShardFileName(1, 2));
  EXPECT_EQ(FindCheckpoint(DefaultEnv(), dir_, 0).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(FindCheckpoint(DefaultEnv(), JoinPath(dir_, "missing"), 0)
                .status()
                .code(),
            absl::StatusCode::kNotFound);
}

TEST_F(FindCheckpointTest, TwoCompleteShardCountsAreAmbiguous) {
  Touch(4, ShardFileName(0, 1));
  Touch(4, ShardFileName(0, 2));
  Touch(4, ShardFileName(1, 2));
  EXPECT_EQ(FindCheckpoint(DefaultEnv(), dir_, 4).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(FindCheckpointTest, ListCheckpointsGivesEveryIdNewestFirstWithItsState) {
  Touch(5, ShardFileName(0, 1));
  Touch(9, ShardFileName(1, 2));  // incomplete
  Touch(7, ShardFileName(0, 1));  // ambiguous: complete for 1 and 2 shards
  Touch(7, ShardFileName(0, 2));
  Touch(7, ShardFileName(1, 2));
  WriteRaw(JoinPath(dir_, "ckpt-123"), "");  // not a checkpoint name
  absl::StatusOr<std::vector<CheckpointEntry>> list =
      ListCheckpoints(DefaultEnv(), dir_);
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->size(), 3u);
  EXPECT_EQ((*list)[0].checkpoint_id, 9u);
  EXPECT_EQ((*list)[0].files.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ((*list)[1].checkpoint_id, 7u);
  EXPECT_EQ((*list)[1].files.status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ((*list)[2].checkpoint_id, 5u);
  ASSERT_TRUE((*list)[2].files.ok()) << (*list)[2].files.status();
  EXPECT_EQ((*list)[2].files->num_shards, 1u);
  EXPECT_EQ(
      ListCheckpoints(DefaultEnv(), JoinPath(dir_, "missing")).status().code(),
      absl::StatusCode::kNotFound);
}

TEST(ShardFileNameTest, ParsesOnlyCanonicalNames) {
  uint32_t shard = 0, count = 0;
  EXPECT_TRUE(ParseShardFileName("shard-00002-of-00003.ckpt", &shard, &count));
  EXPECT_EQ(shard, 2u);
  EXPECT_EQ(count, 3u);
  for (const char* bad :
       {"shard-2-of-3.ckpt", "shard-00003-of-00003.ckpt",
        "shard-00002-of-00003.ckpt.tmp", "shard-+0002-of-00003.ckpt"}) {
    EXPECT_FALSE(ParseShardFileName(bad, &shard, &count)) << bad;
  }
}

TEST_F(FindCheckpointTest, OnlyCanonicalShardFileNamesCount) {
  Touch(6, "shard-0-of-1.ckpt");          // not zero padded
  Touch(6, "shard-00001-of-00001.ckpt");  // shard id not below the count
  Touch(6, "shard-+0000-of-00001.ckpt");  // a sign
  absl::StatusOr<CheckpointFiles> f = FindCheckpoint(DefaultEnv(), dir_, 6);
  EXPECT_EQ(f.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(f.status().message().find("no shard files"), std::string::npos)
      << f.status();
}

}  // namespace
}  // namespace strata
