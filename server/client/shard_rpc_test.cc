#include "server/client/shard_rpc.h"

#include "gtest/gtest.h"

namespace strata {
namespace {

TEST(ShardLabelTest, NamesTheShardById) {
  EXPECT_EQ(ShardLabel(3), "ps shard 3");
}

TEST(LooksUnreachableTest, OnlyTransportFailures) {
  EXPECT_TRUE(LooksUnreachable(grpc::Status(
      grpc::StatusCode::UNAVAILABLE, "failed to connect to all addresses")));
  EXPECT_TRUE(LooksUnreachable(
      grpc::Status(grpc::StatusCode::UNAVAILABLE, "Socket closed")));
  EXPECT_FALSE(LooksUnreachable(
      grpc::Status(grpc::StatusCode::UNAVAILABLE, "shutting down")));
  EXPECT_FALSE(LooksUnreachable(
      grpc::Status(grpc::StatusCode::INTERNAL, "Connection refused")));
}

TEST(DescribeRpcFailureTest, ServerAnswerKeepsCodeAndNamesMethodAndServer) {
  const absl::Status s = DescribeRpcFailure(
      grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "disk full"),
      "Checkpoint", "ps shard 1", "127.0.0.1:5000", absl::Seconds(10));
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(s.message(), "Checkpoint on ps shard 1 127.0.0.1:5000: disk full");
}

TEST(DescribeRpcFailureTest, TransportFailureSaysUnreachable) {
  const absl::Status s = DescribeRpcFailure(
      grpc::Status(grpc::StatusCode::UNAVAILABLE, "Connection refused"),
      "GetJob", "coordinator", "127.0.0.1:1", absl::Seconds(10));
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(s.message(),
            "coordinator 127.0.0.1:1 unreachable: Connection refused");
}

TEST(DescribeRpcFailureTest, DeadlineNamesTheDeadline) {
  const absl::Status s = DescribeRpcFailure(
      grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "Deadline Exceeded"),
      "Load", "ps shard 0", "h:1", absl::Milliseconds(200));
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(
      s.message(),
      "Load on ps shard 0 h:1: no reply within 200ms (Deadline Exceeded)");
}

}  // namespace
}  // namespace strata
