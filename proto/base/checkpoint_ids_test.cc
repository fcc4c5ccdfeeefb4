#include "proto/base/checkpoint_ids.h"

#include <cstdint>
#include <limits>

#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace strata {
namespace {

const absl::Time kNow = absl::FromUnixMillis(1'790'000'000'000);

TEST(CheckpointIdsTest, ZeroSmallAndPresentIdsAreAccepted) {
  EXPECT_TRUE(CheckChosenCheckpointId("id", 0, kNow).ok());
  EXPECT_TRUE(CheckChosenCheckpointId("id", 7, kNow).ok());
  EXPECT_TRUE(CheckChosenCheckpointId("id", 1'790'000'000'000, kNow).ok());
}

TEST(CheckpointIdsTest, ClockSkewIsAllowedUpToTheBound) {
  const uint64_t bound = 1'790'000'000'000 + kCheckpointIdSkewMs;
  EXPECT_TRUE(CheckChosenCheckpointId("id", bound, kNow).ok());
  const absl::Status s = CheckChosenCheckpointId("id", bound + 1, kNow);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("id 1790000060001 lies in the future"),
            std::string::npos)
      << s.message();
}

TEST(CheckpointIdsTest, TheLargestIdWouldPinRestartsAndIsRefused) {
  const absl::Status s = CheckChosenCheckpointId(
      "ctr_train.checkpoint_id", std::numeric_limits<uint64_t>::max(), kNow);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("ctr_train.checkpoint_id"), std::string::npos);
}

}  // namespace
}  // namespace strata
