#include "server/client/internal/shard_group.h"

#include <limits>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "server/ps/testing/local_shards.h"

namespace strata {
namespace internal {
namespace {

// Port 1 on loopback refuses connections.
constexpr char kDeadAddress[] = "127.0.0.1:1";

TEST(ShardGroupTest, ConnectRejectsBadShardLists) {
  EXPECT_EQ(ShardGroup::Connect({}, ShardRpcOptions(), nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ShardGroup::Connect({"a:1", ""}, ShardRpcOptions(), nullptr)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ShardGroup::Connect({"a:1"}, ShardRpcOptions(), MakeHashRouter(2))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  auto group = ShardGroup::Connect({"a:1", "b:2"}, ShardRpcOptions(), nullptr);
  ASSERT_TRUE(group.ok()) << group.status();
  EXPECT_EQ((*group)->size(), 2u);
  EXPECT_EQ((*group)->router().num_shards(), 2u);
  EXPECT_EQ((*group)->shard(1).address, "b:2");
}

// One live shard (0) and one that refuses connections (1); each is asked to
// drop a table that does not exist.
class FanOutTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto shards = testing::LocalShards::Start(1);
    ASSERT_TRUE(shards.ok()) << shards.status();
    live_ = std::move(*shards);
    auto group = ShardGroup::Connect({live_->addresses()[0], kDeadAddress},
                                     ShardRpcOptions(), nullptr);
    ASSERT_TRUE(group.ok()) << group.status();
    group_ = *group;
    reqs_.resize(2);
    for (auto& r : reqs_) r.set_name("missing");
  }
  absl::Status Drop(const FanOutCall& call,
                    std::vector<absl::Status>* statuses) {
    std::vector<DropTableResponse> resps;
    return FanOut(
        *group_, call, {0, 1}, reqs_, &resps,
        [](const ShardStubs& sh, grpc::ClientContext* ctx,
           const DropTableRequest& r, grpc::CompletionQueue* cq) {
          return sh.admin->PrepareAsyncDropTable(ctx, r, cq);
        },
        statuses);
  }

  std::unique_ptr<testing::LocalShards> live_;
  std::shared_ptr<const ShardGroup> group_;
  std::vector<DropTableRequest> reqs_;
};

// A DropTable call that allows retries, each after a 30 s backoff: a
// test that retried would time out.
FanOutCall CallThatWouldTimeOutOnARetry() {
  FanOutCall call;
  call.method = "DropTable(missing)";
  call.timeout = absl::Seconds(5);
  call.max_retries = 3;
  call.retry_for = absl::Seconds(60);
  call.retry_backoff = absl::Seconds(30);
  call.max_retry_backoff = absl::Seconds(30);
  return call;
}

TEST_F(FanOutTest, DataPlaneStopsAtTheFirstLastingErrorWithoutRetrying) {
  FanOutCall call = CallThatWouldTimeOutOnARetry();
  call.stop_at_first_error = true;
  const absl::Time start = absl::Now();
  const absl::Status s = Drop(call, nullptr);
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound) << s;
  EXPECT_EQ(s.message().rfind("DropTable(missing) on ps shard 0 ", 0), 0u) << s;
}

TEST_F(FanOutTest, AdminFinishesEveryRequestAndReportsEachOutcome) {
  FanOutCall call;
  call.method = "DropTable(missing)";
  call.timeout = absl::Seconds(5);
  call.max_retries = 2;
  call.retry_for = absl::Seconds(60);
  call.retry_backoff = absl::Milliseconds(1);
  call.max_retry_backoff = absl::Milliseconds(1);
  call.stop_at_first_error = false;
  std::vector<absl::Status> statuses;
  const absl::Status s = Drop(call, &statuses);
  ASSERT_EQ(statuses.size(), 2u);
  EXPECT_EQ(statuses[0].code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(statuses[1].code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(statuses[1].message().rfind(
                absl::StrCat("ps shard 1 ", kDeadAddress, " unreachable: "), 0),
            0u)
      << statuses[1];
  EXPECT_NE(statuses[1].message().find("still unavailable after retrying for"),
            std::string::npos)
      << statuses[1];
  EXPECT_EQ(s, statuses[0]);  // the first error by request index
}

// The dead shard alone, with `call`'s retries; returns its status.
absl::Status DropOnTheDeadShard(const ShardGroup& group, FanOutCall call) {
  call.method = "DropTable(missing)";
  call.timeout = absl::Seconds(5);
  call.stop_at_first_error = true;
  std::vector<DropTableResponse> resps;
  DropTableRequest req;
  req.set_name("missing");
  return FanOut(group, call, {1}, std::vector<DropTableRequest>{req}, &resps,
                [](const ShardStubs& sh, grpc::ClientContext* ctx,
                   const DropTableRequest& r, grpc::CompletionQueue* cq) {
                  return sh.admin->PrepareAsyncDropTable(ctx, r, cq);
                });
}

TEST_F(FanOutTest, UnavailableIsRetriedForRetryForThenFails) {
  FanOutCall call;
  call.max_retries = std::numeric_limits<int>::max();
  call.retry_for = absl::Milliseconds(400);
  call.retry_backoff = absl::Milliseconds(10);
  call.max_retry_backoff = absl::Milliseconds(50);
  const absl::Time start = absl::Now();
  const absl::Status s = DropOnTheDeadShard(*group_, call);
  const absl::Duration took = absl::Now() - start;
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_NE(s.message().find("still unavailable after retrying for"),
            std::string::npos)
      << s;
  EXPECT_GE(took, absl::Milliseconds(400));
  EXPECT_LT(took, absl::Seconds(5));
}

TEST_F(FanOutTest, MaxRetriesZeroFailsAtOnce) {
  FanOutCall call;
  call.max_retries = 0;
  call.retry_for = absl::Seconds(60);
  call.retry_backoff = absl::Seconds(30);
  call.max_retry_backoff = absl::Seconds(30);
  const absl::Time start = absl::Now();
  const absl::Status s = DropOnTheDeadShard(*group_, call);
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_EQ(s.message().find("retrying"), std::string::npos) << s;
}

TEST_F(FanOutTest, EveryRequestSucceedsOnLiveShards) {
  FanOutCall call;
  call.method = "ListTables";
  call.timeout = absl::Seconds(5);
  std::vector<ListTablesResponse> resps;
  std::vector<absl::Status> statuses;
  const absl::Status s = FanOut(
      *group_, call, {0, 0}, std::vector<ListTablesRequest>(2), &resps,
      [](const ShardStubs& sh, grpc::ClientContext* ctx,
         const ListTablesRequest& r, grpc::CompletionQueue* cq) {
        return sh.admin->PrepareAsyncListTables(ctx, r, cq);
      },
      &statuses);
  EXPECT_TRUE(s.ok()) << s;
  ASSERT_EQ(resps.size(), 2u);
  EXPECT_EQ(resps[1].num_shards(), 1u);
  EXPECT_TRUE(statuses[0].ok() && statuses[1].ok());
}

// A request its producer declines is not sent and counts as answered OK:
// here the dead shard's, so the call neither retries nor fails, while the
// live shard's is produced, sent and answered (NOT_FOUND: no such table).
TEST_F(FanOutTest, ProducedRequestsDeclinedAreNotSent) {
  FanOutCall call = CallThatWouldTimeOutOnARetry();
  std::vector<DropTableRequest> reqs(2);
  std::vector<DropTableResponse> resps;
  std::vector<absl::Status> statuses;
  std::vector<size_t> produced;
  const auto prepare = [](const ShardStubs& sh, grpc::ClientContext* ctx,
                          const DropTableRequest& r,
                          grpc::CompletionQueue* cq) {
    return sh.admin->PrepareAsyncDropTable(ctx, r, cq);
  };
  const auto produce = [&](size_t i) {
    produced.push_back(i);
    if (i == 1) return false;  // the dead shard: nothing to send
    reqs[i].set_name("missing");
    return true;
  };
  const absl::Time start = absl::Now();
  // FanOutProduced has no statuses out-parameter: FanOutRounds has.
  const absl::Status s = FanOutRounds(*group_, call, {0, 1}, reqs, &resps,
                                      prepare, produce, &statuses);
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  EXPECT_EQ(produced, (std::vector<size_t>{0, 1}));
  ASSERT_EQ(statuses.size(), 2u);
  EXPECT_EQ(statuses[0].code(), absl::StatusCode::kNotFound) << statuses[0];
  EXPECT_TRUE(statuses[1].ok()) << statuses[1];
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound) << s;
}

}  // namespace
}  // namespace internal
}  // namespace strata
