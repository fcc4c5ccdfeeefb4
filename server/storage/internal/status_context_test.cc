#include "server/storage/internal/status_context.h"

#include "gtest/gtest.h"

namespace strata {
namespace internal {
namespace {

TEST(WithContextTest, KeepsTheCodeAndPrefixesTheMessage) {
  const absl::Status s =
      WithContext(absl::DataLossError("bad CRC"), "reading /a/b");
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(s.message(), "reading /a/b: bad CRC");
}

TEST(WithContextTest, LeavesOkAlone) {
  EXPECT_TRUE(WithContext(absl::OkStatus(), "anything").ok());
}

}  // namespace
}  // namespace internal
}  // namespace strata
