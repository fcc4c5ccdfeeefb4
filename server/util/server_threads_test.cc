#include "server/util/server_threads.h"

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "proto/grpc/health/v1/health.grpc.pb.h"

namespace strata {
namespace {

using ::grpc::health::v1::Health;
using ::grpc::health::v1::HealthCheckRequest;
using ::grpc::health::v1::HealthCheckResponse;
using ::testing::HasSubstr;

TEST(ValidateServerThreadOptionsTest, DefaultsAreValid) {
  EXPECT_TRUE(ValidateServerThreadOptions(ServerThreadOptions()).ok());
  ServerThreadOptions unbounded;
  unbounded.max_threads = 0;
  EXPECT_TRUE(ValidateServerThreadOptions(unbounded).ok());
}

TEST(ValidateServerThreadOptionsTest, RefusesEachBadValueNamingItsFlag) {
  struct Case {
    int min_pollers, max_pollers, max_threads;
    const char* words;
  };
  for (const Case& c : std::vector<Case>{
           {0, 8, 512, "--min_pollers 0 must be at least 1"},
           {-3, 8, 512, "--min_pollers -3 must be at least 1"},
           {4, 2, 512, "--max_pollers 2 is below --min_pollers 4"},
           {1, 8, -1,
            "--max_server_threads -1 must be 0 (no bound) or above "
            "--max_pollers 8"},
           {1, 8, 8, "--max_server_threads 8 must be 0"},
       }) {
    ServerThreadOptions o;
    o.min_pollers = c.min_pollers;
    o.max_pollers = c.max_pollers;
    o.max_threads = c.max_threads;
    const absl::Status s = ValidateServerThreadOptions(o);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.words;
    EXPECT_THAT(s.message(), HasSubstr(c.words));
  }
}

// A health service whose Check holds its thread until released.
class BlockingHealth final : public Health::Service {
 public:
  grpc::Status Check(grpc::ServerContext*, const HealthCheckRequest*,
                     HealthCheckResponse* resp) override {
    ++running_;
    release_.WaitForNotificationWithTimeout(absl::Seconds(30));
    resp->set_status(HealthCheckResponse::SERVING);
    return grpc::Status::OK;
  }
  int running() const { return running_.load(); }
  void Release() { release_.Notify(); }

 private:
  std::atomic<int> running_{0};
  absl::Notification release_;
};

// A server on a free loopback port with `options`, serving `service`, and
// a stub of it (none when the server did not start).
struct Served {
  std::unique_ptr<grpc::Server> server;
  std::unique_ptr<Health::Stub> stub;
};
Served Serve(const ServerThreadOptions& options, grpc::Service* service) {
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                           &port);
  ApplyServerThreadOptions(options, &builder);
  builder.RegisterService(service);
  Served served;
  served.server = builder.BuildAndStart();
  if (served.server != nullptr) {
    served.stub = Health::NewStub(
        grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                            grpc::InsecureChannelCredentials()));
  }
  return served;
}

grpc::Status CallCheck(Health::Stub* stub) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  HealthCheckResponse resp;
  return stub->Check(&ctx, HealthCheckRequest(), &resp);
}

TEST(ApplyServerThreadOptionsTest, RequestBeyondTheThreadBoundIsExhausted) {
  ServerThreadOptions options;
  options.min_pollers = 1;
  options.max_pollers = 1;
  options.max_threads = 3;  // at most 2 requests run at once
  BlockingHealth service;
  Served served = Serve(options, &service);
  ASSERT_NE(served.server, nullptr);
  Health::Stub* const stub = served.stub.get();
  grpc::Server* const server = served.server.get();

  std::vector<grpc::Status> held(2);
  std::vector<std::thread> callers;
  for (grpc::Status& s : held) {
    callers.emplace_back([stub, &s] { s = CallCheck(stub); });
  }
  const absl::Time give_up = absl::Now() + absl::Seconds(20);
  while (service.running() < 2 && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  ASSERT_EQ(service.running(), 2);

  const grpc::Status refused = CallCheck(stub);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << refused.error_message();
  EXPECT_EQ(service.running(), 2);  // the refused call never ran

  service.Release();
  for (std::thread& t : callers) t.join();
  for (const grpc::Status& s : held) EXPECT_TRUE(s.ok()) << s.error_message();
  const grpc::Status after = CallCheck(stub);  // threads free again
  EXPECT_TRUE(after.ok()) << after.error_message();
  server->Shutdown();
}

TEST(ApplyServerThreadOptionsTest, WithoutABoundEveryHeldRequestRuns) {
  ServerThreadOptions options;
  options.min_pollers = 1;
  options.max_pollers = 1;
  options.max_threads = 0;
  BlockingHealth service;
  Served served = Serve(options, &service);
  ASSERT_NE(served.server, nullptr);
  Health::Stub* const stub = served.stub.get();
  grpc::Server* const server = served.server.get();
  constexpr int kCalls = 6;
  std::vector<grpc::Status> held(kCalls);
  std::vector<std::thread> callers;
  for (grpc::Status& s : held) {
    callers.emplace_back([stub, &s] { s = CallCheck(stub); });
  }
  const absl::Time give_up = absl::Now() + absl::Seconds(20);
  while (service.running() < kCalls && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_EQ(service.running(), kCalls);
  service.Release();
  for (std::thread& t : callers) t.join();
  for (const grpc::Status& s : held) EXPECT_TRUE(s.ok()) << s.error_message();
  server->Shutdown();
}

}  // namespace
}  // namespace strata
