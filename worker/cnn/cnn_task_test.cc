#include "worker/cnn/cnn_task.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "glog/logging.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "server/jobs/cnn_model_spec.h"
#include "server/jobs/job_type.h"
#include "worker/cnn/fc_service.h"
#include "worker/cnn/internal/cifar_testing.h"
#include "worker/cnn/wire.h"
#include "worker/nn/cpu_backend.h"
#include "worker/nn/model_zoo.h"
#include "worker/nn/trainer.h"
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
  nn::Model model = *BuildJobModel(spec);
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

// Keeps the task's latest progress record (TaskContext::SaveResume).
class RecordingContext : public FakeTaskContext {
 public:
  void SaveResume(std::string record) override {
    absl::MutexLock lock(&mu_);
    record_ = std::move(record);
  }
  std::string record() const {
    absl::MutexLock lock(&mu_);
    return record_;
  }

 private:
  mutable absl::Mutex mu_;
  std::string record_ ABSL_GUARDED_BY(mu_);
};

// Keeps the test_accuracy_step of every progress report carrying one.
class MetricsContext : public FakeTaskContext {
 public:
  void ReportProgress(int64_t step, int64_t total_steps,
                      const TaskMetrics& metrics) override {
    FakeTaskContext::ReportProgress(step, total_steps, metrics);
    auto it = metrics.find("test_accuracy_step");
    if (it == metrics.end()) return;
    absl::MutexLock lock(&mu_);
    if (eval_steps_.empty() || eval_steps_.back() != it->second) {
      eval_steps_.push_back(static_cast<int64_t>(it->second));
    }
  }
  std::vector<int64_t> eval_steps() const {
    absl::MutexLock lock(&mu_);
    return eval_steps_;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<int64_t> eval_steps_ ABSL_GUARDED_BY(mu_);
};

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
    a.set_job_secret(secret_);
    a.set_role(rank < c.num_conv_workers() ? "conv" : "fc");
    for (const auto& addr : fc_addrs) a.add_fc_addresses(addr);
    return a;
  }
  // Runs every task of the job on its own thread; returns their results.
  // `eval_steps` (if not null) gets rank 0's streamed evaluation steps.
  std::vector<absl::StatusOr<TaskMetrics>> RunJob(
      const CnnTrainSpec& c, const std::vector<std::string>& fc_addrs,
      std::vector<float>* fc_weights,
      std::vector<int64_t>* eval_steps = nullptr) {
    const uint32_t n = c.num_conv_workers() + c.num_fc_nodes();
    std::vector<absl::StatusOr<TaskMetrics>> results(n);
    std::vector<std::unique_ptr<CnnTrainTask>> tasks;
    std::vector<MetricsContext> contexts(n);
    std::vector<std::thread> threads;
    for (uint32_t r = 0; r < n; ++r) {
      tasks.push_back(std::make_unique<CnnTrainTask>(fc_.host.get()));
      threads.emplace_back([&, r] {
        results[r] = tasks[r]->Run(Assign(c, r, fc_addrs), &contexts[r]);
      });
    }
    for (auto& t : threads) t.join();
    if (fc_weights != nullptr && c.num_fc_nodes() > 0) {
      *fc_weights = tasks[c.num_conv_workers()]->fc_weights();
    }
    if (eval_steps != nullptr) *eval_steps = contexts[0].eval_steps();
    return results;
  }
  // One attempt of the job: every task on its own thread, conv (or PS)
  // workers cancelled after `stop_after` steps when > 0. Returns the
  // results; `records` gets each rank's last progress record,
  // `fc_weights` FC node 0's final weights.
  std::vector<absl::StatusOr<TaskMetrics>> RunAttempt(
      const CnnTrainSpec& c, uint32_t attempt,
      const std::vector<std::string>& resume, int stop_after,
      std::vector<std::string>* records, std::vector<float>* fc_weights) {
    const uint32_t n = c.num_conv_workers() + c.num_fc_nodes();
    std::vector<absl::StatusOr<TaskMetrics>> results(n);
    std::vector<std::unique_ptr<CnnTrainTask>> tasks;
    std::vector<RecordingContext> contexts(n);
    std::vector<std::thread> threads;
    for (uint32_t r = 0; r < n; ++r) {
      if (stop_after > 0 && r < c.num_conv_workers()) {
        contexts[r].CancelAfterReports(stop_after);
      }
      tasks.push_back(std::make_unique<CnnTrainTask>(fc_.host.get()));
      TaskAssignment a = Assign(c, r, {fc_.address});
      a.set_attempt(attempt);
      for (const std::string& record : resume) a.add_resume(record);
      threads.emplace_back(
          [&, r, a] { results[r] = tasks[r]->Run(a, &contexts[r]); });
    }
    for (auto& t : threads) t.join();
    records->clear();
    for (auto& ctx : contexts) records->push_back(ctx.record());
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
    nn::Model model = *BuildJobModel(c);
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
  std::string secret_ = "0123456789abcdef";
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

// SmallSpec with a network of its own (every layer type, a strided conv,
// the split after the flatten) instead of the lenet5 preset.
CnnTrainSpec CustomSpec(CnnTrainSpec::Mode mode, uint32_t conv, uint32_t fc,
                        float dropout) {
  CnnTrainSpec c = SmallSpec(mode, conv, fc);
  c.clear_model();
  CnnModelSpec* m = c.mutable_model_spec();
  m->set_channels(1);
  m->set_height(28);
  m->set_width(28);
  auto add = [m](CnnLayerSpec::Type type, uint32_t out, uint32_t kernel,
                 uint32_t stride, uint32_t padding) {
    CnnLayerSpec* l = m->add_layers();
    l->set_type(type);
    l->set_out(out);
    l->set_kernel(kernel);
    l->set_stride(stride);
    l->set_padding(padding);
    return l;
  };
  add(CnnLayerSpec::CONV, 4, 5, 0, 2);  // 4x28x28
  add(CnnLayerSpec::RELU, 0, 0, 0, 0);
  add(CnnLayerSpec::MAX_POOL, 0, 2, 0, 0);  // 4x14x14
  add(CnnLayerSpec::CONV, 8, 3, 2, 0);  // 8x6x6
  add(CnnLayerSpec::RELU, 0, 0, 0, 0);
  add(CnnLayerSpec::FLATTEN, 0, 0, 0, 0);  // 288: the boundary
  add(CnnLayerSpec::LINEAR, 32, 0, 0, 0);
  add(CnnLayerSpec::RELU, 0, 0, 0, 0);
  add(CnnLayerSpec::DROPOUT, 0, 0, 0, 0)->set_rate(dropout);
  add(CnnLayerSpec::LINEAR, 10, 0, 0, 0);
  return c;
}

jobs::CnnModelInfo InfoOf(const CnnTrainSpec& c) {
  jobs::CnnModelDef def;
  absl::StatusOr<jobs::CnnModelInfo> info =
      jobs::InferSpecModel(c, jobs::CnnModelLimits(), &def);
  EXPECT_TRUE(info.ok()) << info.status();
  return *info;
}

TEST_F(CnnTaskTest, SpecDefinedModelTrainsInStanzaWithTheFormulasBytes) {
  job_id_ = "job-custom-stanza";
  const CnnTrainSpec c = CustomSpec(CnnTrainSpec::STANZA, 1, 1, 0.25f);
  const jobs::CnnModelInfo info = InfoOf(c);
  ASSERT_EQ(info.boundary, 288);
  ASSERT_EQ(info.conv_params, 4 * 25 + 4 + 8 * 36 + 8);
  std::vector<float> fc_weights;
  auto results = RunJob(c, {fc_.address}, &fc_weights);
  for (const auto& r : results) ASSERT_TRUE(r.ok()) << r.status();
  CheckAgainstReference(c, fc_weights, 1e-5f);
  const TaskMetrics& conv = *results[0];
  const jobs::StepBytes want = jobs::StanzaStepBytes(info, 16, false);
  // Exact: the BSP pulls of the conv parameters, one per step.
  EXPECT_EQ(conv.at("worker_ps_recv_bytes"), c.steps() * want.ps_pull);
  // Activations out, their gradients back: the formula, plus the labels
  // (4 bytes an image), the fields of each message (< 32 bytes) and the
  // job id and secret of the stream's first message (< 64 bytes).
  const double acts = c.steps() * want.fc_sent;
  EXPECT_GE(conv.at("worker_fc_sent_bytes"), acts + c.steps() * 4 * 16);
  EXPECT_LE(conv.at("worker_fc_sent_bytes"),
            acts + c.steps() * (4 * 16 + 32) + 64);
  EXPECT_GE(conv.at("worker_fc_recv_bytes"), c.steps() * want.fc_recv);
  EXPECT_LE(conv.at("worker_fc_recv_bytes"),
            c.steps() * (want.fc_recv + 32));
}

TEST_F(CnnTaskTest, SpecDefinedModelTrainsInPsModeWithTheFormulasBytes) {
  job_id_ = "job-custom-ps";
  // Dropout 0: each worker's mask would differ from the single process's.
  const CnnTrainSpec c = CustomSpec(CnnTrainSpec::PS, 2, 0, 0.0f);
  const jobs::CnnModelInfo info = InfoOf(c);
  auto results = RunJob(c, {}, nullptr);
  for (const auto& r : results) ASSERT_TRUE(r.ok()) << r.status();
  CheckAgainstReference(c, {}, 1e-4f);
  const jobs::StepBytes want = jobs::PsStepBytes(info);
  for (const auto& r : results) {
    EXPECT_EQ(r->at("worker_ps_recv_bytes"), c.steps() * want.ps_pull);
    EXPECT_EQ(r->at("worker_fc_sent_bytes"), 0);
  }
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

TEST_F(CnnTaskTest, AStanzaTaskWithoutAJobSecretIsFailedPrecondition) {
  const CnnTrainSpec c = SmallSpec(CnnTrainSpec::STANZA, 1, 1);
  secret_.clear();
  for (uint32_t rank : {0u, 1u}) {
    CnnTrainTask task(fc_.host.get());
    FakeTaskContext ctx;
    auto r = task.Run(Assign(c, rank, {fc_.address}), &ctx);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_NE(r.status().message().find("job secret"), std::string::npos)
        << r.status();
  }
}

TEST_F(CnnTaskTest, AConvWorkerWithAnotherJobSecretIsPermissionDenied) {
  job_id_ = "job-6";
  const CnnTrainSpec c = SmallSpec(CnnTrainSpec::STANZA, 1, 1);
  const TaskAssignment fc_assignment = Assign(c, 1, {fc_.address});
  secret_ = "fedcba9876543210";
  const TaskAssignment conv_assignment = Assign(c, 0, {fc_.address});
  CnnTrainTask fc_task(fc_.host.get());
  FakeTaskContext fc_ctx;
  absl::StatusOr<TaskMetrics> fc_result;
  std::thread fc_thread(
      [&] { fc_result = fc_task.Run(fc_assignment, &fc_ctx); });
  CnnTrainTask conv(fc_.host.get());
  FakeTaskContext ctx;
  auto r = conv.Run(conv_assignment, &ctx);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied)
      << r.status();
  EXPECT_NE(r.status().message().find("wrong or missing job secret"),
            std::string::npos)
      << r.status();
  // The FC task still waits for its conv worker, until it is cancelled.
  fc_ctx.Cancel();
  fc_thread.join();
  EXPECT_EQ(fc_result.status().code(), absl::StatusCode::kCancelled);
}

// An FC node that answers every batch with NaN gradients.
class NanFcService final : public StanzaFc::Service {
  grpc::Status Train(grpc::ServerContext*,
                     grpc::ServerReaderWriter<GradientBatch, ActivationBatch>*
                         stream) override {
    ActivationBatch in;
    while (stream->Read(&in)) {
      GradientBatch out;
      out.set_step(in.step());
      std::vector<float> g(in.batch() * in.features(), 0.5f);
      g[g.size() / 2] = std::nanf("");
      PackFloats(g, FLOAT32, out.mutable_gradients());
      if (!stream->Write(out)) break;
    }
    return grpc::Status::OK;
  }
};

TEST_F(CnnTaskTest, NonFiniteGradientsFailTheConvWorkerWithAClearError) {
  job_id_ = "job-7";
  NanFcService nan_fc;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                           &port);
  builder.RegisterService(&nan_fc);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  const CnnTrainSpec c = SmallSpec(CnnTrainSpec::STANZA, 1, 1);
  CnnTrainTask task(fc_.host.get());
  FakeTaskContext ctx;
  auto r = task.Run(Assign(c, 0, {absl::StrCat("127.0.0.1:", port)}), &ctx);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument)
      << r.status();
  EXPECT_NE(r.status().message().find(absl::StrCat(
                "the gradient from FC node 0 (127.0.0.1:", port,
                ") at step 1 has a non-finite value (nan) at index 3200")),
            std::string::npos)
      << r.status();
  server->Shutdown();
}

TEST_F(CnnTaskTest, FcRoleWithoutServiceIsFailedPrecondition) {
  const CnnTrainSpec c = SmallSpec(CnnTrainSpec::STANZA, 1, 1);
  CnnTrainTask task(nullptr);
  FakeTaskContext ctx;
  auto r = task.Run(Assign(c, 1, {fc_.address}), &ctx);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
}

// A restarted STANZA job (attempt 1, every rank's record) resumes where the
// conv parameters are on the shards and the FC nodes from their snapshot.
// Stopped right after a snapshot and with momentum 0 (the conv workers'
// momentum is not kept across restarts) it trains exactly what an
// uninterrupted run trains.
TEST_F(CnnTaskTest, StanzaStoppedAtASnapshotResumesExactly) {
  job_id_ = "job-resume-1";
  CnnTrainSpec c = SmallSpec(CnnTrainSpec::STANZA, 1, 1);
  c.set_steps(12);
  c.set_checkpoint_every_steps(4);
  c.set_momentum(-1);  // none
  std::vector<std::string> records;
  auto first = RunAttempt(c, 0, {}, 8, &records, nullptr);
  EXPECT_EQ(first[0].status().code(), absl::StatusCode::kCancelled);
  EXPECT_FALSE(first[1].ok());  // its conv worker went away
  EXPECT_EQ(records, (std::vector<std::string>{"step=8", "snapshot=8"}));

  std::vector<float> fc_weights;
  std::vector<std::string> after;
  auto second = RunAttempt(c, 1, records, 0, &after, &fc_weights);
  for (const auto& r : second) ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(second[0]->at("steps"), 4);  // 9..12
  EXPECT_EQ(second[1]->at("fc_steps"), 12);
  EXPECT_EQ(after[0], "step=12");
  CnnTrainSpec reference = c;
  reference.set_momentum(0);
  CheckAgainstReference(reference, fc_weights, 1e-5f);
}

// Stopped between snapshots, the FC part restarts from the older snapshot
// (the steps since are lost for it) while the conv part keeps its steps:
// the result differs slightly from an uninterrupted run's, so only the
// test accuracy is compared.
// VGG (3x32x32) on a tiny generated CIFAR-10 directory, evaluated every
// 2 steps: both modes train, augment, and stream the test accuracy.
TEST_F(CnnTaskTest, CifarJobsTrainInBothModesAndStreamTestAccuracy) {
  const std::string dir = absl::StrCat(getenv("TEST_TMPDIR"), "/cifar");
  ASSERT_TRUE(internal::WriteCifar10Dir(dir, 2, 8, 6).ok());
  for (const auto mode : {CnnTrainSpec::STANZA, CnnTrainSpec::PS}) {
    const bool stanza = mode == CnnTrainSpec::STANZA;
    job_id_ = stanza ? "job-cifar-stanza" : "job-cifar-ps";
    CnnTrainSpec c = SmallSpec(mode, 1, stanza ? 1 : 0);
    c.set_model("vgg");
    c.mutable_data()->set_cifar10_dir(dir);
    c.mutable_data()->set_eval_every_steps(2);
    c.set_batch_size(4);
    c.set_steps(5);
    c.set_eval_batch(4);
    c.set_learning_rate(0.002f);  // VGG diverges at SmallSpec's 0.05
    std::vector<int64_t> eval_steps;
    const std::vector<std::string> fc_addrs =
        stanza ? std::vector<std::string>{fc_.address}
               : std::vector<std::string>{};
    auto results = RunJob(c, fc_addrs, nullptr, &eval_steps);
    for (const auto& r : results) ASSERT_TRUE(r.ok()) << r.status();
    const TaskMetrics& m = *results[0];
    EXPECT_EQ(m.at("steps"), 5) << job_id_;
    EXPECT_GE(m.at("test_accuracy"), 0.0) << job_id_;
    EXPECT_EQ(m.at("test_accuracy_step"), 5) << job_id_;
    // After steps 2 and 4 (reported with steps 3 and 5), then the end.
    EXPECT_EQ(eval_steps, (std::vector<int64_t>{2, 4})) << job_id_;
  }
}

// The worker's --max_task_dataset_mb (SetTaskDatasetCap) bounds a task's
// CIFAR-10 files: a split over it, or train and test together over it,
// fail the task RESOURCE_EXHAUSTED naming the flag; exactly at it, the job
// trains.
TEST_F(CnnTaskTest, CifarDataOverTheWorkersDatasetCapIsResourceExhausted) {
  const std::string dir = absl::StrCat(getenv("TEST_TMPDIR"), "/cifar_cap");
  ASSERT_TRUE(internal::WriteCifar10Dir(dir, 2, 8, 6).ok());
  job_id_ = "job-cifar-cap";
  CnnTrainSpec c = SmallSpec(CnnTrainSpec::PS, 1, 0);
  c.set_model("vgg");
  c.mutable_data()->set_cifar10_dir(dir);
  c.set_batch_size(4);
  c.set_steps(2);
  c.set_eval_batch(4);
  c.set_learning_rate(0.002f);
  const uint64_t images = (16 + 6) * 3072 * sizeof(float);  // train + test
  struct Case {
    uint64_t cap;
    const char* message;
  };
  for (const Case& k :
       {Case{100000, "(this worker's --max_task_dataset_mb)"},  // train split
        Case{images - 1,
             "cnn_train.data: train and test images take 270336 "
             "bytes; this worker's --max_task_dataset_mb allows "
             "270335"}}) {
    SetTaskDatasetCap(k.cap);
    CnnTrainTask task(nullptr);
    FakeTaskContext ctx;
    auto r = task.Run(Assign(c, 0, {}), &ctx);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted)
        << k.cap << " " << r.status();
    EXPECT_NE(r.status().message().find(k.message), std::string::npos)
        << r.status();
  }
  SetTaskDatasetCap(images);
  auto results = RunJob(c, {}, nullptr);
  SetTaskDatasetCap(jobs::JobLimits().max_dataset_bytes);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_TRUE(results[0].ok()) << results[0].status();
}

TEST_F(CnnTaskTest, StanzaStoppedBetweenSnapshotsReachesTheSameAccuracy) {
  CnnTrainSpec c = SmallSpec(CnnTrainSpec::STANZA, 2, 1);
  // As //tests/integration:stanza_e2e_test, which learns (> 90 %).
  c.mutable_data()->set_synthetic_train(2048);
  c.mutable_data()->set_synthetic_test(512);
  c.set_batch_size(32);
  c.set_learning_rate(0.02f);
  c.set_steps(60);
  c.set_checkpoint_every_steps(16);
  std::vector<std::string> records;
  job_id_ = "job-resume-ref";
  auto whole = RunAttempt(c, 0, {}, 0, &records, nullptr);
  for (const auto& r : whole) ASSERT_TRUE(r.ok()) << r.status();
  job_id_ = "job-resume-2";
  RunAttempt(c, 0, {}, 40, &records, nullptr);
  EXPECT_EQ(records,
            (std::vector<std::string>{"step=40", "step=40", "snapshot=32"}));
  auto resumed = RunAttempt(c, 1, records, 0, &records, nullptr);
  for (const auto& r : resumed) ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(resumed[0]->at("steps"), 20);  // 41..60
  const double want = whole[0]->at("test_accuracy");
  const double got = resumed[0]->at("test_accuracy");
  LOG(INFO) << "test accuracy uninterrupted " << want << ", resumed " << got;
  EXPECT_GT(want, 0.9);
  EXPECT_NEAR(got, want, 0.01);
}

// No FC snapshot yet: the FC part restarts from the job's initialisation.
TEST_F(CnnTaskTest, StanzaStoppedBeforeTheFirstSnapshotRestartsTheFcPart) {
  job_id_ = "job-resume-3";
  CnnTrainSpec c = SmallSpec(CnnTrainSpec::STANZA, 1, 1);
  c.set_steps(8);
  c.set_checkpoint_every_steps(5);
  std::vector<std::string> records;
  RunAttempt(c, 0, {}, 3, &records, nullptr);
  EXPECT_EQ(records, (std::vector<std::string>{"step=3", ""}));
  auto resumed = RunAttempt(c, 1, records, 0, &records, nullptr);
  for (const auto& r : resumed) ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(resumed[0]->at("steps"), 5);  // 4..8
  EXPECT_EQ(records[1], "snapshot=5");
}

// PS mode keeps everything on the shards: a restarted BSP job equals the
// uninterrupted single-process training (momentum 0, see above).
TEST_F(CnnTaskTest, PsModeResumesFromTheShardsExactly) {
  job_id_ = "job-resume-4";
  CnnTrainSpec c = SmallSpec(CnnTrainSpec::PS, 2, 0);
  c.set_steps(8);  // one epoch, as Reference() takes
  c.set_momentum(-1);
  std::vector<std::string> records;
  auto first = RunAttempt(c, 0, {}, 4, &records, nullptr);
  EXPECT_EQ(first[0].status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(records, (std::vector<std::string>{"step=4", "step=4"}));
  auto second = RunAttempt(c, 1, records, 0, &records, nullptr);
  for (const auto& r : second) ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(second[1]->at("steps"), 4);
  CnnTrainSpec reference = c;
  reference.set_momentum(0);
  CheckAgainstReference(reference, {}, 1e-4f);
}

// ASYNC PS workers resume after their own recorded step.
TEST_F(CnnTaskTest, AsyncPsWorkersResumeAfterTheirRecordedStep) {
  job_id_ = "job-resume-5";
  CnnTrainSpec c = SmallSpec(CnnTrainSpec::PS, 1, 0);
  c.set_sync(CnnTrainSpec::ASYNC);
  c.set_steps(10);
  std::vector<std::string> records;
  RunAttempt(c, 0, {}, 6, &records, nullptr);
  EXPECT_EQ(records, (std::vector<std::string>{"step=6"}));
  auto second = RunAttempt(c, 1, records, 0, &records, nullptr);
  ASSERT_TRUE(second[0].ok()) << second[0].status();
  EXPECT_EQ(second[0]->at("steps"), 4);
  EXPECT_GT(second[0]->at("test_accuracy"), 0.0);
}

// ASYNC STANZA: the conv workers and the FC node agree on the step after
// the conv workers' records.
TEST_F(CnnTaskTest, AsyncStanzaResumesAfterTheConvWorkersRecords) {
  job_id_ = "job-resume-6";
  CnnTrainSpec c = SmallSpec(CnnTrainSpec::STANZA, 1, 1);
  c.set_sync(CnnTrainSpec::ASYNC);
  c.set_steps(8);
  c.set_checkpoint_every_steps(3);
  std::vector<std::string> records;
  RunAttempt(c, 0, {}, 5, &records, nullptr);
  EXPECT_EQ(records, (std::vector<std::string>{"step=5", "snapshot=3"}));
  auto second = RunAttempt(c, 1, records, 0, &records, nullptr);
  for (const auto& r : second) ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(second[0]->at("steps"), 3);  // 6..8
  EXPECT_EQ(second[1]->at("fc_steps"), 8);
  EXPECT_EQ(records[1], "snapshot=6");
}

}  // namespace
}  // namespace cnn
}  // namespace strata
