#include "worker/tasks/ps_load_test.h"

#include <atomic>

#include "gtest/gtest.h"
#include "server/jobs/job_types.h"
#include "server/ps/testing/local_shards.h"

namespace strata {
namespace {

class FakeContext : public TaskContext {
 public:
  bool cancelled() const override { return cancel_after_ >= 0 && reports_ >= cancel_after_; }
  void ReportProgress(int64_t step, int64_t total, const TaskMetrics&) override {
    ++reports_;
    last_step_ = step;
    total_ = total;
  }
  int cancel_after_ = -1;
  std::atomic<int> reports_{0};
  int64_t last_step_ = 0, total_ = 0;
};

class PsLoadTestTaskTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto shards = testing::LocalShards::Start(2);
    ASSERT_TRUE(shards.ok()) << shards.status();
    shards_ = std::move(*shards);
    addrs_ = shards_->addresses();
    client_ = shards_->client();
  }
  TaskAssignment Assignment(PsLoadTestSpec spec, uint32_t rank = 0) {
    TaskAssignment a;
    a.set_rank(rank);
    a.set_num_tasks(1);
    *a.mutable_spec()->mutable_ps_load_test() = spec;
    // What the coordinator would assign: the prepared spec.
    const absl::Status prepared = jobs::PrepareJobSpec({}, a.mutable_spec());
    EXPECT_TRUE(prepared.ok()) << prepared;
    for (const auto& addr : addrs_) a.add_ps_addresses(addr);
    return a;
  }
  std::unique_ptr<testing::LocalShards> shards_;
  std::vector<std::string> addrs_;
  PsClient* client_ = nullptr;  // owned by shards_
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
  PsLoadTestTask task(client_);
  FakeContext ctx;
  auto m = task.Run(Assignment(Small()), &ctx);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->at("verified_keys"), 3000);
  EXPECT_EQ(m->at("mismatches"), 0);
  EXPECT_GT(m->at("pull_keys_per_s"), 0);
  EXPECT_EQ(ctx.last_step_, 12);  // 4 batches x 3 rounds
  EXPECT_EQ(ctx.total_, 12);
}

TEST_F(PsLoadTestTaskTest, ConnectsToTheAssignedShardsWithoutAClient) {
  PsLoadTestTask task;
  FakeContext ctx;
  auto m = task.Run(Assignment(Small()), &ctx);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->at("verified_keys"), 3000);
}

TEST_F(PsLoadTestTaskTest, VerifyExistingPassesAfterAWriteAndFailsOnOtherData) {
  PsLoadTestTask task(client_);
  FakeContext ctx;
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
  PsLoadTestTask task(client_);
  FakeContext ctx;
  ctx.cancel_after_ = 2;
  auto m = task.Run(Assignment(Small()), &ctx);
  EXPECT_EQ(m.status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(ctx.last_step_, 2);
}

TEST_F(PsLoadTestTaskTest, UnreachableShardsFailTheTask) {
  PsClientOptions o;
  o.max_retries = 0;
  o.rpc_timeout = absl::Seconds(2);
  auto dead = PsClient::Connect({"127.0.0.1:1"}, o);
  ASSERT_TRUE(dead.ok());
  PsLoadTestTask task(dead->get());
  FakeContext ctx;
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
