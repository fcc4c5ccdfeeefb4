#include "worker/cnn/resume.h"

#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/casts.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "server/client/per_shard.h"
#include "server/ps/testing/local_shards.h"

namespace strata {
namespace cnn {
namespace {

TaskAssignment WithRecords(const std::vector<std::string>& records) {
  TaskAssignment a;
  for (const std::string& r : records) a.add_resume(r);
  return a;
}

TEST(ResumeRecordsTest, WorkersResumeAfterTheLeastRecordedStep) {
  const TaskAssignment a = WithRecords(
      {StepRecord(12), StepRecord(11), SnapshotRecord(10), SnapshotRecord(5)});
  EXPECT_EQ(RecordedNextStep(a, 0, 2), 12);
  EXPECT_EQ(RecordedNextStep(a, 0, 1), 13);
  EXPECT_EQ(RecordedSnapshot(a, 2, 2), 5);
  EXPECT_EQ(RecordedSnapshot(a, 2, 1), 10);
}

TEST(ResumeRecordsTest, AMissingOrForeignRecordMeansFromTheStart) {
  // Rank 1 never saved one; rank 2's is of another kind or garbage.
  const TaskAssignment a =
      WithRecords({StepRecord(12), "", "snapshot=x", "step=-4"});
  EXPECT_EQ(RecordedNextStep(a, 0, 2), 1);
  EXPECT_EQ(RecordedNextStep(a, 3, 1), 1);
  EXPECT_EQ(RecordedSnapshot(a, 2, 1), 0);
  EXPECT_EQ(RecordedSnapshot(a, 0, 1), 0);
  // Ranks past the list (a first attempt has none) have no record.
  EXPECT_EQ(RecordedNextStep(TaskAssignment(), 0, 3), 1);
  EXPECT_EQ(RecordedSnapshot(TaskAssignment(), 1, 1), 0);
}

class FcSnapshotsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto shards = testing::LocalShards::Start(2);
    ASSERT_TRUE(shards.ok()) << shards.status();
    shards_ = std::move(*shards);
  }
  PsClient* client() { return shards_->client(); }
  // Distinct values with every exponent range a weight may have.
  static std::vector<float> Values(size_t n, float seed) {
    std::vector<float> v(n);
    for (size_t i = 0; i < n; ++i) {
      v[i] = seed * std::sin(1.0f + i) * std::pow(10.0f, int(i % 13) - 6);
    }
    v[0] = std::numeric_limits<float>::denorm_min();
    v[1] = -1e14f;  // the shards refuse |values| over --max_abs_gradient
    return v;
  }
  std::unique_ptr<testing::LocalShards> shards_;
};

TEST_F(FcSnapshotsTest, ASnapshotReadsBackBitForBit) {
  FcSnapshots snaps(client(), "job-1", 1, 10);
  const std::vector<float> w = Values(1000, 0.3f), v = Values(1000, -2.0f);
  {
    absl::Status st = snaps.Write(10, w, v);
    ASSERT_TRUE(st.ok()) << st;
  }
  auto got = snaps.Load(10, w.size());
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->step, 10);
  ASSERT_EQ(got->weights.size(), w.size());
  for (size_t i = 0; i < w.size(); ++i) {
    // The same bits (not only ==).
    EXPECT_EQ(absl::bit_cast<uint32_t>(got->weights[i]),
              absl::bit_cast<uint32_t>(w[i]))
        << i;
    EXPECT_EQ(absl::bit_cast<uint32_t>(got->velocity[i]),
              absl::bit_cast<uint32_t>(v[i]))
        << i;
  }
  // Another FC rank of the job has none.
  EXPECT_EQ(
      FcSnapshots(client(), "job-1", 0, 10).Load(10, w.size()).status().code(),
      absl::StatusCode::kNotFound);
}

TEST_F(FcSnapshotsTest, GenerationsAlternateAndTheTargetWinsOverNewer) {
  FcSnapshots snaps(client(), "job-1", 0, 10);
  for (int64_t step : {10, 20, 30}) {
    ASSERT_TRUE(snaps.Write(step, Values(8, step), Values(8, -step)).ok());
  }
  // 30 overwrote 10's generation.
  EXPECT_EQ(snaps.Load(30, 8)->step, 30);
  EXPECT_EQ(snaps.Load(20, 8)->step, 20);
  EXPECT_EQ(snaps.Load(20, 8)->weights, Values(8, 20));
  EXPECT_EQ(snaps.Load(10, 8)->step, 30);  // gone: the newest
  EXPECT_EQ(snaps.Load(30, 9).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(FcSnapshotsTest, ATornNewestGenerationFallsBackToTheOlder) {
  FcSnapshots snaps(client(), "job-1", 0, 10);
  ASSERT_TRUE(snaps.Write(10, Values(8, 1), Values(8, 2)).ok());
  ASSERT_TRUE(snaps.Write(20, Values(8, 3), Values(8, 4)).ok());
  // The FC node died writing step 40 over step 20's generation: its step
  // tensor is dropped first, its weights half written.
  EXPECT_EQ(snaps.Name(0, "step"), "job-1/snap/0/fc0/step");
  ASSERT_TRUE(
      OkOnSomeShard(client()->admin().DropTable(snaps.Name(0, "step"))).ok());
  auto got = snaps.Load(20, 8);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->step, 10);
  EXPECT_EQ(got->weights, Values(8, 1));
  EXPECT_EQ(got->velocity, Values(8, 2));
}

TEST_F(FcSnapshotsTest, LeastDenseStepCountsMissingTensorsAsFresh) {
  DenseConfig c;
  c.set_name("job-1/conv/a");
  c.set_size(2);
  c.mutable_optimizer()->set_type(OptimizerConfig::SGD);
  c.mutable_optimizer()->set_learning_rate(1.0f);
  c.set_sync(ASYNC);
  ASSERT_TRUE(client()->admin().CreateDense(c, false).ok());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(client()->PushDense("job-1/conv/a", {0, 0}, 0, 0).ok());
  }
  EXPECT_EQ(*LeastDenseStep(client(), {"job-1/conv/a"}), 3);
  EXPECT_EQ(*LeastDenseStep(client(), {"job-1/conv/a", "job-1/conv/b"}), 1);
}

}  // namespace
}  // namespace cnn
}  // namespace strata
