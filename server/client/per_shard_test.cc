#include "server/client/per_shard.h"

#include <string>

#include "gtest/gtest.h"

namespace strata {
namespace {

PerShard<std::string> Results(std::vector<absl::Status> statuses) {
  PerShard<std::string> out(statuses.size());
  for (uint32_t s = 0; s < statuses.size(); ++s) {
    out[s].shard = s;
    out[s].address = "h:" + std::to_string(s);
    if (statuses[s].ok()) {
      out[s].response = "reply " + std::to_string(s);
    } else {
      out[s].response = statuses[s];
    }
  }
  return out;
}

TEST(PerShardTest, AllOkIsTheFirstFailureByShard) {
  EXPECT_TRUE(AllOk(Results({absl::OkStatus(), absl::OkStatus()})).ok());
  const absl::Status s =
      AllOk(Results({absl::OkStatus(), absl::InternalError("one"),
                     absl::NotFoundError("two")}));
  EXPECT_EQ(s, absl::InternalError("one"));
}

TEST(PerShardTest, RequireAllOkReturnsRepliesInShardOrder) {
  auto replies = RequireAllOk(Results({absl::OkStatus(), absl::OkStatus()}));
  ASSERT_TRUE(replies.ok());
  EXPECT_EQ(*replies, (std::vector<std::string>{"reply 0", "reply 1"}));
  EXPECT_EQ(RequireAllOk(Results({absl::OkStatus(), absl::AbortedError("x")}))
                .status()
                .code(),
            absl::StatusCode::kAborted);
}

TEST(PerShardTest, CountOkCountsSuccesses) {
  EXPECT_EQ(CountOk(Results({absl::OkStatus(), absl::InternalError("x"),
                             absl::OkStatus()})),
            2u);
  EXPECT_EQ(CountOk(PerShard<std::string>()), 0u);
}

TEST(PerShardTest, OkOnSomeShardAcceptsNotFoundElsewhere) {
  EXPECT_TRUE(
      OkOnSomeShard(Results({absl::NotFoundError("a"), absl::OkStatus()}))
          .ok());
  EXPECT_EQ(OkOnSomeShard(
                Results({absl::NotFoundError("a"), absl::NotFoundError("b")})),
            absl::NotFoundError("a"));
  EXPECT_EQ(OkOnSomeShard(Results({absl::OkStatus(), absl::NotFoundError("a"),
                                   absl::UnavailableError("down")})),
            absl::UnavailableError("down"));
}

TEST(PerShardTest, ANewResultIsNotOk) {
  ShardResult<int> r;
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnknown);
}

}  // namespace
}  // namespace strata
