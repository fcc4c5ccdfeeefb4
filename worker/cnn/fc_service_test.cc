// The FC side of Stanza in one process: FcSession and FcServiceHost served
// over real gRPC on 127.0.0.1, driven by test conv streams. Answers are
// checked against the same FC part stepped in-process.
#include "worker/cnn/fc_service.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <future>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "proto/rpc_util.h"
#include "server/jobs/job_types.h"
#include "worker/nn/cpu_backend.h"
#include "worker/nn/loss.h"
#include "worker/nn/model_zoo.h"
#include "worker/nn/sequential.h"
#include "worker/nn/sgd.h"

namespace strata {
namespace cnn {
namespace {

using ::testing::HasSubstr;

// Bounds every wait so that a bug fails the test instead of hanging it.
constexpr absl::Duration kWait = absl::Seconds(30);
constexpr int64_t kRows = 4;        // rows per conv worker per step
constexpr int64_t kFeatures = 400;  // lenet5's boundary: 16 x 5 x 5
constexpr char kSecret[] = "0123456789abcdef";  // the job's, 128 bits

// A prepared STANZA lenet5 job of `conv` workers and `fc` FC nodes.
CnnPlan Plan(uint32_t conv, uint32_t fc, uint32_t average_every = 10) {
  JobSpec job;
  CnnTrainSpec* c = job.mutable_cnn_train();
  c->set_model("lenet5");
  c->set_mode(CnnTrainSpec::STANZA);
  c->set_num_conv_workers(conv);
  c->set_num_fc_nodes(fc);
  c->set_batch_size(kRows);
  c->set_learning_rate(0.05f);
  c->set_weight_decay(5e-4f);
  c->set_steps(4);
  c->set_fc_average_every(average_every);
  c->mutable_data()->set_synthetic_train(64);
  c->mutable_data()->set_synthetic_test(16);
  const absl::Status prepared = jobs::PrepareJobSpec({}, &job);
  EXPECT_TRUE(prepared.ok()) << prepared;
  absl::StatusOr<CnnPlan> plan = CnnPlan::Make(job.cnn_train(), 64);
  EXPECT_TRUE(plan.ok()) << plan.status();
  return *plan;
}

// The FC part of the plan's model, initialised from the spec's seed on
// `backend`.
std::shared_ptr<nn::Sequential> FcPart(const CnnPlan& plan,
                                       nn::Backend* backend) {
  nn::Model model = *BuildJobModel(plan.spec);
  auto fc = std::make_shared<nn::Sequential>(std::move(model.Split()->second));
  EXPECT_TRUE(fc->Init(backend, plan.spec.seed()).ok());
  return fc;
}

std::shared_ptr<FcSession> MakeSession(const CnnPlan& plan,
                                       FcSession::Options options) {
  absl::StatusOr<std::shared_ptr<FcSession>> session = FcSession::Create(
      plan, std::make_unique<nn::CpuBackend>(), std::move(options));
  EXPECT_TRUE(session.ok()) << session.status();
  return *session;
}

FcSession::Options SessionOptions(const std::string& job_id,
                                  uint32_t fc_rank = 0) {
  FcSession::Options o;
  o.job_id = job_id;
  o.job_secret = kSecret;
  o.fc_rank = fc_rank;
  o.step_timeout = kWait;
  return o;
}

// Rows of a conv worker: activations and labels drawn from `seed`.
struct Rows {
  std::vector<float> x;
  std::vector<int32_t> labels;
};
Rows MakeRows(int64_t rows, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  Rows r;
  for (int64_t i = 0; i < rows * kFeatures; ++i) r.x.push_back(normal(rng));
  for (int64_t i = 0; i < rows; ++i) r.labels.push_back(rng() % 10);
  return r;
}

// A conv worker's batch as its stream's first message: with the job secret.
ActivationBatch Batch(const std::string& job_id, uint32_t rank, int64_t step,
                      const Rows& rows, WireFormat format = FLOAT32) {
  ActivationBatch b;
  b.set_job_id(job_id);
  b.set_conv_rank(rank);
  b.set_job_secret(kSecret);
  b.set_step(step);
  b.set_batch(rows.labels.size());
  b.set_features(kFeatures);
  b.set_format(format);
  PackFloats(rows.x, format, b.mutable_activations());
  b.mutable_labels()->assign(reinterpret_cast<const char*>(rows.labels.data()),
                             rows.labels.size() * sizeof(int32_t));
  return b;
}

std::vector<float> Gradients(const GradientBatch& g) {
  std::vector<float> out(g.gradients().size() / 4);
  EXPECT_TRUE(UnpackFloats(g.gradients(), FLOAT32, absl::MakeSpan(out)).ok());
  return out;
}

// One FC step of the plan's FC part on `rows`, in this process.
struct Reference {
  float loss = 0;
  std::vector<float> dx;       // dL/d(activations), mean loss over all rows
  std::vector<float> weights;  // after the SGD step of step 1
};
Reference ReferenceStep(const CnnPlan& plan, const Rows& rows) {
  nn::CpuBackend cpu;
  std::shared_ptr<nn::Sequential> fc = FcPart(plan, &cpu);
  const int64_t n = rows.labels.size();
  nn::Tensor in = *nn::Tensor::FromHost(&cpu, {n, kFeatures}, rows.x);
  const nn::Tensor* logits = *fc->Forward(in, true);
  nn::SoftmaxCrossEntropyLoss loss;
  Reference r;
  r.loss = *loss.Compute(*logits, rows.labels);
  nn::Tensor dx;
  EXPECT_TRUE(fc->Backward(loss.grad(), &dx).ok());
  r.dx = *dx.ToHost();
  nn::Sgd sgd(fc->Params(), {plan.LearningRate(1), plan.spec.momentum(),
                             plan.spec.weight_decay()});
  EXPECT_TRUE(sgd.Step().ok());
  for (nn::Parameter* p : fc->Params()) {
    const std::vector<float> v = *p->value.ToHost();
    r.weights.insert(r.weights.end(), v.begin(), v.end());
  }
  return r;
}

void ExpectNear(const std::vector<float>& got, const std::vector<float>& want,
                const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_NEAR(got[i], want[i], 1e-5f * std::max(1.0f, std::abs(want[i])))
        << what << "[" << i << "]";
  }
}

// Polls `condition` until it holds (true) or kWait passed (false).
bool Eventually(const std::function<bool()>& condition) {
  const absl::Time deadline = absl::Now() + kWait;
  while (!condition()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(1));
  }
  return true;
}

Rows Concat(const Rows& a, const Rows& b) {
  Rows r = a;
  r.x.insert(r.x.end(), b.x.begin(), b.x.end());
  r.labels.insert(r.labels.end(), b.labels.begin(), b.labels.end());
  return r;
}

// A conv worker's Train stream to one FC host.
class ConvStream {
 public:
  explicit ConvStream(const std::string& address)
      : stub_(StanzaFc::NewStub(
            grpc::CreateChannel(address, grpc::InsecureChannelCredentials()))) {
    ctx_.set_deadline(absl::ToChronoTime(absl::Now() + kWait));
    stream_ = stub_->Train(&ctx_);
  }
  // Sends `batch` and returns the answer, or the stream's final status.
  absl::StatusOr<GradientBatch> Exchange(const ActivationBatch& batch) {
    GradientBatch out;
    if (stream_->Write(batch) && stream_->Read(&out)) return out;
    return FromGrpcStatus(stream_->Finish());
  }
  absl::Status Close() {
    stream_->WritesDone();
    return FromGrpcStatus(stream_->Finish());
  }
  void Cancel() { ctx_.TryCancel(); }

 private:
  std::unique_ptr<StanzaFc::Stub> stub_;
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReaderWriter<ActivationBatch, GradientBatch>>
      stream_;
};

class FcServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = StartFcServer("127.0.0.1:0", 16 << 20);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
  }
  // A session of `plan` for `job_id` registered on the server's host.
  std::shared_ptr<FcSession> Serve(const CnnPlan& plan,
                                   const std::string& job_id) {
    auto session = MakeSession(plan, SessionOptions(job_id));
    EXPECT_TRUE(server_.host->Register(job_id, session).ok());
    return session;
  }
  FcServer server_;
};

TEST_F(FcServiceTest, StartFcServerNamesTheBoundLoopbackAddress) {
  auto any = StartFcServer("0.0.0.0:0", 1 << 20);
  ASSERT_TRUE(any.ok()) << any.status();
  EXPECT_THAT(any->address, ::testing::StartsWith("127.0.0.1:"));
  EXPECT_NE(any->address, "127.0.0.1:0");
  EXPECT_EQ(StartFcServer("not an address", 1 << 20).status().code(),
            absl::StatusCode::kUnavailable);
}

TEST_F(FcServiceTest, ATrainStepAnswersTheGradientOfTheSendersRows) {
  const CnnPlan plan = Plan(1, 1);
  auto session = Serve(plan, "job-1");
  const Rows rows = MakeRows(kRows, 1);
  const Reference want = ReferenceStep(plan, rows);
  ConvStream conv(server_.address);
  absl::StatusOr<GradientBatch> got = conv.Exchange(Batch("job-1", 0, 1, rows));
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->step(), 1);
  EXPECT_EQ(got->merged_rows(), kRows);
  EXPECT_NEAR(got->loss(), want.loss, 1e-6);
  ExpectNear(Gradients(*got), want.dx, "dx");
  ExpectNear(*session->Weights(), want.weights, "weights after step 1");
  EXPECT_EQ(session->steps_done(), 1);
  // The same stream carries the next step; later batches may omit the job
  // and the secret.
  ActivationBatch next = Batch("", 0, 2, MakeRows(kRows, 2));
  next.clear_job_secret();
  ASSERT_TRUE(conv.Exchange(next).ok());
  EXPECT_EQ(session->steps_done(), 2);
  EXPECT_GT(session->traffic().conv_recv, 2 * kRows * kFeatures * 4);
  // A clean end of every stream ends the session's wait.
  EXPECT_TRUE(conv.Close().ok());
  EXPECT_TRUE(session->WaitDone(absl::Now() + kWait).ok());
}

TEST_F(FcServiceTest, TwoConvWorkersMergeIntoOneStepInRankOrder) {
  const CnnPlan plan = Plan(2, 1);
  auto session = Serve(plan, "job-1");
  const Rows rows0 = MakeRows(kRows, 1), rows1 = MakeRows(kRows, 2);
  const Reference want = ReferenceStep(plan, Concat(rows0, rows1));
  ConvStream conv0(server_.address), conv1(server_.address);
  // Rank 1 first: the merge order is the rank order, not the arrival order.
  auto got1 = std::async(std::launch::async, [&] {
    return conv1.Exchange(Batch("job-1", 1, 1, rows1));
  });
  absl::StatusOr<GradientBatch> got0 =
      conv0.Exchange(Batch("job-1", 0, 1, rows0));
  ASSERT_TRUE(got0.ok()) << got0.status();
  ASSERT_TRUE(got1.get().ok());
  EXPECT_EQ(got0->merged_rows(), 2 * kRows);
  EXPECT_NEAR(got0->loss(), want.loss, 1e-6);
  // Each answer is the gradient of the worker's own mean loss: twice its
  // rows of the merged mean's gradient.
  std::vector<float> dx0(want.dx.begin(), want.dx.begin() + kRows * kFeatures);
  for (float& g : dx0) g *= 2;
  ExpectNear(Gradients(*got0), dx0, "dx of rank 0");
  ExpectNear(*session->Weights(), want.weights, "weights after step 1");
}

TEST_F(FcServiceTest, EvalAnswersLossAndCorrectRowsWithoutTraining) {
  const CnnPlan plan = Plan(1, 1);
  auto session = Serve(plan, "job-1");
  const std::vector<float> before = *session->Weights();
  const Rows rows = MakeRows(kRows, 3);
  ActivationBatch eval = Batch("job-1", 0, 0, rows);
  eval.set_eval(true);
  ConvStream conv(server_.address);
  absl::StatusOr<GradientBatch> got = conv.Exchange(eval);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_NEAR(got->loss(), ReferenceStep(plan, rows).loss, 1e-6);
  EXPECT_LE(got->correct(), kRows);
  EXPECT_TRUE(got->gradients().empty());
  EXPECT_EQ(session->steps_done(), 0);
  EXPECT_EQ(*session->Weights(), before);
}

// A batch the FC node must refuse, the status its stream ends with and what
// the message names.
struct Malformed {
  std::string name;
  std::function<void(ActivationBatch*)> mutate;
  absl::StatusCode code;
  std::string message;
};
void PrintTo(const Malformed& m, std::ostream* os) { *os << m.name; }

class FcServiceMalformedTest : public FcServiceTest,
                               public ::testing::WithParamInterface<Malformed> {
};

TEST_P(FcServiceMalformedTest, EndsThatStreamOnlyAndTheSessionGoesOn) {
  const CnnPlan plan = Plan(1, 1);
  auto session = Serve(plan, "job-1");
  const std::vector<float> before = *session->Weights();
  ActivationBatch bad = Batch("job-1", 0, 1, MakeRows(kRows, 1));
  GetParam().mutate(&bad);
  ConvStream rogue(server_.address);
  absl::StatusOr<GradientBatch> got = rogue.Exchange(bad);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), GetParam().code) << got.status();
  EXPECT_THAT(std::string(got.status().message()),
              HasSubstr(GetParam().message));
  // Nothing changed: no step, no merge, the session still waits for rank 0.
  EXPECT_EQ(session->steps_done(), 0);
  EXPECT_EQ(session->traffic().conv_recv, 0);
  EXPECT_EQ(*session->Weights(), before);
  const absl::Status waiting =
      session->WaitDone(absl::Now() + absl::Milliseconds(10));
  EXPECT_EQ(waiting.code(), absl::StatusCode::kDeadlineExceeded) << waiting;
  // The rank is free again: the conv worker's own stream trains.
  ConvStream conv(server_.address);
  absl::StatusOr<GradientBatch> step1 =
      conv.Exchange(Batch("job-1", 0, 1, MakeRows(kRows, 1)));
  ASSERT_TRUE(step1.ok()) << step1.status();
  EXPECT_EQ(session->steps_done(), 1);
  EXPECT_TRUE(conv.Close().ok());
  EXPECT_TRUE(session->WaitDone(absl::Now() + kWait).ok());
}

// Sets activation `i` (float32) to `v`.
std::function<void(ActivationBatch*)> SetActivation(int i, float v) {
  return [i, v](ActivationBatch* b) {
    std::memcpy(b->mutable_activations()->data() + 4 * i, &v, 4);
  };
}
std::function<void(ActivationBatch*)> SetLabel(int row, int32_t label) {
  return [row, label](ActivationBatch* b) {
    std::memcpy(b->mutable_labels()->data() + 4 * row, &label, 4);
  };
}

INSTANTIATE_TEST_SUITE_P(
    Batches, FcServiceMalformedTest,
    ::testing::Values(
        Malformed{"WrongBatchSize",
                  [](ActivationBatch* b) { b->set_batch(kRows + 1); },
                  absl::StatusCode::kInvalidArgument,
                  "conv worker 0 sent 5 rows at step 1; the job's batch is 4"},
        Malformed{
            "ShortActivations",
            [](ActivationBatch* b) { b->mutable_activations()->resize(100); },
            absl::StatusCode::kInvalidArgument,
            "conv worker 0's activations: payload has 100 bytes; "
            "expected 1600 x 4"},
        Malformed{"ShortLabels",
                  [](ActivationBatch* b) { b->mutable_labels()->resize(4); },
                  absl::StatusCode::kInvalidArgument,
                  "labels have 4 bytes for 4 rows"},
        Malformed{"WrongFeatures",
                  [](ActivationBatch* b) {  // 8 rows of 200
                    b->set_features(kFeatures / 2);
                    b->set_batch(2 * kRows);
                    b->mutable_labels()->append(b->labels());
                  },
                  absl::StatusCode::kInvalidArgument,
                  "conv worker 0 sent 200 features per row; the FC part "
                  "takes 400"},
        Malformed{"UnknownRank",
                  [](ActivationBatch* b) { b->set_conv_rank(5); },
                  absl::StatusCode::kInvalidArgument,
                  "conv rank 5 is not served by FC node 0"},
        Malformed{"FutureStep", [](ActivationBatch* b) { b->set_step(2); },
                  absl::StatusCode::kFailedPrecondition,
                  "conv worker 0 sent step 2 while FC node 0 is at step 1"},
        Malformed{"StepPastTheLast", [](ActivationBatch* b) { b->set_step(5); },
                  absl::StatusCode::kOutOfRange,
                  "conv worker 0 sent step 5; the job's steps are 1..4"},
        Malformed{"StepZero", [](ActivationBatch* b) { b->set_step(0); },
                  absl::StatusCode::kOutOfRange,
                  "conv worker 0 sent step 0; the job's steps are 1..4"},
        Malformed{"NaNActivation", SetActivation(7, std::nanf("")),
                  absl::StatusCode::kInvalidArgument,
                  "conv worker 0's batch has a non-finite value (nan) at "
                  "index 7"},
        Malformed{"InfActivation",
                  SetActivation(3, -std::numeric_limits<float>::infinity()),
                  absl::StatusCode::kInvalidArgument,
                  "non-finite value (-inf) at index 3"},
        Malformed{"HalfOverflowIsInf",
                  [](ActivationBatch* b) {
                    Rows rows = MakeRows(kRows, 1);
                    rows.x[0] = 1e6f;  // beyond 65504: inf as a half
                    *b = Batch("job-1", 0, 1, rows, FLOAT16);
                  },
                  absl::StatusCode::kInvalidArgument,
                  "non-finite value (inf) at index 0"},
        Malformed{"LabelPastTheClasses", SetLabel(2, 10),
                  absl::StatusCode::kOutOfRange,
                  "conv worker 0 sent label 10 at row 2; the model has 10 "
                  "classes"},
        Malformed{"NegativeLabel", SetLabel(0, -1),
                  absl::StatusCode::kOutOfRange, "sent label -1 at row 0"},
        Malformed{"UnknownWireFormat",
                  [](ActivationBatch* b) {
                    b->set_format(static_cast<WireFormat>(7));
                  },
                  absl::StatusCode::kInvalidArgument,
                  "conv worker 0 sent unknown wire format 7"},
        Malformed{"EmptyEval",
                  [](ActivationBatch* b) {
                    b->set_eval(true);
                    b->set_batch(0);
                    b->clear_activations();
                    b->clear_labels();
                  },
                  absl::StatusCode::kInvalidArgument,
                  "conv worker 0 sent an evaluation batch of 0 rows; "
                  "expected 1..256"},
        Malformed{"EvalPastTheEvalBatch",
                  [](ActivationBatch* b) {
                    b->set_eval(true);
                    b->set_batch(257);
                  },
                  absl::StatusCode::kInvalidArgument,
                  "evaluation batch of 257 rows; expected 1..256"},
        Malformed{
            "WrongSecret",
            [](ActivationBatch* b) { b->set_job_secret("fedcba9876543210"); },
            absl::StatusCode::kPermissionDenied,
            "a stream for conv rank 0 of job job-1 has a wrong or "
            "missing job secret"},
        Malformed{"MissingSecret",
                  [](ActivationBatch* b) { b->clear_job_secret(); },
                  absl::StatusCode::kPermissionDenied,
                  "has a wrong or missing job secret"}),
    [](const ::testing::TestParamInfo<Malformed>& info) {
      return info.param.name;
    });

TEST_F(FcServiceTest, ARogueStreamWithAWrongSecretDoesNotDisturbTheJob) {
  auto session = Serve(Plan(2, 1), "job-1");
  ConvStream conv0(server_.address), conv1(server_.address);
  // Before and between the real streams' batches: a wrong step under a
  // wrong secret for a rank that is free, then for one that is waiting.
  ConvStream rogue0(server_.address), rogue1(server_.address);
  ActivationBatch bad = Batch("job-1", 1, 3, MakeRows(kRows, 9));
  bad.set_job_secret("guessed");
  EXPECT_EQ(rogue0.Exchange(bad).status().code(),
            absl::StatusCode::kPermissionDenied);
  auto got0 = std::async(std::launch::async, [&] {
    return conv0.Exchange(Batch("job-1", 0, 1, MakeRows(kRows, 1)));
  });
  ASSERT_TRUE(Eventually([&] { return session->traffic().conv_recv > 0; }));
  bad.set_conv_rank(0);
  EXPECT_EQ(rogue1.Exchange(bad).status().code(),
            absl::StatusCode::kPermissionDenied);
  for (int64_t step = 1; step <= 2; ++step) {
    if (step == 2) {
      got0 = std::async(std::launch::async, [&] {
        return conv0.Exchange(Batch("", 0, 2, MakeRows(kRows, 3)));
      });
    }
    ASSERT_TRUE(
        conv1.Exchange(Batch("job-1", 1, step, MakeRows(kRows, 2))).ok());
    ASSERT_TRUE(got0.get().ok());
  }
  EXPECT_EQ(session->steps_done(), 2);
  EXPECT_TRUE(conv0.Close().ok());
  EXPECT_TRUE(conv1.Close().ok());
  EXPECT_TRUE(session->WaitDone(absl::Now() + kWait).ok());
}

TEST_F(FcServiceTest, ASecondStreamForAHeldRankIsAlreadyExists) {
  auto session = Serve(Plan(2, 1), "job-1");
  ConvStream conv0(server_.address), conv1(server_.address);
  auto got0 = std::async(std::launch::async, [&] {
    return conv0.Exchange(Batch("job-1", 0, 1, MakeRows(kRows, 1)));
  });
  // Rank 0's stream holds its rank while its step waits for rank 1.
  ASSERT_TRUE(Eventually([&] { return session->traffic().conv_recv > 0; }));
  ConvStream second(server_.address);
  absl::StatusOr<GradientBatch> refused =
      second.Exchange(Batch("job-1", 0, 1, MakeRows(kRows, 5)));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kAlreadyExists)
      << refused.status();
  EXPECT_THAT(std::string(refused.status().message()),
              HasSubstr("conv rank 0 already has a stream to FC node 0"));
  // A member's malformed batch for the free rank 1 fails that stream only,
  // and frees rank 1 again for its worker.
  ConvStream rogue(server_.address);
  ActivationBatch bad = Batch("job-1", 1, 1, MakeRows(kRows, 6));
  bad.set_features(7);
  EXPECT_EQ(rogue.Exchange(bad).status().code(),
            absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(conv1.Exchange(Batch("job-1", 1, 1, MakeRows(kRows, 2))).ok());
  absl::StatusOr<GradientBatch> answer = got0.get();
  ASSERT_TRUE(answer.ok()) << answer.status();
  EXPECT_EQ(answer->merged_rows(), 2 * kRows);
  EXPECT_EQ(session->steps_done(), 1);
}

TEST_F(FcServiceTest, ALaterBatchMustRepeatTheStreamsJobRankAndSecret) {
  auto session = Serve(Plan(1, 1), "job-1");
  struct Case {
    std::function<void(ActivationBatch*)> mutate;
    absl::StatusCode code;
  };
  const std::vector<Case> cases = {
      {[](ActivationBatch* b) { b->set_job_id("job-2"); },
       absl::StatusCode::kInvalidArgument},
      {[](ActivationBatch* b) { b->set_conv_rank(3); },
       absl::StatusCode::kInvalidArgument},
      {[](ActivationBatch* b) { b->set_job_secret("wrong"); },
       absl::StatusCode::kPermissionDenied},
  };
  int64_t step = 1;
  for (const Case& c : cases) {
    ConvStream conv(server_.address);
    ASSERT_TRUE(
        conv.Exchange(Batch("job-1", 0, step, MakeRows(kRows, step))).ok());
    ++step;
    ActivationBatch later = Batch("job-1", 0, step, MakeRows(kRows, step));
    c.mutate(&later);
    EXPECT_EQ(conv.Exchange(later).status().code(), c.code);
  }
  // Each refusal ended only its stream: the session went on step by step.
  EXPECT_EQ(session->steps_done(), 3);
  EXPECT_EQ(session->WaitDone(absl::Now() + absl::Milliseconds(10)).code(),
            absl::StatusCode::kDeadlineExceeded);
}

TEST_F(FcServiceTest, OnlyAServedRanksCleanEndCountsTowardsTheTasksEnd) {
  // FC node 0 of 2 serves conv rank 0 only; rank 1 belongs to FC node 1.
  auto session = Serve(Plan(2, 2), "job-1");
  ActivationBatch eval = Batch("job-1", 1, 0, MakeRows(kRows, 1));
  eval.set_eval(true);
  ConvStream other(server_.address);
  EXPECT_EQ(other.Exchange(eval).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(session->WaitDone(absl::Now() + absl::Milliseconds(10)).code(),
            absl::StatusCode::kDeadlineExceeded);
  eval.set_conv_rank(0);
  ConvStream conv(server_.address);
  ASSERT_TRUE(conv.Exchange(eval).ok());
  EXPECT_TRUE(conv.Close().ok());
  EXPECT_TRUE(session->WaitDone(absl::Now() + kWait).ok());
}

TEST_F(FcServiceTest, AStreamForAnotherJobIsNotFoundAfterTheSessionWait) {
  FcServiceHost::Options o;
  o.session_wait = absl::Milliseconds(50);
  FcServiceHost host(o);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                           &port);
  builder.RegisterService(&host);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  ASSERT_TRUE(
      host.Register("job-1", MakeSession(Plan(1, 1), SessionOptions("job-1")))
          .ok());
  ConvStream conv(absl::StrCat("127.0.0.1:", port));
  absl::StatusOr<GradientBatch> got =
      conv.Exchange(Batch("job-2", 0, 1, MakeRows(kRows, 1)));
  EXPECT_EQ(got.status().code(), absl::StatusCode::kNotFound) << got.status();
  EXPECT_THAT(std::string(got.status().message()),
              HasSubstr("no FC task of job 'job-2'"));
  server->Shutdown();
}

TEST_F(FcServiceTest, AStreamWaitsForItsJobsSessionToRegister) {
  const CnnPlan plan = Plan(1, 1);
  ConvStream conv(server_.address);
  auto got = std::async(std::launch::async, [&] {
    return conv.Exchange(Batch("job-1", 0, 1, MakeRows(kRows, 1)));
  });
  // Gives the stream time to arrive first. It passes either way; it tests
  // the wait when the stream won.
  absl::SleepFor(absl::Milliseconds(100));
  Serve(plan, "job-1");
  absl::StatusOr<GradientBatch> answer = got.get();
  ASSERT_TRUE(answer.ok()) << answer.status();
  EXPECT_EQ(answer->step(), 1);
}

TEST_F(FcServiceTest, RegisteringAJobTwiceIsAlreadyExists) {
  const CnnPlan plan = Plan(1, 1);
  Serve(plan, "job-1");
  auto second = MakeSession(plan, SessionOptions("job-1"));
  EXPECT_EQ(server_.host->Register("job-1", second).code(),
            absl::StatusCode::kAlreadyExists);
  server_.host->Unregister("job-1");
  EXPECT_TRUE(server_.host->Register("job-1", second).ok());
}

TEST_F(FcServiceTest, AMissingConvWorkerFailsTheStepAfterTheStepTimeout) {
  FcSession::Options o = SessionOptions("job-1");
  o.step_timeout = absl::Milliseconds(100);
  auto session = MakeSession(Plan(2, 1), o);
  ASSERT_TRUE(server_.host->Register("job-1", session).ok());
  ConvStream conv(server_.address);
  absl::StatusOr<GradientBatch> got =
      conv.Exchange(Batch("job-1", 0, 1, MakeRows(kRows, 1)));
  EXPECT_EQ(got.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(std::string(got.status().message()),
              HasSubstr("for step 1 of conv workers [1]"));
}

TEST_F(FcServiceTest, FailEndsAWaitingStepWithTheFailure) {
  auto session = Serve(Plan(2, 1), "job-1");
  ConvStream conv(server_.address);
  auto got = std::async(std::launch::async, [&] {
    return conv.Exchange(Batch("job-1", 0, 1, MakeRows(kRows, 1)));
  });
  // Once rank 0's batch arrived its step waits for rank 1, which never
  // comes.
  ASSERT_TRUE(Eventually([&] { return session->traffic().conv_recv > 0; }));
  session->Fail(absl::CancelledError("FC task cancelled"));
  absl::StatusOr<GradientBatch> answer = got.get();
  EXPECT_EQ(answer.status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(session->WaitDone(absl::Now() + kWait).code(),
            absl::StatusCode::kCancelled);
}

TEST_F(FcServiceTest, AConvWorkerThatGoesAwayFailsTheSession) {
  auto session = Serve(Plan(1, 1), "job-1");
  ConvStream conv(server_.address);
  ASSERT_TRUE(conv.Exchange(Batch("job-1", 0, 1, MakeRows(kRows, 1))).ok());
  conv.Cancel();
  const absl::Status done = session->WaitDone(absl::Now() + kWait);
  EXPECT_EQ(done.code(), absl::StatusCode::kUnavailable) << done;
  EXPECT_THAT(std::string(done.message()),
              HasSubstr("stream of conv worker 0"));
}

TEST_F(FcServiceTest, TwoFcNodesEndAnAveragingStepWithTheMeanWeights) {
  // Conv rank 0 trains with FC node 0 (here), rank 1 with FC node 1.
  auto other = StartFcServer("127.0.0.1:0", 16 << 20);
  ASSERT_TRUE(other.ok()) << other.status();
  const CnnPlan plan = Plan(2, 2, /*average_every=*/1);
  const std::vector<std::string> fcs = {server_.address, other->address};
  FcSession::Options o0 = SessionOptions("job-1", 0), o1 = o0;
  o0.fc_addresses = o1.fc_addresses = fcs;
  o1.fc_rank = 1;
  auto fc0 = MakeSession(plan, o0), fc1 = MakeSession(plan, o1);
  ASSERT_TRUE(server_.host->Register("job-1", fc0).ok());
  ASSERT_TRUE(other->host->Register("job-1", fc1).ok());
  const Rows rows0 = MakeRows(kRows, 1), rows1 = MakeRows(kRows, 2);
  ConvStream conv0(fcs[0]), conv1(fcs[1]);
  auto got1 = std::async(std::launch::async, [&] {
    return conv1.Exchange(Batch("job-1", 1, 1, rows1));
  });
  ASSERT_TRUE(conv0.Exchange(Batch("job-1", 0, 1, rows0)).ok());
  ASSERT_TRUE(got1.get().ok());
  const std::vector<float> w0 = *fc0->Weights(), w1 = *fc1->Weights();
  EXPECT_EQ(w0, w1);
  const std::vector<float> a = ReferenceStep(plan, rows0).weights;
  const std::vector<float> b = ReferenceStep(plan, rows1).weights;
  std::vector<float> mean(a.size());
  for (size_t i = 0; i < a.size(); ++i) mean[i] = (a[i] + b[i]) / 2;
  ExpectNear(w0, mean, "averaged weights");
  EXPECT_GT(fc1->traffic().fc_sent, 0);
  EXPECT_GT(fc0->traffic().fc_recv, 0);
}

TEST_F(FcServiceTest, AveragingRefusesAnUnknownFcRank) {
  auto session = MakeSession(Plan(2, 2), SessionOptions("job-1"));
  EXPECT_EQ(session->Average(2, 1, {1.0f}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// Calls AverageFc on `address` with `req`.
absl::Status CallAverageFc(const std::string& address,
                           const AverageFcRequest& req) {
  auto stub = StanzaFc::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + kWait));
  AverageFcResponse resp;
  return FromGrpcStatus(stub->AverageFc(&ctx, req, &resp));
}

TEST_F(FcServiceTest, AverageFcRefusesABadCallerOrBadWeightsAndGoesOn) {
  // Steps 1..4, averaging every 2: rounds 2 and 4.
  auto session = Serve(Plan(2, 2, /*average_every=*/2), "job-1");
  const std::vector<float> w = *session->Weights();
  AverageFcRequest good;
  good.set_job_id("job-1");
  good.set_fc_rank(1);
  good.set_round(2);
  good.set_job_secret(kSecret);
  PackFloats(w, FLOAT32, good.mutable_weights());
  struct Case {
    std::string name;
    std::function<void(AverageFcRequest*)> mutate;
    absl::StatusCode code;
    std::string message;
  };
  const float nan = std::nanf("");
  const std::vector<Case> cases = {
      {"wrong secret", [](AverageFcRequest* r) { r->set_job_secret("x"); },
       absl::StatusCode::kPermissionDenied, "wrong or missing job secret"},
      {"FC rank 0", [](AverageFcRequest* r) { r->set_fc_rank(0); },
       absl::StatusCode::kInvalidArgument, "FC rank 0 averages in-process"},
      {"unknown FC rank", [](AverageFcRequest* r) { r->set_fc_rank(2); },
       absl::StatusCode::kInvalidArgument,
       "FC rank 2 is not one of the job's 2 FC nodes"},
      {"short weights",
       [](AverageFcRequest* r) { r->mutable_weights()->resize(8); },
       absl::StatusCode::kInvalidArgument,
       "the weights of FC node 1: payload has 8 bytes"},
      {"NaN weight",
       [nan](AverageFcRequest* r) {
         std::memcpy(r->mutable_weights()->data() + 40, &nan, 4);
       },
       absl::StatusCode::kInvalidArgument,
       "the weights of FC node 1 has a non-finite value (nan) at index 10"},
      {"round ahead", [](AverageFcRequest* r) { r->set_round(4); },
       absl::StatusCode::kFailedPrecondition,
       "FC node 1 sent averaging round 4; FC node 0 expects round 2"},
      {"round behind", [](AverageFcRequest* r) { r->set_round(0); },
       absl::StatusCode::kFailedPrecondition, "expects round 2"},
      {"not an averaging round", [](AverageFcRequest* r) { r->set_round(1); },
       absl::StatusCode::kFailedPrecondition, "expects round 2"},
  };
  for (const Case& c : cases) {
    AverageFcRequest req = good;
    c.mutate(&req);
    const absl::Status s = CallAverageFc(server_.address, req);
    EXPECT_EQ(s.code(), c.code) << c.name << ": " << s;
    EXPECT_THAT(std::string(s.message()), HasSubstr(c.message)) << c.name;
  }
  // None of them opened a round: FC node 1's real call meets FC node 0's.
  auto mean1 = std::async(std::launch::async,
                          [&] { return CallAverageFc(server_.address, good); });
  absl::StatusOr<std::vector<float>> mean0 = session->Average(0, 2, w);
  ASSERT_TRUE(mean0.ok()) << mean0.status();
  EXPECT_EQ(*mean0, w);
  EXPECT_TRUE(mean1.get().ok());
}

TEST_F(FcServiceTest, AverageFcOnAnFcNodeOtherThanZeroIsFailedPrecondition) {
  auto session = MakeSession(Plan(2, 2), SessionOptions("job-1", 1));
  ASSERT_TRUE(server_.host->Register("job-1", session).ok());
  AverageFcRequest req;
  req.set_job_id("job-1");
  req.set_fc_rank(1);
  req.set_round(4);
  req.set_job_secret(kSecret);
  EXPECT_EQ(CallAverageFc(server_.address, req).code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(FcServiceTest, ARoundNotEveryFcNodeReachesIsDroppedInTime) {
  FcSession::Options o = SessionOptions("job-1");
  o.step_timeout = absl::Milliseconds(500);
  auto session = MakeSession(Plan(2, 2, /*average_every=*/2), o);
  const std::vector<float> w = *session->Weights();
  // FC node 0 never arrives at round 2.
  absl::StatusOr<std::vector<float>> late = session->Average(1, 2, w);
  EXPECT_EQ(late.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(std::string(late.status().message()),
              HasSubstr("FC averaging round 2 was dropped"));
  // It stays dropped for whoever comes later, without a wait.
  const absl::Time start = absl::Now();
  EXPECT_EQ(session->Average(0, 2, w).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(250));
  // The next round works.
  auto mean1 =
      std::async(std::launch::async, [&] { return session->Average(1, 4, w); });
  absl::StatusOr<std::vector<float>> mean0 = session->Average(0, 4, w);
  ASSERT_TRUE(mean0.ok()) << mean0.status();
  ASSERT_TRUE(mean1.get().ok());
  // Every round is done.
  EXPECT_EQ(session->Average(1, 4, w).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(FcServiceTest, ASecondInputOfAnFcRankForARoundIsAlreadyExists) {
  auto session = MakeSession(Plan(2, 2), SessionOptions("job-1"));
  const std::vector<float> w = *session->Weights();
  using Result = absl::StatusOr<std::vector<float>>;
  std::vector<std::future<Result>> ones;
  for (int i = 0; i < 2; ++i) {
    ones.push_back(std::async(std::launch::async,
                              [&] { return session->Average(1, 4, w); }));
  }
  // The second to arrive is refused at once; the first waits for FC node 0.
  int refused = -1;
  ASSERT_TRUE(Eventually([&] {
    for (int i = 0; i < 2; ++i) {
      if (ones[i].wait_for(std::chrono::seconds(0)) ==
          std::future_status::ready) {
        refused = i;
      }
    }
    return refused >= 0;
  }));
  EXPECT_EQ(ones[refused].get().status().code(),
            absl::StatusCode::kAlreadyExists);
  ASSERT_TRUE(session->Average(0, 4, w).ok());
  EXPECT_TRUE(ones[1 - refused].get().ok());
}

TEST_F(FcServiceTest, ACheckpointEveryKStepsGetsTheWeightsAfterTheStep) {
  const CnnPlan plan = Plan(1, 1);  // 4 steps
  FcSession::Options o = SessionOptions("job-1");
  o.checkpoint_every = 2;
  std::vector<int64_t> steps;
  std::vector<float> saved, saved_velocity;
  o.checkpoint = [&](int64_t step, const std::vector<float>& w,
                     const std::vector<float>& v) {
    steps.push_back(step);
    saved = w;
    saved_velocity = v;
    return absl::OkStatus();
  };
  auto session = MakeSession(plan, o);
  ASSERT_TRUE(server_.host->Register("job-1", session).ok());
  ConvStream conv(server_.address);
  std::vector<float> after2;
  for (int64_t t = 1; t <= 4; ++t) {
    ASSERT_TRUE(conv.Exchange(Batch("job-1", 0, t, MakeRows(kRows, t))).ok());
    if (t == 2) after2 = *session->Weights();
  }
  EXPECT_EQ(steps, std::vector<int64_t>{2});  // not after the last step
  EXPECT_EQ(saved, after2);
  EXPECT_EQ(saved_velocity.size(), saved.size());
  EXPECT_NE(saved_velocity, std::vector<float>(saved.size(), 0.0f));
  EXPECT_TRUE(conv.Close().ok());
  EXPECT_TRUE(session->WaitDone(absl::Now() + kWait).ok());
}

TEST_F(FcServiceTest, AResumedSessionStartsAtItsStartStepFromItsSnapshot) {
  const CnnPlan plan = Plan(1, 1);
  FcSession::Options o = SessionOptions("job-1");
  o.start_step = 3;
  auto session = MakeSession(plan, o);
  std::vector<float> w = *session->Weights();
  for (float& x : w) x *= 0.5f;
  EXPECT_EQ(session->Restore(w, std::vector<float>(w.size() - 1)).code(),
            absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(session->Restore(w, std::vector<float>(w.size(), 0.0f)).ok());
  EXPECT_EQ(*session->Weights(), w);
  EXPECT_EQ(session->steps_done(), 2);
  ASSERT_TRUE(server_.host->Register("job-1", session).ok());
  {
    ConvStream early(server_.address);  // the previous attempt's step
    EXPECT_EQ(early.Exchange(Batch("job-1", 0, 1, MakeRows(kRows, 1)))
                  .status()
                  .code(),
              absl::StatusCode::kFailedPrecondition);
  }
  ConvStream conv(server_.address);
  absl::StatusOr<GradientBatch> got =
      conv.Exchange(Batch("job-1", 0, 3, MakeRows(kRows, 3)));
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->step(), 3);
  EXPECT_EQ(session->steps_done(), 3);
}

}  // namespace
}  // namespace cnn
}  // namespace strata
