#include "proto/base/names.h"

#include <string>

#include "gtest/gtest.h"

namespace strata {
namespace {

TEST(NamesTest, NamesAreBoundedAndUseASmallAlphabet) {
  EXPECT_TRUE(CheckName("t", "job-1/conv_w0.b:2").ok());
  EXPECT_TRUE(CheckName("t", std::string(128, 'a')).ok());
  EXPECT_EQ(CheckName("t", "").message(), "t is 0 bytes; it must be 1 to 128");
  EXPECT_EQ(CheckName("t", std::string(129, 'a')).message(),
            "t is 129 bytes; it must be 1 to 128");
  EXPECT_EQ(CheckName("t", "a b").message(),
            "t 'a b' may hold only letters, digits and _ . : / -");
  EXPECT_EQ(CheckName("t", std::string("a\0b", 3)).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(NamesTest, CallerMayTightenTheLength) {
  EXPECT_TRUE(CheckName("role", "abcd", 4).ok());
  EXPECT_EQ(CheckName("role", "abcde", 4).message(),
            "role is 5 bytes; it must be 1 to 4");
}

TEST(NamesTest, JobScopedNamesStartWithAJobIdAndASlash) {
  EXPECT_TRUE(IsJobScopedName("job-2/snap/1/fc0/step"));
  EXPECT_TRUE(IsJobScopedName("job-17/x"));
  EXPECT_FALSE(IsJobScopedName("ctr"));
  EXPECT_FALSE(IsJobScopedName("job-/x"));
  EXPECT_FALSE(IsJobScopedName("job-2/"));
  EXPECT_FALSE(IsJobScopedName("job-2"));
  EXPECT_FALSE(IsJobScopedName("job-2x/y"));
  EXPECT_FALSE(IsJobScopedName("myjob-2/y"));
}

}  // namespace
}  // namespace strata
