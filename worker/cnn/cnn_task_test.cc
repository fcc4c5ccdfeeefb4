#include "worker/cnn/cnn_task.h"

#include <algorithm>
#include <cmath>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "worker/nn/cpu_backend.h"
#include "worker/nn/model_zoo.h"
#include "worker/nn/trainer.h"
#include "worker/cnn/fc_service.h"
#include "worker/testing/task_fixture.h"

namespace strata {
namespace cnn {
namespace {

using testing::FakeTaskContext;

CnnTrainSpec SmallSpec(CnnTrainSpec::Mode mode, uint32_t conv, uint32_t fc) {
  CnnTrainSpec c;
  c.set_model("lenet5");
  c.mutable_data()->set_synthetic_train(256);
  c.mutable_data()->set_synthetic_test(64);
  c.mutable_data()->set_seed(7);
  c.set_mode(mode);
  c.set_num_conv_workers(conv);
  c.set_num_fc_nodes(fc);
  c.set_batch_size(16);
  c.set_learning_rate(0.05f);
  c.set_momentum(0.9f);
  c.set_weight_decay(5e-4f);
  c.set_lr_epoch_decay(1.0f);
  c.set_steps(6);
  c.set_seed(1);
  c.set_device("cpu");
  c.set_fc_device("cpu");
  c.set_fc_role("fc");
  c.set_fc_average_every(2);
  c.set_eval_batch(32);
  c.set_step_timeout_s(20);
  return c;
}

// Single-process reference: the whole model, global batch conv x batch,
// the same shuffles and SGD. Returns every parameter in model order.
std::vector<std::vector<float>> Reference(const CnnTrainSpec& spec) {
  nn::CpuBackend cpu;
  nn::Model model = *nn::BuildModel(spec.model());
  EXPECT_TRUE(model.net.Init(&cpu, spec.seed()).ok());
  CnnData data = *LoadCnnData(spec, model.image_shape);
  nn::Trainer::Options o;
  const int64_t global = spec.batch_size() * spec.num_conv_workers();
  o.batch_size = global;
  o.sgd = {spec.learning_rate(), spec.momentum(), spec.weight_decay()};
  nn::Trainer trainer(&model.net, &cpu, o);
  const std::vector<int64_t> order =
      nn::ShuffledIndices(data.train.size(), spec.seed());
  std::vector<float> images(global * data.train.ImageSize());
  std::vector<int32_t> labels(global);
  for (uint32_t t = 0; t < spec.steps(); ++t) {
    EXPECT_TRUE(nn::GatherBatch(data.train, order, t * global, global,
                                absl::MakeSpan(images), absl::MakeSpan(labels))
                    .ok());
    EXPECT_TRUE(trainer.Step(model.InputShape(global), images, labels).ok());
  }
  std::vector<std::vector<float>> out;
  for (nn::Parameter* p : model.net.Params()) out.push_back(*p->value.ToHost());
  return out;
}

void ExpectNear(const std::vector<float>& got, const std::vector<float>& want,
                float tol, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  float worst = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    worst = std::max(worst, std::abs(got[i] - want[i]) /
                                std::max(1.0f, std::abs(want[i])));
  }
  EXPECT_LE(worst, tol) << what;
}

class CnnTaskTest : public testing::TaskFixture {
 protected:
  void SetUp() override {
    TaskFixture::SetUp();
    if (HasFatalFailure()) return;
    auto fc = StartFcServer("127.0.0.1:0", 64 << 20);
    ASSERT_TRUE(fc.ok()) << fc.status();
    fc_ = std::move(*fc);
  }
  TaskAssignment Assign(const CnnTrainSpec& c, uint32_t rank,
                        const std::vector<std::string>& fc_addrs) {
    JobSpec spec;
    *spec.mutable_cnn_train() = c;
    TaskAssignment a = TaskFixture::Assign(
        spec, rank, c.num_conv_workers() + c.num_fc_nodes());
    a.set_job_id(job_id_);
    a.set_role(rank < c.num_conv_workers() ? "conv" : "fc");
    for (const auto& addr : fc_addrs) a.add_fc_addresses(addr);
    return a;
  }
  // Runs every task of the job on its own thread; returns their results.
  std::vector<absl::StatusOr<TaskMetrics>> RunJob(
      const CnnTrainSpec& c, const std::vector<std::string>& fc_addrs,
      std::vector<float>* fc_weights) {
    const uint32_t n = c.num_conv_workers() + c.num_fc_nodes();
    std::vector<absl::StatusOr<TaskMetrics>> results(n);
    std::vector<std::unique_ptr<CnnTrainTask>> tasks;
    std::vector<std::thread> threads;
    for (uint32_t r = 0; r < n; ++r) {
      tasks.push_back(std::make_unique<CnnTrainTask>(fc_.host.get()));
      threads.emplace_back([&, r] {
        FakeTaskContext ctx;
        results[r] = tasks[r]->Run(Assign(c, r, fc_addrs), &ctx);
      });
    }
    for (auto& t : threads) t.join();
    if (fc_weights != nullptr && c.num_fc_nodes() > 0) {
      *fc_weights = tasks[c.num_conv_workers()]->fc_weights();
    }
    return results;
  }
  std::vector<float> PsValue(const std::string& name, int64_t step) {
    std::vector<float> v;
    auto s = client()->PullDense(name, step, &v);
    EXPECT_TRUE(s.ok()) << name << ": " << s.status();
    return v;
  }
  // Compares the job's final parameters with the single-process reference.
  void CheckAgainstReference(const CnnTrainSpec& c,
                             const std::vector<float>& fc_weights, float tol) {
    const auto want = Reference(c);
    nn::Model model = *nn::BuildModel(c.model());
    auto parts = *model.Split();
    size_t i = 0;
    const bool ps = c.mode() == CnnTrainSpec::PS;
    for (nn::Parameter* p : parts.first.Params()) {
      ExpectNear(PsValue(absl::StrCat(job_id_, ps ? "/all/" : "/conv/", p->name),
                         c.steps() + 1),
                 want[i++], tol, p->name);
    }
    std::vector<float> fc_want;
    size_t offset = 0;
    for (nn::Parameter* p : parts.second.Params()) {
      if (ps) {
        ExpectNear(PsValue(absl::StrCat(job_id_, "/all/", p->name), c.steps() + 1),
                   want[i], tol, p->name);
      } else {
        const std::vector<float> got(fc_weights.begin() + offset,
                                     fc_weights.begin() + offset + want[i].size());
        ExpectNear(got, want[i], tol, p->name);
        offset += want[i].size();
      }
      ++i;
    }
  }

  std::string job_id_ = "job-1";
  FcServer fc_;
};

TEST_F(CnnTaskTest, StanzaOneConvOneFcEqualsSingleProcessTraining) {
  const CnnTrainSpec c = SmallSpec(CnnTrainSpec::STANZA, 1, 1);
  std::vector<float> fc_weights;
  auto results = RunJob(c, {fc_.address}, &fc_weights);
  for (const auto& r : results) ASSERT_TRUE(r.ok()) << r.status();
  CheckAgainstReference(c, fc_weights, 1e-5f);
  const TaskMetrics& conv = *results[0];
  EXPECT_GT(conv.at("test_accuracy"), 0.0);
  EXPECT_GT(conv.at("worker_fc_sent_bytes"), 6 * 16 * 400 * 4);
  // 6 BSP pulls of the 2572 conv parameters.
  EXPECT_EQ(conv.at("worker_ps_recv_bytes"), 6 * 2572 * 4);
  EXPECT_EQ(results[1]->at("fc_steps"), 6);
  // The FC node also counts the evaluation batches after training.
  EXPECT_GT(results[1]->at("fc_conv_recv_bytes"), conv.at("worker_fc_sent_bytes"));
}

TEST_F(CnnTaskTest, StanzaTwoConvWorkersMergeIntoTheGlobalBatch) {
  job_id_ = "job-2";
  const CnnTrainSpec c = SmallSpec(CnnTrainSpec::STANZA, 2, 1);
  std::vector<float> fc_weights;
  auto results = RunJob(c, {fc_.address}, &fc_weights);
  for (const auto& r : results) ASSERT_TRUE(r.ok()) << r.status();
  // Summation order differs from one GEMM over the global batch.
  CheckAgainstReference(c, fc_weights, 1e-4f);
}

TEST_F(CnnTaskTest, PsModeTwoWorkersEqualSingleProcessWithGlobalBatch) {
  job_id_ = "job-3";
  const CnnTrainSpec c = SmallSpec(CnnTrainSpec::PS, 2, 0);
  auto results = RunJob(c, {}, nullptr);
  for (const auto& r : results) ASSERT_TRUE(r.ok()) << r.status();
  CheckAgainstReference(c, {}, 1e-4f);
  EXPECT_EQ(results[0]->at("worker_fc_sent_bytes"), 0);
}

TEST_F(CnnTaskTest, TwoFcNodesAverageTheirWeightsAndStayClose) {
  job_id_ = "job-4";
  const CnnTrainSpec c = SmallSpec(CnnTrainSpec::STANZA, 2, 1 + 1);
  auto fc2 = StartFcServer("127.0.0.1:0", 64 << 20);
  ASSERT_TRUE(fc2.ok());
  // FC node 1 runs on a second host; tasks pick their host by role/rank.
  const uint32_t n = 4;
  std::vector<absl::StatusOr<TaskMetrics>> results(n);
  std::vector<std::unique_ptr<CnnTrainTask>> tasks;
  std::vector<std::thread> threads;
  for (uint32_t r = 0; r < n; ++r) {
    tasks.push_back(std::make_unique<CnnTrainTask>(
        r == 3 ? fc2->host.get() : fc_.host.get()));
    threads.emplace_back([&, r] {
      FakeTaskContext ctx;
      results[r] = tasks[r]->Run(Assign(c, r, {fc_.address, fc2->address}), &ctx);
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& r : results) ASSERT_TRUE(r.ok()) << r.status();
  // The last step is an averaging round: both FC nodes end identical.
  EXPECT_EQ(tasks[2]->fc_weights(), tasks[3]->fc_weights());
  EXPECT_GT(results[3]->at("fc_peer_sent_bytes"), 0);
}

TEST_F(CnnTaskTest, DeadFcNodeFailsTheConvWorkerWithAClearError) {
  job_id_ = "job-5";
  const CnnTrainSpec c = SmallSpec(CnnTrainSpec::STANZA, 1, 1);
  CnnTrainTask task(fc_.host.get());
  FakeTaskContext ctx;
  // Nothing listens on port 1.
  auto r = task.Run(Assign(c, 0, {"127.0.0.1:1"}), &ctx);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
  EXPECT_NE(r.status().message().find("FC node 0 (127.0.0.1:1) failed at step 1"),
            std::string::npos)
      << r.status();
}

TEST_F(CnnTaskTest, FcRoleWithoutServiceIsFailedPrecondition) {
  const CnnTrainSpec c = SmallSpec(CnnTrainSpec::STANZA, 1, 1);
  CnnTrainTask task(nullptr);
  FakeTaskContext ctx;
  auto r = task.Run(Assign(c, 1, {fc_.address}), &ctx);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace cnn
}  // namespace strata
