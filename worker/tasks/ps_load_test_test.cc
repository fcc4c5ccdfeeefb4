#include "worker/tasks/ps_load_test.h"

#include "gtest/gtest.h"
#include "worker/testing/task_fixture.h"

namespace strata {
namespace {

using testing::FakeTaskContext;

class PsLoadTestTaskTest : public testing::TaskFixture {
 protected:
  TaskAssignment Assignment(const PsLoadTestSpec& spec) {
    JobSpec job;
    *job.mutable_ps_load_test() = spec;
    return Assign(job);
  }
};

PsLoadTestSpec Small() {
  PsLoadTestSpec s;
  s.set_table("t");
  s.set_dim(4);
  s.set_keys_per_worker(1000);
  s.set_batch_size(300);
  s.set_rounds(3);
  s.set_seed(9);
  return s;
}

TEST_F(PsLoadTestTaskTest, WritesReadsAndVerifiesEveryKeyOfEveryRound) {
  PsLoadTestTask task(client());
  FakeTaskContext ctx;
  auto m = task.Run(Assignment(Small()), &ctx);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->at("verified_keys"), 3000);
  EXPECT_EQ(m->at("mismatches"), 0);
  EXPECT_GT(m->at("pull_keys_per_s"), 0);
  EXPECT_EQ(ctx.last_step(), 12);  // 4 batches x 3 rounds
  EXPECT_EQ(ctx.total_steps(), 12);
}

TEST_F(PsLoadTestTaskTest, ConnectsToTheAssignedShardsWithoutAClient) {
  PsLoadTestTask task;
  FakeTaskContext ctx;
  auto m = task.Run(Assignment(Small()), &ctx);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->at("verified_keys"), 3000);
}

TEST_F(PsLoadTestTaskTest, VerifyExistingPassesAfterAWriteAndFailsOnOtherData) {
  PsLoadTestTask task(client());
  FakeTaskContext ctx;
  ASSERT_TRUE(task.Run(Assignment(Small()), &ctx).ok());
  PsLoadTestSpec verify = Small();
  verify.set_verify_existing(true);
  auto ok = task.Run(Assignment(verify), &ctx);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->at("verified_keys"), 1000);
  verify.set_seed(10);  // keys never written: they read as zeros
  auto bad = task.Run(Assignment(verify), &ctx);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(bad.status().message().find("read back wrong"), std::string::npos);
}

TEST_F(PsLoadTestTaskTest, StopsWithCancelledWhenTheContextIsCancelled) {
  PsLoadTestTask task(client());
  FakeTaskContext ctx;
  ctx.CancelAfterReports(2);
  auto m = task.Run(Assignment(Small()), &ctx);
  EXPECT_EQ(m.status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(ctx.last_step(), 2);
}

TEST_F(PsLoadTestTaskTest, UnreachableShardsFailTheTask) {
  PsClientOptions o;
  o.max_retries = 0;
  o.rpc_timeout = absl::Seconds(2);
  auto dead = PsClient::Connect({"127.0.0.1:1"}, o);
  ASSERT_TRUE(dead.ok());
  PsLoadTestTask task(dead->get());
  FakeTaskContext ctx;
  auto m = task.Run(Assignment(Small()), &ctx);
  EXPECT_EQ(m.status().code(), absl::StatusCode::kUnavailable);
}

TEST(LoadTestTargetTest, IsAPureFunctionInMinusOneToOne) {
  for (uint64_t k = 0; k < 1000; ++k) {
    const float v = LoadTestTarget(1, 0, k, 3);
    EXPECT_EQ(v, LoadTestTarget(1, 0, k, 3));
    EXPECT_GE(v, -1.f);
    EXPECT_LT(v, 1.f);
  }
  EXPECT_NE(LoadTestTarget(1, 0, 5, 0), LoadTestTarget(1, 1, 5, 0));
}

}  // namespace
}  // namespace strata
