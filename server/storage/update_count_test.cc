#include "server/storage/update_count.h"

#include <cstdlib>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "server/util/env.h"
#include "server/util/env_testing.h"

namespace strata {
namespace {

std::string TestPath(const std::string& name) {
  const char* base = std::getenv("TEST_TMPDIR");
  const std::string dir = absl::StrCat(base ? base : "/tmp", "/", name);
  EXPECT_TRUE(DefaultEnv()->CreateDir(dir).ok());
  const std::string path = JoinPath(dir, UpdateCountFileName(1, 4));
  DefaultEnv()->DeleteFile(path).IgnoreError();
  return path;
}

TEST(UpdateCountTest, FileNameNamesTheShardAndCount) {
  EXPECT_EQ(UpdateCountFileName(1, 4), "updates-shard-1-of-4.txt");
}

TEST(UpdateCountTest, LostIsTheCountLessTheLoadedCheckpointsCut) {
  const std::string path = TestPath("lost");
  {
    UpdateCount before(DefaultEnv(), path);
    before.Add(100);
    before.RecordCut(7, before.applied());
    before.Add(30);
    before.RecordCut(8, before.applied());
    before.Add(12);
    ASSERT_TRUE(before.Persist().ok());
    before.Add(5);  // not persisted: a kill loses it from the count
  }
  UpdateCount after(DefaultEnv(), path);
  absl::StatusOr<std::optional<uint64_t>> lost = after.Recover(8);
  ASSERT_TRUE(lost.ok()) << lost.status();
  EXPECT_EQ(*lost, std::optional<uint64_t>(12));
  EXPECT_EQ(after.lost_at_start(), std::optional<uint64_t>(12));
  EXPECT_EQ(after.applied(), 130u) << "goes on from the cut";
  // A second restart from the same checkpoint does not count them again.
  ASSERT_TRUE(after.Persist().ok());
  UpdateCount again(DefaultEnv(), path);
  EXPECT_EQ(*again.Recover(8), std::optional<uint64_t>(0));
  // An older checkpoint's cut is still known.
  UpdateCount older(DefaultEnv(), path);
  EXPECT_EQ(*older.Recover(7), std::optional<uint64_t>(30));
}

TEST(UpdateCountTest, NothingLoadedLosesEverythingUnknownCutIsUnknown) {
  const std::string path = TestPath("unknown");
  {
    UpdateCount c(DefaultEnv(), path);
    c.Add(9);
    ASSERT_TRUE(c.Persist().ok());
  }
  UpdateCount empty(DefaultEnv(), path);
  EXPECT_EQ(*empty.Recover(std::nullopt), std::optional<uint64_t>(9));
  UpdateCount other(DefaultEnv(), path);
  EXPECT_EQ(*other.Recover(12345), std::nullopt);
  EXPECT_EQ(other.applied(), 9u) << "the count stays monotonic";
}

TEST(UpdateCountTest, FirstStartAndNoPathKnowNothing) {
  UpdateCount first(DefaultEnv(), TestPath("first"));
  EXPECT_EQ(*first.Recover(3), std::nullopt);
  UpdateCount none(DefaultEnv(), "");
  none.Add(4);
  EXPECT_TRUE(none.Persist().ok());
  EXPECT_EQ(*none.Recover(std::nullopt), std::nullopt);
}

TEST(UpdateCountTest, CorruptFileIsDataLoss) {
  const std::string path = TestPath("corrupt");
  {
    auto f = DefaultEnv()->NewWritableFile(path);
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE((*f)->Append("strata-update-count 1\napplied x\n").ok());
    ASSERT_TRUE((*f)->Close().ok());
  }
  UpdateCount c(DefaultEnv(), path);
  absl::StatusOr<std::optional<uint64_t>> lost = c.Recover(1);
  EXPECT_EQ(lost.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(lost.status().message(),
            absl::StrCat("update count file ", path, ": bad line 'applied x'"));
}

TEST(UpdateCountTest, PersistWritesOnlyWhenSomethingChanged) {
  const std::string path = TestPath("unchanged");
  FaultInjectionEnv env(DefaultEnv());
  UpdateCount c(&env, path);
  c.Add(1);
  ASSERT_TRUE(c.Persist().ok());
  const int64_t written = env.bytes_written();
  ASSERT_TRUE(c.Persist().ok());
  EXPECT_EQ(env.bytes_written(), written);
  c.RecordCut(5, 1);
  ASSERT_TRUE(c.Persist().ok());
  EXPECT_GT(env.bytes_written(), written);
}

TEST(UpdateCountTest, KeepsTheNewestCuts) {
  const std::string path = TestPath("cuts");
  {
    UpdateCount c(DefaultEnv(), path);
    for (uint64_t id = 1; id <= kMaxUpdateCuts + 1; ++id) c.RecordCut(id, id);
    ASSERT_TRUE(c.Persist().ok());
  }
  UpdateCount oldest(DefaultEnv(), path);
  EXPECT_EQ(*oldest.Recover(1), std::nullopt);
  UpdateCount newest(DefaultEnv(), path);
  EXPECT_EQ(*newest.Recover(kMaxUpdateCuts + 1), std::optional<uint64_t>(0));
}

}  // namespace
}  // namespace strata
