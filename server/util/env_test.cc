#include "server/util/env.h"

#include <errno.h>

#include <algorithm>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "proto/base/status_macros.h"

namespace strata {
namespace {

// A fresh directory per test under the test's private temp dir.
std::string TestDir() {
  const ::testing::TestInfo* info =
      ::testing::UnitTest::GetInstance()->current_test_info();
  const std::string dir =
      JoinPath(::testing::TempDir(), std::string("env_test_") + info->name());
  EXPECT_TRUE(DefaultEnv()->CreateDir(dir).ok());
  return dir;
}

absl::Status WriteFile(Env* env, const std::string& path,
                       absl::string_view contents) {
  STRATA_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> file,
                          env->NewWritableFile(path));
  STRATA_RETURN_IF_ERROR(file->Append(contents));
  STRATA_RETURN_IF_ERROR(file->Sync());
  return file->Close();
}

TEST(EnvTest, WritesAndReadsBackAFile) {
  Env* env = DefaultEnv();
  const std::string path = JoinPath(TestDir(), "a.txt");
  absl::StatusOr<std::unique_ptr<WritableFile>> file =
      env->NewWritableFile(path);
  ASSERT_TRUE(file.ok()) << file.status();
  ASSERT_TRUE((*file)->Append("hello ").ok());
  ASSERT_TRUE((*file)->Append("world").ok());
  ASSERT_TRUE((*file)->Sync().ok());
  ASSERT_TRUE((*file)->Close().ok());
  EXPECT_EQ((*file)->Append("x").code(), absl::StatusCode::kFailedPrecondition);
  absl::StatusOr<std::string> contents = env->ReadFileToString(path);
  ASSERT_TRUE(contents.ok()) << contents.status();
  EXPECT_EQ(*contents, "hello world");
}

TEST(EnvTest, ReadsLargeFileExactly) {
  Env* env = DefaultEnv();
  const std::string path = JoinPath(TestDir(), "big.bin");
  std::string data(3 * 1024 * 1024 + 17, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 7);
  ASSERT_TRUE(WriteFile(env, path, data).ok());
  absl::StatusOr<std::string> contents = env->ReadFileToString(path);
  ASSERT_TRUE(contents.ok());
  EXPECT_EQ(contents->size(), data.size());
  EXPECT_TRUE(*contents == data);
}

TEST(EnvTest, MissingFileIsNotFoundWithPathInMessage) {
  Env* env = DefaultEnv();
  const std::string path = JoinPath(TestDir(), "missing");
  absl::StatusOr<std::string> contents = env->ReadFileToString(path);
  EXPECT_EQ(contents.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(contents.status().message().find(path), std::string::npos);
  EXPECT_EQ(env->FileExists(path).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(env->DeleteFile(path).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(env->RenameFile(path, path + "2").code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(env->GetChildren(path).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(env->NewWritableFile(JoinPath(path, "f")).status().code(),
            absl::StatusCode::kNotFound);
}

TEST(EnvTest, RenameReplacesTargetAtomically) {
  Env* env = DefaultEnv();
  const std::string dir = TestDir();
  const std::string from = JoinPath(dir, "new.tmp");
  const std::string to = JoinPath(dir, "file");
  ASSERT_TRUE(WriteFile(env, to, "old").ok());
  ASSERT_TRUE(WriteFile(env, from, "new").ok());
  ASSERT_TRUE(env->RenameFile(from, to).ok());
  ASSERT_TRUE(env->SyncDir(dir).ok());
  EXPECT_EQ(*env->ReadFileToString(to), "new");
  EXPECT_EQ(env->FileExists(from).code(), absl::StatusCode::kNotFound);
}

TEST(EnvTest, CreateDirIsRecursiveAndIdempotent) {
  Env* env = DefaultEnv();
  const std::string dir = JoinPath(TestDir(), "a/b/c");
  ASSERT_TRUE(env->CreateDir(dir).ok());
  ASSERT_TRUE(env->CreateDir(dir).ok());
  EXPECT_TRUE(env->FileExists(dir).ok());
  EXPECT_TRUE(env->SyncDir(dir).ok());
}

TEST(EnvTest, CreateDirOverAFileFails) {
  Env* env = DefaultEnv();
  const std::string path = JoinPath(TestDir(), "plain");
  ASSERT_TRUE(WriteFile(env, path, "x").ok());
  EXPECT_EQ(env->CreateDir(path).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_FALSE(env->CreateDir(JoinPath(path, "sub")).ok());
}

TEST(EnvTest, GetChildrenListsNamesWithoutDots) {
  Env* env = DefaultEnv();
  const std::string dir = TestDir();
  ASSERT_TRUE(WriteFile(env, JoinPath(dir, "x"), "").ok());
  ASSERT_TRUE(WriteFile(env, JoinPath(dir, "y"), "").ok());
  ASSERT_TRUE(env->CreateDir(JoinPath(dir, "z")).ok());
  absl::StatusOr<std::vector<std::string>> names = env->GetChildren(dir);
  ASSERT_TRUE(names.ok());
  std::sort(names->begin(), names->end());
  EXPECT_EQ(*names, (std::vector<std::string>{"x", "y", "z"}));
}

TEST(EnvTest, DeleteFileRemovesIt) {
  Env* env = DefaultEnv();
  const std::string path = JoinPath(TestDir(), "gone");
  ASSERT_TRUE(WriteFile(env, path, "x").ok());
  ASSERT_TRUE(env->DeleteFile(path).ok());
  EXPECT_EQ(env->FileExists(path).code(), absl::StatusCode::kNotFound);
}

TEST(EnvTest, ErrnoMapsToCanonicalCodes) {
  EXPECT_EQ(ErrnoToStatus(ENOENT, "open f").code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(ErrnoToStatus(EACCES, "open f").code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(ErrnoToStatus(ENOSPC, "write f").code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(ErrnoToStatus(EIO, "write f").code(), absl::StatusCode::kInternal);
  const absl::Status s = ErrnoToStatus(ENOSPC, "write /data/x");
  EXPECT_NE(s.message().find("write /data/x: "), std::string::npos) << s;
  EXPECT_NE(s.message().find("(errno 28)"), std::string::npos) << s;
}

TEST(EnvTest, JoinPathUsesExactlyOneSlash) {
  EXPECT_EQ(JoinPath("a", "b"), "a/b");
  EXPECT_EQ(JoinPath("a/", "b"), "a/b");
  EXPECT_EQ(JoinPath("a/", "/b"), "a/b");
  EXPECT_EQ(JoinPath("", "b"), "b");
  EXPECT_EQ(JoinPath("a", ""), "a");
}

}  // namespace
}  // namespace strata
