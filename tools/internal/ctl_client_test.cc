#include "tools/internal/ctl_client.h"

#include <vector>

#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tools/internal/fake_servers.h"

namespace strata {
namespace ctl {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

CtlClientOptions OptionsFor(const std::string& coordinator) {
  CtlClientOptions options;
  options.coordinator = coordinator;
  options.rpc_timeout = absl::Seconds(5);
  return options;
}

TEST(CtlClientTest, UnreachableCoordinatorIsUnavailableNamingTheAddress) {
  // Port 1 on loopback refuses connections.
  CtlClient client(OptionsFor("127.0.0.1:1"));
  auto jobs = client.ListJobs();
  EXPECT_EQ(jobs.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(jobs.status().message()),
              StartsWith("coordinator 127.0.0.1:1 unreachable: "));
}

TEST(CtlClientTest, SubmitGetCancelRoundTrip) {
  FakeCoordinator fake;
  CtlClient client(OptionsFor(fake.address()));
  JobSpec spec;
  spec.set_name("t");
  spec.mutable_ps_load_test()->set_dim(8);
  auto id = client.SubmitJob(spec);
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(*id, "job-1");
  ASSERT_EQ(fake.submitted().size(), 1u);
  EXPECT_EQ(fake.submitted()[0].ps_load_test().dim(), 8u);

  auto job = client.GetJob("job-1");
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->state(), PENDING);
  EXPECT_EQ(job->spec().name(), "t");

  auto state = client.CancelJob("job-1");
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_EQ(*state, CANCELLED);
  EXPECT_THAT(fake.cancelled(), ::testing::ElementsAre("job-1"));
}

TEST(CtlClientTest, ServerErrorKeepsCodeAndNamesMethodAndServer) {
  FakeCoordinator fake;
  CtlClient client(OptionsFor(fake.address()));
  auto job = client.GetJob("nope");
  EXPECT_EQ(job.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(job.status().message(),
            "GetJob on coordinator " + fake.address() + ": no job nope");
}

TEST(CtlClientTest, DeliberateUnavailableIsNotCalledUnreachable) {
  FakeCoordinator fake;
  fake.script().SetError("GetCluster",
                         absl::UnavailableError("shard 1 not registered"));
  CtlClient client(OptionsFor(fake.address()));
  auto cluster = client.GetCluster();
  EXPECT_EQ(cluster.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(cluster.status().message(), "GetCluster on coordinator " +
                                            fake.address() +
                                            ": shard 1 not registered");
}

TEST(CtlClientTest, SlowServerHitsTheDeadline) {
  FakeCoordinator fake;
  fake.script().SetDelay(absl::Seconds(30));
  CtlClientOptions options = OptionsFor(fake.address());
  options.rpc_timeout = absl::Milliseconds(200);
  CtlClient client(options);
  auto jobs = client.ListJobs();
  EXPECT_EQ(jobs.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(jobs.status().message(), HasSubstr("ListJobs on coordinator"));
  EXPECT_THAT(jobs.status().message(), HasSubstr("no reply within 200ms"));
}

TEST(CtlClientTest, WatchDeliversEveryEventInOrder) {
  FakeCoordinator fake;
  JobStatus job;
  job.set_job_id("j");
  fake.AddJob(job);
  std::vector<JobEvent> events(3);
  for (int i = 0; i < 3; ++i) events[i].set_step(i + 1);
  fake.SetEvents("j", events);
  CtlClient client(OptionsFor(fake.address()));
  std::vector<int64_t> seen;
  absl::Status status = client.WatchJob(
      "j", [&](const JobEvent& e) { seen.push_back(e.step()); });
  EXPECT_TRUE(status.ok()) << status;
  EXPECT_THAT(seen, ::testing::ElementsAre(1, 2, 3));

  status = client.WatchJob("other", [](const JobEvent&) {});
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
}

TEST(CtlClientTest, HealthReportsServingAndNotServing) {
  FakeShard shard(0, 1);
  CtlClient client(OptionsFor("127.0.0.1:1"));
  auto health = client.CheckHealth("ps shard 0", shard.address());
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(*health, grpc::health::v1::HealthCheckResponse::SERVING);
  shard.server().SetServing(false);
  health = client.CheckHealth("ps shard 0", shard.address());
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(*health, grpc::health::v1::HealthCheckResponse::NOT_SERVING);
}

TEST(CtlClientTest, ShardsAreAskedTogetherAndErrorsNameTheShard) {
  FakeShard shard0(0, 2), shard1(1, 2);
  shard1.script().SetError("Load", absl::NotFoundError("no checkpoint 7"));
  CtlClient client(OptionsFor("127.0.0.1:1"));
  auto admin = client.ConnectShards({shard0.address(), shard1.address()});
  ASSERT_TRUE(admin.ok()) << admin.status();
  const PerShard<LoadResponse> load = (*admin)->Load(7);
  ASSERT_EQ(load.size(), 2u);
  EXPECT_TRUE(load[0].ok()) << load[0].status();
  EXPECT_EQ(load[1].status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(load[1].status().message(),
            "Load on ps shard 1 " + shard1.address() + ": no checkpoint 7");
  EXPECT_THAT(shard0.load_requests(), ::testing::ElementsAre(7u));
}

TEST(CtlClientTest, ADeadShardIsReportedWithoutRetries) {
  FakeShard shard0(0, 2);
  CtlClient client(OptionsFor("127.0.0.1:1"));
  auto admin = client.ConnectShards({shard0.address(), "127.0.0.1:1"});
  ASSERT_TRUE(admin.ok()) << admin.status();
  const absl::Time start = absl::Now();
  const PerShard<ListTablesResponse> lists = (*admin)->ListTables();
  // Four retries with backoff from 100 ms would take 1.5 s.
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(1400));
  EXPECT_TRUE(lists[0].ok());
  EXPECT_THAT(std::string(lists[1].status().message()),
              StartsWith("ps shard 1 127.0.0.1:1 unreachable: "));
}

}  // namespace
}  // namespace ctl
}  // namespace strata
