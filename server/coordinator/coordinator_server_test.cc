#include "server/coordinator/coordinator_server.h"

#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "proto/coordinator.grpc.pb.h"
#include "proto/rpc_util.h"

namespace strata {
namespace {

using ::testing::StartsWith;

constexpr absl::Duration kRpcDeadline = absl::Seconds(30);

std::unique_ptr<CoordinatorServer> StartOnFreePort() {
  CoordinatorServer::Options options;
  options.listen = "127.0.0.1:0";
  absl::StatusOr<std::unique_ptr<CoordinatorServer>> server =
      CoordinatorServer::Start(options);
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? *std::move(server) : nullptr;
}

std::shared_ptr<grpc::Channel> Connect(const std::string& address) {
  return grpc::CreateCustomChannel(
      address, grpc::InsecureChannelCredentials(),
      DefaultChannelArguments(kDefaultMaxMessageBytes));
}

TEST(CoordinatorServerTest, ListensOnAFreePortAndReportsIt) {
  std::unique_ptr<CoordinatorServer> server = StartOnFreePort();
  ASSERT_NE(server, nullptr);
  EXPECT_THAT(server->address(), StartsWith("127.0.0.1:"));
  EXPECT_NE(server->address(), "127.0.0.1:0");

  auto stub = NodeService::NewStub(Connect(server->address()));
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + kRpcDeadline));
  ClusterResponse cluster;
  EXPECT_TRUE(stub->GetCluster(&ctx, ClusterRequest(), &cluster).ok());
}

TEST(CoordinatorServerTest, PortInUseIsUnavailable) {
  std::unique_ptr<CoordinatorServer> first = StartOnFreePort();
  ASSERT_NE(first, nullptr);
  CoordinatorServer::Options options;
  options.listen = first->address();
  EXPECT_EQ(CoordinatorServer::Start(options).status().code(),
            absl::StatusCode::kUnavailable);
}

TEST(CoordinatorServerTest, MalformedListenAddressIsInvalidArgument) {
  CoordinatorServer::Options options;
  options.listen = "localhost";
  EXPECT_EQ(CoordinatorServer::Start(options).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(CoordinatorServerTest, HealthServiceReportsServing) {
  std::unique_ptr<CoordinatorServer> server = StartOnFreePort();
  ASSERT_NE(server, nullptr);
  // grpc.health.v1.Health/Check with an empty HealthCheckRequest; the reply
  // HealthCheckResponse{status: SERVING} is encoded as 08 01.
  grpc::GenericStub stub(Connect(server->address()));
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + kRpcDeadline));
  const grpc::Slice empty_message{std::string()};
  grpc::ByteBuffer request(&empty_message, 1);
  grpc::ByteBuffer response;
  grpc::Status status;
  absl::Notification done;
  stub.UnaryCall(&ctx, "/grpc.health.v1.Health/Check", grpc::StubOptions(),
                 &request, &response, [&](grpc::Status s) {
                   status = std::move(s);
                   done.Notify();
                 });
  done.WaitForNotification();
  ASSERT_TRUE(status.ok()) << status.error_message();
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(response.Dump(&slices).ok());
  std::string bytes;
  for (const grpc::Slice& s : slices) {
    bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  EXPECT_EQ(bytes, std::string("\x08\x01", 2));
}

TEST(CoordinatorServerTest, ShutdownEndsOpenTaskStreams) {
  std::unique_ptr<CoordinatorServer> server = StartOnFreePort();
  ASSERT_NE(server, nullptr);
  auto stub = NodeService::NewStub(Connect(server->address()));
  grpc::ClientContext reg_ctx;
  reg_ctx.set_deadline(absl::ToChronoTime(absl::Now() + kRpcDeadline));
  RegisterNodeRequest reg;
  RegisterNodeResponse reg_resp;
  ASSERT_TRUE(stub->RegisterNode(&reg_ctx, reg, &reg_resp).ok());

  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + kRpcDeadline));
  WatchTasksRequest req;
  req.set_node_id(reg_resp.node_id());
  req.set_node_secret(reg_resp.node_secret());
  auto reader = stub->WatchTasks(&ctx, req);
  reader->WaitForInitialMetadata();  // the stream is open

  server->Shutdown(absl::Seconds(10));
  server->Wait();  // returns once shut down
  TaskCommand cmd;
  EXPECT_FALSE(reader->Read(&cmd));
  grpc::Status status = reader->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE)
      << status.error_message();
  server->Shutdown(absl::Seconds(1));  // idempotent
}

}  // namespace
}  // namespace strata
