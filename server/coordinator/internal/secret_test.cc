#include "server/coordinator/internal/secret.h"

#include <string>

#include "gtest/gtest.h"

namespace strata {
namespace coordinator_internal {
namespace {

TEST(SecretTest, NewSecretsAre128RandomBits) {
  absl::StatusOr<std::string> a = NewSecret();
  absl::StatusOr<std::string> b = NewSecret();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->size(), 16u);
  EXPECT_NE(*a, *b);
}

TEST(SecretTest, MatchesOnlyTheSameNonEmptyBytes) {
  const std::string want(16, 'a');
  EXPECT_TRUE(SecretMatches(want, want));
  std::string last = want;
  last.back() = 'b';
  EXPECT_FALSE(SecretMatches(want, last));
  EXPECT_FALSE(SecretMatches(want, ""));
  EXPECT_FALSE(SecretMatches(want, want.substr(1)));
  EXPECT_FALSE(SecretMatches("", "")) << "no secret matches nothing";
}

}  // namespace
}  // namespace coordinator_internal
}  // namespace strata
