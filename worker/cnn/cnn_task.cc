#include "worker/cnn/cnn_task.h"

#include <algorithm>
#include <atomic>
#include <functional>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "glog/logging.h"
#include "grpcpp/grpcpp.h"
#include "proto/base/status_macros.h"
#include "proto/rpc_util.h"
#include "server/jobs/job_type.h"
#include "worker/cnn/resume.h"
#include "worker/nn/backend_factory.h"
#include "worker/nn/loss.h"
#include "worker/nn/model_zoo.h"
#include "worker/nn/trainer.h"

namespace strata {
namespace cnn {
namespace {

std::atomic<uint64_t> task_dataset_cap{jobs::JobLimits().max_dataset_bytes};

// Loads the task's data within TaskDatasetCap().
absl::StatusOr<CnnData> LoadCappedData(const CnnTrainSpec& spec,
                                       const std::vector<int64_t>& shape) {
  const uint64_t cap = TaskDatasetCap();
  nn::ReadOptions read;
  read.max_file_bytes = cap;
  read.max_dataset_bytes = cap;
  absl::StatusOr<CnnData> data = LoadCnnData(spec, shape, read);
  if (absl::IsResourceExhausted(data.status())) {
    return absl::ResourceExhaustedError(absl::StrCat(
        data.status().message(), " (this worker's --max_task_dataset_mb)"));
  }
  STRATA_RETURN_IF_ERROR(data.status());
  const uint64_t bytes =
      (data->train.images.size() + data->test.images.size()) * sizeof(float);
  if (bytes > cap) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "cnn_train.data: train and test images take ", bytes,
        " bytes; this worker's --max_task_dataset_mb allows ", cap));
  }
  return data;
}

// Everything a task of the job sets up the same way.
struct Setup {
  CnnPlan plan;
  CnnData data;
  absl::Duration step_timeout;
  std::string job_id;
  std::string job_secret;  // TaskAssignment.job_secret: never logged
  uint32_t rank = 0;
  bool resume = false;  // TaskAssignment.attempt > 0
};

absl::StatusOr<Setup> MakeSetup(const TaskAssignment& a) {
  Setup s;
  const CnnTrainSpec& spec = a.spec().cnn_train();
  STRATA_ASSIGN_OR_RETURN(nn::Model model, BuildJobModel(spec));
  STRATA_ASSIGN_OR_RETURN(s.data, LoadCappedData(spec, model.image_shape));
  STRATA_ASSIGN_OR_RETURN(s.plan, CnnPlan::Make(spec, s.data.train.size()));
  s.step_timeout = absl::Seconds(spec.step_timeout_s());
  s.job_id = a.job_id().empty() ? "job" : a.job_id();
  s.job_secret = a.job_secret();
  s.rank = a.rank();
  s.resume = a.attempt() > 0;
  return s;
}

// Rank 0's running (exponential average) training loss and accuracy over
// this attempt's steps, which start at `first`, and its latest test
// accuracy during training (test_step 0: none yet).
struct Running {
  int64_t first = 1;
  double loss = 0, accuracy = 0;
  double test_accuracy = 0;
  int64_t test_step = 0;
  void Add(int64_t t, double l, double a) {
    loss = t == first ? l : 0.9 * loss + 0.1 * l;
    accuracy = t == first ? a : 0.9 * accuracy + 0.1 * a;
  }
};

// Where a conv or PS worker's training starts (docs/stanza.md, "Progress
// checkpoints and restarts"): step 1 in a first attempt; resuming, BSP at
// the shards' least tensor step (sync.first_step()), ASYNC after the step
// its records say was done: the least over every conv worker in STANZA
// mode, whose conv workers and FC nodes must agree on it, its own in PS
// mode.
int64_t FirstStep(const Setup& s, const TaskAssignment& a,
                  const DenseSync& sync) {
  if (!s.resume) return 1;
  if (s.plan.spec.sync() == CnnTrainSpec::BSP) return sync.first_step();
  if (s.plan.spec.mode() == CnnTrainSpec::PS) {
    return RecordedNextStep(a, s.rank, 1);
  }
  return RecordedNextStep(a, 0, s.plan.conv_workers);
}

// Counters common to conv-role workers (both modes).
void AddWorkerMetrics(const Traffic& t, int64_t steps, int64_t images,
                      absl::Duration wall, TaskMetrics* m) {
  const double secs = std::max(1e-9, absl::ToDoubleSeconds(wall));
  const double ps = t.ps_sent + t.ps_recv, fc = t.fc_sent + t.fc_recv;
  (*m)["steps"] = steps;
  (*m)["images"] = images;
  (*m)["images_per_s"] = images / secs;
  (*m)["worker_ps_sent_bytes"] = t.ps_sent;
  (*m)["worker_ps_recv_bytes"] = t.ps_recv;
  (*m)["worker_fc_sent_bytes"] = t.fc_sent;
  (*m)["worker_fc_recv_bytes"] = t.fc_recv;
  (*m)["worker_bytes_per_step"] = steps == 0 ? 0 : (ps + fc) / steps;
  (*m)["worker_compute_s"] = t.compute_us * 1e-6;
  (*m)["worker_comm_s"] = t.comm_us * 1e-6;
}

// A timed section: adds its duration to *counter on destruction.
class Timed {
 public:
  explicit Timed(std::atomic<int64_t>* counter)
      : counter_(counter), start_(absl::Now()) {}
  ~Timed() { *counter_ += MicrosSince(start_); }

 private:
  std::atomic<int64_t>* counter_;
  absl::Time start_;
};

std::string DeviceFor(const CnnTrainSpec& spec, uint32_t conv_rank) {
  if (conv_rank < static_cast<uint32_t>(spec.conv_devices_size())) {
    return spec.conv_devices(conv_rank);
  }
  return spec.device();
}

DenseSync::Options SyncOptions(const Setup& s, const std::string& what) {
  DenseSync::Options o;
  o.prefix = absl::StrCat(s.job_id, "/", what);
  o.bsp = s.plan.spec.sync() == CnnTrainSpec::BSP;
  o.num_workers = s.plan.conv_workers;
  o.rank = s.rank;
  o.momentum = s.plan.spec.momentum();
  o.weight_decay = s.plan.spec.weight_decay();
  o.init_timeout = s.step_timeout;
  o.resume = s.resume;
  return o;
}

// ------------------------------------------------------------ PS mode

// A worker's counters after `steps` steps of this attempt, plus rank 0's
// running training loss and accuracy.
TaskMetrics WorkerMetrics(const Setup& s, const Traffic& traffic, int64_t steps,
                          absl::Time start, const Running& running) {
  TaskMetrics m;
  AddWorkerMetrics(traffic, steps, steps * s.plan.batch, absl::Now() - start,
                   &m);
  if (s.rank == 0) {
    m["train_loss"] = running.loss;
    m["train_accuracy"] = running.accuracy;
    if (running.test_step > 0) {
      m["test_accuracy"] = running.test_accuracy;
      m["test_accuracy_step"] = running.test_step;
    }
  }
  return m;
}

// Rank 0, at step t after its pull (the parameters of step t - 1): the
// test accuracy after step t - 1 when the plan evaluates then, by
// `evaluate`, into `running` (streamed with the next progress report).
absl::Status MaybeEvaluate(const Setup& s, int64_t t, Running* running,
                           const std::function<absl::StatusOr<double>()>&
                               evaluate) {
  if (s.rank != 0 || t <= running->first || !s.plan.EvaluatesAfter(t - 1)) {
    return absl::OkStatus();
  }
  STRATA_ASSIGN_OR_RETURN(running->test_accuracy, evaluate());
  running->test_step = t - 1;
  return absl::OkStatus();
}

// Reports a finished step and saves it as the worker's progress record.
// Progress first, so that whichever report the agent sends next (its own
// reports carry the task's latest progress and metrics, worker_agent.cc)
// already has step t's metrics; the record of step t goes with the next
// report (within a second).
void ReportStep(const Setup& s, const Traffic& traffic, int64_t t,
                absl::Time start, const Running& running,
                TaskContext* context) {
  context->ReportProgress(
      t, s.plan.total_steps,
      WorkerMetrics(s, traffic, t - running.first + 1, start, running));
  context->SaveResume(StepRecord(t));
}

// The counters of the worker's whole attempt.
TaskMetrics FinalWorkerMetrics(const Setup& s, const Traffic& traffic,
                               absl::Time start, const Running& running) {
  return WorkerMetrics(
      s, traffic, std::max<int64_t>(0, s.plan.total_steps - running.first + 1),
      start, running);
}

absl::StatusOr<TaskMetrics> RunPsWorker(const Setup& s, PsClient* client,
                                        const TaskAssignment& a,
                                        TaskContext* context) {
  const CnnTrainSpec& spec = s.plan.spec;
  STRATA_ASSIGN_OR_RETURN(std::unique_ptr<nn::Backend> backend,
                          nn::CreateBackend(DeviceFor(spec, s.rank)));
  STRATA_ASSIGN_OR_RETURN(nn::Model model, BuildJobModel(spec));
  STRATA_RETURN_IF_ERROR(model.net.Init(backend.get(), spec.seed()));
  Traffic traffic;
  DenseSync sync(client, model.net.Params(), SyncOptions(s, "all"), &traffic);
  STRATA_RETURN_IF_ERROR(sync.Init());
  BatchSource source(&s.plan, &s.data.train);
  nn::SoftmaxCrossEntropyLoss loss;
  nn::Tensor input;
  std::vector<float> images;
  std::vector<int32_t> labels;
  const absl::Time start = absl::Now();
  Running running{FirstStep(s, a, sync)};
  const int64_t total = s.plan.total_steps;
  nn::Trainer::Options to;
  to.batch_size = spec.eval_batch();
  nn::Trainer evaluator(&model.net, backend.get(), to);
  auto evaluate = [&] { return evaluator.Evaluate(s.data.test); };
  for (int64_t t = running.first; t <= total; ++t) {
    if (context->cancelled()) return absl::CancelledError("cancelled");
    {
      Timed timed(&traffic.comm_us);
      STRATA_RETURN_IF_ERROR(sync.Pull(t));
    }
    STRATA_RETURN_IF_ERROR(MaybeEvaluate(s, t, &running, evaluate));
    {
      Timed timed(&traffic.compute_us);
      STRATA_RETURN_IF_ERROR(source.Get(t, s.rank, &images, &labels));
      STRATA_RETURN_IF_ERROR(
          input.EnsureShape(backend.get(), model.InputShape(s.plan.batch)));
      STRATA_RETURN_IF_ERROR(input.CopyFromHost(images));
      STRATA_ASSIGN_OR_RETURN(const nn::Tensor* logits,
                              model.net.Forward(input, true));
      STRATA_ASSIGN_OR_RETURN(int64_t correct,
                              nn::CountCorrect(*logits, labels));
      STRATA_ASSIGN_OR_RETURN(float l, loss.Compute(*logits, labels));
      // Each layer's gradients are pushed as soon as backprop has them.
      const float lr = s.plan.LearningRate(t);
      STRATA_RETURN_IF_ERROR(model.net.Backward(
          loss.grad(), nullptr,
          [&](nn::Layer& layer) { return sync.PushLayerAsync(layer, t, lr); }));
      running.Add(t, l, static_cast<double>(correct) / s.plan.batch);
    }
    {
      Timed timed(&traffic.comm_us);
      STRATA_RETURN_IF_ERROR(
          sync.WaitPushes());  // only what backprop did not hide
    }
    ReportStep(s, traffic, t, start, running, context);
  }
  TaskMetrics m = FinalWorkerMetrics(s, traffic, start, running);
  if (s.rank == 0) {
    STRATA_RETURN_IF_ERROR(sync.Pull(total + 1));
    STRATA_ASSIGN_OR_RETURN(m["test_accuracy"], evaluate());
    m["test_accuracy_step"] = total;
  }
  return m;
}

// ------------------------------------------------------------ Stanza

// A conv worker's Train stream to its FC node. Not owned: the stream and
// the counters.
struct FcLink {
  grpc::ClientReaderWriter<ActivationBatch, GradientBatch>* stream;
  std::string name;    // "FC node f (address)", for errors
  std::string secret;  // the job's, sent with the first batch only
  Traffic* traffic;
  bool sent_first = false;
};

// Sends one batch on the stream and reads the answer; a broken stream
// becomes the FC node's status, naming it.
absl::StatusOr<GradientBatch> Exchange(FcLink* link, ActivationBatch msg) {
  if (!link->sent_first) msg.set_job_secret(link->secret);
  link->sent_first = true;
  GradientBatch resp;
  link->traffic->fc_sent += msg.ByteSizeLong();
  if (!link->stream->Write(msg) || !link->stream->Read(&resp)) {
    const absl::Status st = FromGrpcStatus(link->stream->Finish());
    return absl::Status(
        st.ok() ? absl::StatusCode::kUnavailable : st.code(),
        absl::StrCat(link->name, " failed at step ", msg.step(), ": ",
                     st.ok() ? "stream closed" : st.message()));
  }
  link->traffic->fc_recv += resp.ByteSizeLong();
  return resp;
}

absl::StatusOr<ActivationBatch> MakeBatch(const Setup& s, const nn::Tensor& act,
                                          const std::vector<int32_t>& labels,
                                          int64_t step, bool eval) {
  ActivationBatch msg;
  msg.set_job_id(s.job_id);
  msg.set_conv_rank(s.rank);
  msg.set_step(step);
  msg.set_eval(eval);
  msg.set_batch(act.dim(0));
  msg.set_features(act.size() / std::max<int64_t>(1, act.dim(0)));
  msg.set_format(s.plan.spec.fp16_wire() ? FLOAT16 : FLOAT32);
  STRATA_ASSIGN_OR_RETURN(std::vector<float> host, act.ToHost());
  PackFloats(host, msg.format(), msg.mutable_activations());
  msg.set_labels(std::string(reinterpret_cast<const char*>(labels.data()),
                             labels.size() * sizeof(int32_t)));
  return msg;
}

// Rank 0's test accuracy: conv part here, FC part on the FC node.
absl::StatusOr<double> EvaluateStanza(const Setup& s, nn::Sequential* conv,
                                      nn::Backend* backend,
                                      const nn::Model& model, FcLink* link) {
  const nn::Dataset& test = s.data.test;
  const int64_t b = s.plan.spec.eval_batch();
  std::vector<int64_t> order(test.size());
  for (int64_t i = 0; i < test.size(); ++i) order[i] = i;
  std::vector<float> images;
  std::vector<int32_t> labels;
  nn::Tensor input;
  int64_t correct = 0;
  for (int64_t start = 0; start < test.size(); start += b) {
    const int64_t n = std::min(b, test.size() - start);
    images.resize(n * test.ImageSize());
    labels.resize(n);
    STRATA_RETURN_IF_ERROR(nn::GatherBatch(
        test, order, start, n, absl::MakeSpan(images), absl::MakeSpan(labels)));
    STRATA_RETURN_IF_ERROR(input.EnsureShape(backend, model.InputShape(n)));
    STRATA_RETURN_IF_ERROR(input.CopyFromHost(images));
    STRATA_ASSIGN_OR_RETURN(const nn::Tensor* act, conv->Forward(input, false));
    STRATA_ASSIGN_OR_RETURN(ActivationBatch msg,
                            MakeBatch(s, *act, labels, 0, true));
    STRATA_ASSIGN_OR_RETURN(GradientBatch resp, Exchange(link, std::move(msg)));
    correct += resp.correct();
  }
  return test.size() == 0 ? 0.0 : static_cast<double>(correct) / test.size();
}

// One Stanza training step of a conv worker after the pull.
absl::Status ConvStep(
    const Setup& s, int64_t t, nn::Sequential* conv, nn::Backend* backend,
    const nn::Model& model, BatchSource* source, nn::Tensor* input,
    nn::Tensor* dact, FcLink* link, GradientBatch* resp,
    const std::function<absl::Status(nn::Layer&)>& after_layer) {
  std::vector<float> images;
  std::vector<int32_t> labels;
  ActivationBatch msg;
  nn::Shape act_shape;
  Traffic* traffic = link->traffic;
  {
    Timed timed(&traffic->compute_us);
    STRATA_RETURN_IF_ERROR(source->Get(t, s.rank, &images, &labels));
    STRATA_RETURN_IF_ERROR(
        input->EnsureShape(backend, model.InputShape(s.plan.batch)));
    STRATA_RETURN_IF_ERROR(input->CopyFromHost(images));
    STRATA_ASSIGN_OR_RETURN(const nn::Tensor* act, conv->Forward(*input, true));
    act_shape = act->shape();
    STRATA_ASSIGN_OR_RETURN(msg, MakeBatch(s, *act, labels, t, false));
  }
  {
    Timed timed(&traffic->comm_us);
    STRATA_ASSIGN_OR_RETURN(*resp, Exchange(link, msg));
  }
  Timed timed(&traffic->compute_us);
  std::vector<float> grads(msg.batch() * msg.features());
  STRATA_RETURN_IF_ERROR(
      UnpackFloats(resp->gradients(), resp->format(), absl::MakeSpan(grads)));
  // Training on NaN would silently ruin the conv weights of every worker.
  if (absl::Status finite = CheckFinite(
          grads,
          absl::StrCat("the gradient from ", link->name, " at step ", t));
      !finite.ok()) {
    return absl::Status(
        finite.code(),
        absl::StrCat(finite.message(), " (the FC part diverged?)"));
  }
  STRATA_RETURN_IF_ERROR(dact->EnsureShape(backend, act_shape));
  STRATA_RETURN_IF_ERROR(dact->CopyFromHost(grads));
  return conv->Backward(*dact, nullptr, after_layer);
}

absl::StatusOr<TaskMetrics> RunConvWorker(const Setup& s, PsClient* client,
                                          const TaskAssignment& a,
                                          TaskContext* context) {
  const CnnTrainSpec& spec = s.plan.spec;
  const uint32_t f = s.plan.FcOf(s.rank);
  if (f >= static_cast<uint32_t>(a.fc_addresses_size())) {
    return absl::FailedPreconditionError(absl::StrCat(
        "conv worker ", s.rank, " has no address for FC node ", f));
  }
  STRATA_ASSIGN_OR_RETURN(std::unique_ptr<nn::Backend> backend,
                          nn::CreateBackend(DeviceFor(spec, s.rank)));
  STRATA_ASSIGN_OR_RETURN(nn::Model model, BuildJobModel(spec));
  STRATA_ASSIGN_OR_RETURN(auto parts, model.Split());
  nn::Sequential& conv = parts.first;
  STRATA_RETURN_IF_ERROR(conv.Init(backend.get(), spec.seed()));
  Traffic traffic;
  DenseSync sync(client, conv.Params(), SyncOptions(s, "conv"), &traffic);
  STRATA_RETURN_IF_ERROR(sync.Init());

  auto stub = StanzaFc::NewStub(grpc::CreateCustomChannel(
      a.fc_addresses(f), security::ChannelCredentialsOf(TaskCredentials()),
      DefaultChannelArguments(kDefaultMaxMessageBytes)));
  grpc::ClientContext sctx;
  // A bound on the whole stream; each step is bounded by the FC node's
  // step timeout and dead peers by keepalive.
  const int64_t evals =
      (s.data.test.size() / 64 + 2) * s.plan.Evaluations();
  sctx.set_deadline(absl::ToChronoTime(
      absl::Now() + s.step_timeout * (s.plan.total_steps + evals + 2)));
  auto stream = stub->Train(&sctx);
  FcLink link{stream.get(),
              absl::StrCat("FC node ", f, " (", a.fc_addresses(f), ")"),
              s.job_secret, &traffic};

  BatchSource source(&s.plan, &s.data.train);
  nn::Tensor input, dact;
  const absl::Time start = absl::Now();
  Running running{FirstStep(s, a, sync)};
  const int64_t total = s.plan.total_steps;
  // Evaluations during training: their bytes are not the steps'.
  Traffic eval_traffic;
  auto evaluate = [&]() -> absl::StatusOr<double> {
    FcLink eval_link = link;
    eval_link.traffic = &eval_traffic;
    return EvaluateStanza(s, &conv, backend.get(), model, &eval_link);
  };
  for (int64_t t = running.first; t <= total; ++t) {
    if (context->cancelled()) {
      sctx.TryCancel();
      return absl::CancelledError("cancelled");
    }
    {
      Timed timed(&traffic.comm_us);
      STRATA_RETURN_IF_ERROR(sync.Pull(t));
    }
    STRATA_RETURN_IF_ERROR(MaybeEvaluate(s, t, &running, evaluate));
    GradientBatch resp;
    const float lr = s.plan.LearningRate(t);
    auto push_layer = [&](nn::Layer& layer) {
      return sync.PushLayerAsync(layer, t, lr);
    };
    STRATA_RETURN_IF_ERROR(ConvStep(s, t, &conv, backend.get(), model, &source,
                                    &input, &dact, &link, &resp, push_layer));
    {
      Timed timed(&traffic.comm_us);
      STRATA_RETURN_IF_ERROR(
          sync.WaitPushes());  // only what backprop did not hide
    }
    running.Add(t, resp.loss(),
                static_cast<double>(resp.correct()) / s.plan.batch);
    ReportStep(s, traffic, t, start, running, context);
  }
  TaskMetrics m = FinalWorkerMetrics(s, traffic, start, running);
  if (s.rank == 0) {
    STRATA_RETURN_IF_ERROR(sync.Pull(total + 1));
    STRATA_ASSIGN_OR_RETURN(
        double acc, EvaluateStanza(s, &conv, backend.get(), model, &link));
    m["test_accuracy"] = acc;
    m["test_accuracy_step"] = total;
  }
  stream->WritesDone();
  if (absl::Status st = FromGrpcStatus(stream->Finish()); !st.ok()) {
    return absl::Status(st.code(), absl::StrCat(link.name, ": ", st.message()));
  }
  return m;
}

// Where a restarted FC node's training starts: the conv workers' first
// step (FirstStep): BSP, the least step of the conv tensors, which do not
// move before this FC node answers that step.
absl::StatusOr<int64_t> FcFirstStep(const Setup& s, const TaskAssignment& a,
                                    PsClient* client) {
  if (!s.resume) return 1;
  if (s.plan.spec.sync() != CnnTrainSpec::BSP) {
    return RecordedNextStep(a, 0, s.plan.conv_workers);
  }
  STRATA_ASSIGN_OR_RETURN(nn::Model model, BuildJobModel(s.plan.spec));
  STRATA_ASSIGN_OR_RETURN(auto parts, model.Split());
  const std::string prefix = SyncOptions(s, "conv").prefix;
  std::vector<std::string> names;
  for (nn::Parameter* p : parts.first.Params()) {
    names.push_back(absl::StrCat(prefix, "/", p->name));
  }
  return LeastDenseStep(client, names);
}

// A restarted FC node's FC weights and momentum: the snapshot of the step
// every FC node recorded (the least of their records), else its newest
// complete one; with none, the job's seeded initialisation (logged).
absl::Status RestoreFc(const Setup& s, const TaskAssignment& a,
                       const FcSnapshots& snapshots, FcSession* session) {
  const std::string who =
      absl::StrCat("FC node ", s.rank, " of job ", s.job_id);
  const int64_t target =
      RecordedSnapshot(a, s.plan.conv_workers, s.plan.fc_nodes);
  if (target == 0) {
    LOG(WARNING) << who << ": not every FC node recorded a snapshot; the FC "
                 << "weights restart from the job's initialisation";
    return absl::OkStatus();
  }
  STRATA_ASSIGN_OR_RETURN(const std::vector<float> now, session->Weights());
  absl::StatusOr<FcSnapshots::Snapshot> snap =
      snapshots.Load(target, now.size());
  if (absl::IsNotFound(snap.status())) {
    LOG(WARNING) << who << ": " << snap.status().message()
                 << "; the FC weights restart from the job's initialisation";
    return absl::OkStatus();
  }
  STRATA_RETURN_IF_ERROR(snap.status());
  LOG(INFO) << who << " restores its snapshot of step " << snap->step
            << " (the FC nodes recorded " << target << ")";
  return session->Restore(snap->weights, snap->velocity);
}

// The FC session of FC rank s.rank, at its first step, restored and
// writing its progress checkpoints; only the session holds the FC layers,
// so they are freed before its backend.
absl::StatusOr<std::shared_ptr<FcSession>> MakeFcSession(
    const Setup& s, const TaskAssignment& a, PsClient* client,
    TaskContext* context) {
  STRATA_ASSIGN_OR_RETURN(std::unique_ptr<nn::Backend> backend,
                          nn::CreateBackend(s.plan.spec.fc_device()));
  FcSession::Options o;
  o.fc_rank = s.rank;
  o.job_id = s.job_id;
  o.job_secret = s.job_secret;
  o.fc_addresses.assign(a.fc_addresses().begin(), a.fc_addresses().end());
  o.credentials = TaskCredentials();
  o.step_timeout = s.step_timeout;
  STRATA_ASSIGN_OR_RETURN(o.start_step, FcFirstStep(s, a, client));
  o.checkpoint_every = s.plan.spec.checkpoint_every_steps();
  auto snapshots = std::make_shared<FcSnapshots>(client, s.job_id, s.rank,
                                                 o.checkpoint_every);
  // The session runs no step after the task returned (it finished or
  // failed), so `context` outlives every call.
  o.checkpoint = [snapshots, context](int64_t step,
                                      const std::vector<float>& weights,
                                      const std::vector<float>& velocity) {
    STRATA_RETURN_IF_ERROR(snapshots->Write(step, weights, velocity));
    context->SaveResume(SnapshotRecord(step));
    return absl::OkStatus();
  };
  STRATA_ASSIGN_OR_RETURN(
      std::shared_ptr<FcSession> session,
      FcSession::Create(s.plan, std::move(backend), std::move(o)));
  if (s.resume) {
    STRATA_RETURN_IF_ERROR(RestoreFc(s, a, *snapshots, session.get()));
  }
  return session;
}

TaskMetrics FcMetrics(FcSession& session, absl::Duration wall) {
  Traffic& t = session.traffic();
  const int64_t steps = session.steps_done();
  TaskMetrics m;
  m["fc_steps"] = steps;
  m["fc_conv_sent_bytes"] = t.conv_sent;
  m["fc_conv_recv_bytes"] = t.conv_recv;
  m["fc_peer_sent_bytes"] = t.fc_sent;
  m["fc_peer_recv_bytes"] = t.fc_recv;
  m["fc_bytes_per_step"] =
      steps == 0
          ? 0
          : double(t.conv_sent + t.conv_recv + t.fc_sent + t.fc_recv) / steps;
  m["fc_compute_s"] = t.compute_us * 1e-6;
  m["fc_checkpoint_s"] = t.checkpoint_us * 1e-6;
  m["fc_wait_s"] =
      std::max(0.0, absl::ToDoubleSeconds(wall) - t.compute_us * 1e-6);
  return m;
}

absl::StatusOr<TaskMetrics> RunFcNode(const Setup& s, FcServiceHost* host,
                                      PsClient* client, const TaskAssignment& a,
                                      TaskContext* context,
                                      std::vector<float>* weights) {
  if (host == nullptr) {
    return absl::FailedPreconditionError(
        "this worker serves no StanzaFc service; start FC-role workers with "
        "--listen=HOST:PORT");
  }
  STRATA_ASSIGN_OR_RETURN(std::shared_ptr<FcSession> session,
                          MakeFcSession(s, a, client, context));
  STRATA_RETURN_IF_ERROR(host->Register(s.job_id, session));
  const absl::Time start = absl::Now();
  absl::Status status;
  while (true) {
    status = session->WaitDone(absl::Now() + absl::Milliseconds(250));
    if (status.ok() || !absl::IsDeadlineExceeded(status) ||
        status.message() != "conv workers still streaming") {
      break;
    }
    if (context->cancelled()) {
      session->Fail(absl::CancelledError("FC task cancelled"));
      status = absl::CancelledError("cancelled");
      break;
    }
    context->ReportProgress(session->steps_done(), s.plan.total_steps,
                            FcMetrics(*session, absl::Now() - start));
  }
  host->Unregister(s.job_id);
  if (!status.ok()) return status;
  STRATA_ASSIGN_OR_RETURN(*weights, session->Weights());
  return FcMetrics(*session, absl::Now() - start);
}

}  // namespace

void SetTaskDatasetCap(uint64_t max_dataset_bytes) {
  task_dataset_cap.store(max_dataset_bytes);
}
uint64_t TaskDatasetCap() { return task_dataset_cap.load(); }

bool ServesFc(const TaskAssignment& a) {
  return a.spec().has_cnn_train() &&
         a.spec().cnn_train().mode() == CnnTrainSpec::STANZA &&
         a.role() == a.spec().cnn_train().fc_role();
}

absl::StatusOr<TaskMetrics> CnnTrainTask::Run(const TaskAssignment& a,
                                              TaskContext* context) {
  if (!a.spec().has_cnn_train()) {
    return absl::InvalidArgumentError("CnnTrainTask needs a cnn_train spec");
  }
  STRATA_ASSIGN_OR_RETURN(Setup s, MakeSetup(a));
  const CnnTrainSpec& spec = s.plan.spec;
  if (spec.mode() == CnnTrainSpec::STANZA && s.job_secret.empty()) {
    return absl::FailedPreconditionError(
        "a STANZA task needs the job secret of its assignment (job_secret); "
        "this coordinator sent none");
  }
  std::unique_ptr<PsClient> owned;
  PsClientOptions o;
  o.dense_wait_timeout = s.step_timeout;  // BSP pulls wait for the others
  STRATA_ASSIGN_OR_RETURN(PsClient * client,
                          TaskPsClient(a, context, client_, &owned, o));
  if (ServesFc(a)) {
    s.rank = a.rank() - s.plan.conv_workers;
    return RunFcNode(s, host_, client, a, context, &fc_weights_);
  }
  if (spec.mode() == CnnTrainSpec::PS) {
    return RunPsWorker(s, client, a, context);
  }
  return RunConvWorker(s, client, a, context);
}

}  // namespace cnn
}  // namespace strata
