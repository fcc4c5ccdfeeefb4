#include "server/coordinator/tensor_reaper.h"

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "server/ps/testing/local_shards.h"

namespace strata {
namespace {

class TensorReaperTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto shards = testing::LocalShards::Start(2);
    ASSERT_TRUE(shards.ok()) << shards.status();
    shards_ = std::move(*shards);
  }
  void Dense(const std::string& name) {
    DenseConfig d;
    d.set_name(name);
    d.set_size(16);
    d.mutable_optimizer()->set_type(OptimizerConfig::SGD);
    d.mutable_optimizer()->set_learning_rate(0.1f);
    const auto r = shards_->client()->admin().CreateDense(d, true);
    ASSERT_TRUE(r.ok()) << r.status();
  }
  void Sparse(const std::string& name) {
    TableConfig t;
    t.set_name(name);
    t.set_dim(4);
    t.mutable_optimizer()->set_type(OptimizerConfig::SGD);
    t.mutable_optimizer()->set_learning_rate(0.1f);
    const absl::Status s =
        AllOk(shards_->client()->admin().CreateTable(t, true));
    ASSERT_TRUE(s.ok()) << s;
  }
  std::vector<std::string> Names() {
    std::vector<std::string> names;
    for (const auto& shard : shards_->client()->admin().ListTables()) {
      for (const TableInfo& t : shard.response->tables()) {
        names.push_back(t.name());
      }
    }
    std::sort(names.begin(), names.end());
    names.erase(std::unique(names.begin(), names.end()), names.end());
    return names;
  }
  TensorReaper::ShardAddresses Addresses() {
    return [this]() -> absl::StatusOr<std::vector<std::string>> {
      return shards_->addresses();
    };
  }

  std::unique_ptr<testing::LocalShards> shards_;
};

TEST_F(TensorReaperTest, DropsExactlyTheJobsPrefixedTensors) {
  for (const char* n : {"job-1/conv/w0", "job-1/conv/w1", "job-1/fc/w"}) {
    Dense(n);
  }
  Sparse("job-1/emb");
  Dense("job-11/conv/w0");  // another job whose id starts alike
  Dense("job-1");           // not under the job's prefix
  Sparse("ctr");
  TensorReaper reaper({}, Addresses());
  absl::StatusOr<int> dropped = reaper.ReapNow("job-1");
  ASSERT_TRUE(dropped.ok()) << dropped.status();
  EXPECT_EQ(*dropped, 4);
  EXPECT_EQ(Names(), (std::vector<std::string>{"ctr", "job-1",
                                               "job-11/conv/w0"}));
  EXPECT_EQ(*reaper.ReapNow("job-1"), 0);  // nothing left: still fine
}

TEST_F(TensorReaperTest, EnqueuedJobsAreReapedInTheBackground) {
  Dense("job-3/conv/w0");
  TensorReaper reaper({}, Addresses());
  reaper.Enqueue({"job-3"});
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (reaper.dropped() < 1 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(reaper.dropped(), 1);
  EXPECT_TRUE(Names().empty());
}

TEST_F(TensorReaperTest, UnknownShardsAreRetriedThenTheJobIsReaped) {
  Dense("job-4/conv/w0");
  int calls = 0;
  TensorReaper::Options o;
  o.retry_interval = absl::Milliseconds(10);
  TensorReaper reaper(o, [&]() -> absl::StatusOr<std::vector<std::string>> {
    if (++calls < 3) return absl::UnavailableError("shard 1 not registered");
    return shards_->addresses();
  });
  reaper.Enqueue({"job-4"});
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (reaper.dropped() < 1 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(reaper.dropped(), 1);
  EXPECT_GE(calls, 3);
}

TEST_F(TensorReaperTest, ResetNowFailsWhileTheShardsAreIncomplete) {
  TensorReaper reaper({}, []() -> absl::StatusOr<std::vector<std::string>> {
    return absl::UnavailableError("shard 1 of 2 is not registered");
  });
  const absl::Status s = reaper.ResetNow("job-5/");
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(s.message(), "shard 1 of 2 is not registered");
}

}  // namespace
}  // namespace strata
