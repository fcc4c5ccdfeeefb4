#include "server/util/env_testing.h"

#include <string>

#include "gtest/gtest.h"

namespace strata {
namespace {

std::string TestDir() {
  const ::testing::TestInfo* info =
      ::testing::UnitTest::GetInstance()->current_test_info();
  const std::string dir = JoinPath(::testing::TempDir(),
                                   std::string("env_testing_") + info->name());
  EXPECT_TRUE(DefaultEnv()->CreateDir(dir).ok());
  return dir;
}

TEST(FaultInjectionEnvTest, ForwardsWhenNoFaultIsArmed) {
  FaultInjectionEnv env(DefaultEnv());
  const std::string path = JoinPath(TestDir(), "f");
  auto file = env.NewWritableFile(path);
  ASSERT_TRUE(file.ok());
  ASSERT_TRUE((*file)->Append("abc").ok());
  ASSERT_TRUE((*file)->Sync().ok());
  ASSERT_TRUE((*file)->Close().ok());
  EXPECT_EQ(*env.ReadFileToString(path), "abc");
  EXPECT_EQ(env.bytes_written(), 3);
}

TEST(FaultInjectionEnvTest, WriteFaultKeepsThePrefixUpToTheLimit) {
  FaultInjectionEnv env(DefaultEnv());
  const std::string path = JoinPath(TestDir(), "f");
  auto file = env.NewWritableFile(path);
  ASSERT_TRUE(file.ok());
  env.FailWritesAfter(5);
  ASSERT_TRUE((*file)->Append("abc").ok());
  EXPECT_EQ((*file)->Append("defgh").code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ((*file)->Append("x").code(), absl::StatusCode::kResourceExhausted);
  EXPECT_FALSE(env.crashed());
  // Not a crash: closing and deleting still work.
  EXPECT_TRUE((*file)->Close().ok());
  EXPECT_EQ(*env.ReadFileToString(path), "abcde");
  EXPECT_TRUE(env.DeleteFile(path).ok());
}

TEST(FaultInjectionEnvTest, CrashFreezesTheDiskButAllowsReads) {
  FaultInjectionEnv env(DefaultEnv());
  const std::string dir = TestDir();
  const std::string path = JoinPath(dir, "f.tmp");
  auto file = env.NewWritableFile(path);
  ASSERT_TRUE(file.ok());
  env.CrashAfter(2);
  EXPECT_EQ((*file)->Append("abcd").code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(env.crashed());
  EXPECT_EQ((*file)->Sync().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ((*file)->Close().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(env.DeleteFile(path).code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(env.RenameFile(path, JoinPath(dir, "f")).code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(env.NewWritableFile(JoinPath(dir, "g")).status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(env.CreateDir(JoinPath(dir, "d")).code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(env.SyncDir(dir).code(), absl::StatusCode::kUnavailable);
  // The partial temp file stays, as after a real crash.
  EXPECT_EQ(*env.ReadFileToString(path), "ab");
  EXPECT_TRUE(env.FileExists(path).ok());
  env.Reset();
  EXPECT_TRUE(env.DeleteFile(path).ok());
}

TEST(FaultInjectionEnvTest, SyncAndRenameFaults) {
  FaultInjectionEnv env(DefaultEnv());
  const std::string dir = TestDir();
  const std::string path = JoinPath(dir, "f");
  auto file = env.NewWritableFile(path);
  ASSERT_TRUE(file.ok());
  env.FailSync(true);
  EXPECT_EQ((*file)->Sync().code(), absl::StatusCode::kInternal);
  EXPECT_EQ(env.SyncDir(dir).code(), absl::StatusCode::kInternal);
  env.FailSync(false);
  EXPECT_TRUE((*file)->Sync().ok());
  ASSERT_TRUE((*file)->Close().ok());
  env.FailRename(true);
  EXPECT_EQ(env.RenameFile(path, path + ".2").code(),
            absl::StatusCode::kInternal);
  EXPECT_TRUE(env.FileExists(path).ok());
  env.FailRename(false);
  EXPECT_TRUE(env.RenameFile(path, path + ".2").ok());
}

}  // namespace
}  // namespace strata
