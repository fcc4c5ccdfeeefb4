#include "worker/ctr/ctr_tasks.h"

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "glog/logging.h"
#include "proto/base/status_macros.h"
#include "worker/ctr/ctr_resume.pb.h"
#include "worker/ctr/evaluation.h"

namespace strata {
namespace ctr {
namespace {

// --- Example sources ---------------------------------------------------------

class GenSource final : public ExampleSource {
 public:
  GenSource(const CtrGenerator* g, uint64_t stream, uint64_t begin,
            uint64_t end)
      : g_(g), stream_(stream), begin_(begin), end_(end), next_(begin) {}
  absl::StatusOr<bool> Next(CtrExample* out) override {
    if (next_ >= end_) return false;
    line_.clear();
    g_->AppendRow(stream_, next_++, &line_);
    line_.pop_back();  // '\n'
    STRATA_RETURN_IF_ERROR(ParseCriteoLine(line_, out));
    return true;
  }
  absl::Status Rewind() override {
    next_ = begin_;
    return absl::OkStatus();
  }
  absl::Status Skip(int64_t n) override {  // no need to generate the rows
    next_ = std::min<uint64_t>(end_, next_ + std::max<int64_t>(n, 0));
    return absl::OkStatus();
  }
  int64_t malformed() const override { return 0; }

 private:
  const CtrGenerator* const g_;
  const uint64_t stream_, begin_, end_;
  uint64_t next_;
  std::string line_;
};

class ReaderSource final : public ExampleSource {
 public:
  explicit ReaderSource(std::unique_ptr<CriteoReader> r) : r_(std::move(r)) {}
  absl::StatusOr<bool> Next(CtrExample* out) override { return r_->Next(out); }
  // Epochs re-read the same lines: count each malformed line once.
  absl::Status Rewind() override {
    first_pass_malformed_ = std::max(first_pass_malformed_, r_->malformed());
    return r_->Rewind();
  }
  int64_t malformed() const override {
    return std::max(first_pass_malformed_, r_->malformed());
  }

 private:
  std::unique_ptr<CriteoReader> r_;
  int64_t first_pass_malformed_ = 0;
};

// --- Shared pieces -----------------------------------------------------------

absl::StatusOr<std::unique_ptr<ExampleSource>> OpenFile(const std::string& path,
                                                        double from, double to,
                                                        int part, int parts) {
  CriteoReaderOptions o;
  o.path = path;
  o.from = from;
  o.to = to;
  o.part = part;
  o.parts = parts;
  STRATA_ASSIGN_OR_RETURN(std::unique_ptr<CriteoReader> r,
                          CriteoReader::Open(o));
  return FileSource(std::move(r));
}

// Pulls the dense MLP tensors, each at least at step min_step[i].
absl::Status PullMlp(PsClient* client, const std::string& table,
                     const std::vector<int64_t>& min_step, MlpParams* params,
                     std::vector<int64_t>* steps) {
  params->resize(min_step.size());
  if (steps != nullptr) steps->resize(min_step.size());
  for (size_t i = 0; i < min_step.size(); ++i) {
    STRATA_ASSIGN_OR_RETURN(const int64_t step,
                            client->PullDense(DenseTensorName(table, i),
                                              min_step[i], &(*params)[i]));
    if (steps != nullptr) (*steps)[i] = step;
  }
  return absl::OkStatus();
}

// Fills up to `max` examples; returns how many.
absl::StatusOr<int> FillBatch(ExampleSource* src, int max,
                              std::vector<uint64_t>* keys,
                              std::vector<float>* labels) {
  keys->clear();
  labels->clear();
  CtrExample ex;
  while (static_cast<int>(labels->size()) < max) {
    STRATA_ASSIGN_OR_RETURN(const bool more, src->Next(&ex));
    if (!more) break;
    labels->push_back(ex.label);
    keys->insert(keys->end(), ex.keys.begin(), ex.keys.end());
  }
  return static_cast<int>(labels->size());
}

// Evaluates the shards' model on `src`: AUC, log loss, examples.
absl::StatusOr<TaskMetrics> Evaluate(PsClient* client, const CtrModelSpec& spec,
                                     ExampleSource* src, int batch_size,
                                     TaskContext* context, bool report) {
  CtrMlp mlp(ToModelConfig(spec));
  MlpParams params;
  const std::vector<int64_t> no_wait(2 * mlp.num_layers(), 0);
  STRATA_RETURN_IF_ERROR(
      PullMlp(client, spec.table(), no_wait, &params, nullptr));
  STRATA_RETURN_IF_ERROR(mlp.CheckParams(params));
  PullOptions ro;
  ro.count_frequency = false;
  ro.read_only = true;
  std::vector<uint64_t> keys;
  std::vector<float> labels, x, probs;
  BinaryEval eval;
  const absl::Time t0 = absl::Now();
  for (int64_t step = 1;; ++step) {
    if (context->cancelled()) return absl::CancelledError("cancelled");
    STRATA_ASSIGN_OR_RETURN(const int n,
                            FillBatch(src, batch_size, &keys, &labels));
    if (n == 0) break;
    x.resize(keys.size() * spec.embedding_dim());
    STRATA_RETURN_IF_ERROR(
        client->Pull(spec.table(), keys, spec.embedding_dim(), x.data(), ro));
    probs.resize(n);
    mlp.Predict(params, x.data(), n, probs.data());
    for (int i = 0; i < n; ++i) eval.Add(probs[i], labels[i]);
    if (report) {
      context->ReportProgress(step, 0, {{"eval_examples", 1.0 * eval.size()}});
    }
  }
  STRATA_ASSIGN_OR_RETURN(const double auc, eval.Auc());
  STRATA_ASSIGN_OR_RETURN(const double ll, eval.LogLoss());
  const double secs = std::max(absl::ToDoubleSeconds(absl::Now() - t0), 1e-9);
  return TaskMetrics{
      {"auc", auc},
      {"logloss", ll},
      {"eval_examples", static_cast<double>(eval.size())},
      {"eval_examples_per_s", eval.size() / secs},
      {"malformed_lines", static_cast<double>(src->malformed())}};
}

// --- Training ----------------------------------------------------------------

// CtrResume.version this code writes and reads.
constexpr uint32_t kCtrResumeVersion = 1;

// The MLP's dense tensors: w0, b0, w1, b1, ...
int NumTensors(const CtrModelSpec& m) {
  return 2 * CtrMlp(ToModelConfig(m)).num_layers();
}

absl::Status CreateModel(PsClient* client, const CtrTrainSpec& spec,
                         uint32_t num_workers) {
  const CtrModelSpec& m = spec.model();
  TableConfig table;
  table.set_name(m.table());
  table.set_dim(m.embedding_dim());
  table.mutable_initializer()->set_type(InitializerConfig::NORMAL);
  table.mutable_initializer()->set_stddev(0.01f);
  table.mutable_initializer()->set_seed(spec.seed());
  table.mutable_optimizer()->set_type(OptimizerConfig::ADAGRAD);
  table.mutable_optimizer()->set_learning_rate(spec.learning_rate());
  table.mutable_optimizer()->set_initial_accumulator(0.1f);
  STRATA_RETURN_IF_ERROR(AllOk(client->admin().CreateTable(table, true)));
  CtrMlp mlp(ToModelConfig(m));
  for (int i = 0; i < 2 * mlp.num_layers(); ++i) {
    DenseConfig d;
    d.set_name(DenseTensorName(m.table(), i));
    d.set_size(mlp.ParamSize(i));
    const auto [in, out] = mlp.LayerShape(i / 2);
    if (i % 2 == 0) d.add_shape(in);
    d.add_shape(out);
    if (i % 2 == 0) {
      d.mutable_initializer()->set_type(InitializerConfig::NORMAL);
      d.mutable_initializer()->set_stddev(mlp.InitStddev(i));
      d.mutable_initializer()->set_seed(spec.seed() * 1000 + i);
    }
    d.mutable_optimizer()->set_type(OptimizerConfig::ADAM);
    d.mutable_optimizer()->set_learning_rate(spec.dense_learning_rate());
    d.set_sync(BSP);
    d.set_num_workers(num_workers);
    if (absl::Status s = client->admin().CreateDense(d, true).status();
        !s.ok()) {
      return absl::Status(s.code(), absl::StrCat(s.message(),
                                                 " (drop the table or use "
                                                 "another model.table)"));
    }
  }
  return absl::OkStatus();
}

struct TrainState {
  CtrTrainSpec spec;
  PsClient* client = nullptr;
  uint32_t rank = 0, workers = 1;
  std::unique_ptr<CtrGenerator> generator;
  std::unique_ptr<ExampleSource> train;
  int64_t steps_per_epoch = 0;
  std::vector<int64_t> base_step;  // each dense tensor's step at the start
  uint32_t attempt = 0;            // TaskAssignment.attempt
  // Per dense tensor, the first step this attempt pushes: 0, or for a
  // resumed task the steps the tensor had completed.
  std::vector<int64_t> first_push;
  int64_t start_step = 0;  // this attempt's first step
  double loss_ema = -1;
  int64_t examples = 0;
  // Wall time of the training loop, barrier waits included, so the sum of
  // the tasks' examples_per_s is the job's throughput.
  absl::Time loop_start;
  absl::Time loop_end = absl::InfinitePast();
};

// Opens this rank's training share and agrees on the steps per epoch: the
// largest share's batches, computed identically by every rank.
absl::Status OpenTrainData(TrainState* st) {
  const CtrTrainSpec& sp = st->spec;
  const int64_t b = sp.batch_size();
  if (sp.data_path().empty()) {
    st->generator =
        std::make_unique<CtrGenerator>(ToGeneratorOptions(sp.generator()));
    const uint64_t rows = sp.generator().rows();
    st->train = GeneratedSource(st->generator.get(), kTrainStream,
                                rows * st->rank / st->workers,
                                rows * (st->rank + 1) / st->workers);
    const int64_t largest = (rows + st->workers - 1) / st->workers;
    st->steps_per_epoch = (largest + b - 1) / b;
    return absl::OkStatus();
  }
  const double to = sp.eval_path().empty() ? 1 - sp.eval_fraction() : 1;
  int64_t largest = 0;
  for (uint32_t p = 0; p < st->workers; ++p) {
    CriteoReaderOptions o;
    o.path = sp.data_path();
    o.to = to;
    o.part = p;
    o.parts = st->workers;
    STRATA_ASSIGN_OR_RETURN(std::unique_ptr<CriteoReader> r,
                            CriteoReader::Open(o));
    STRATA_ASSIGN_OR_RETURN(const int64_t n, r->CountLines());
    largest = std::max(largest, n);
    if (p == st->rank) st->train = FileSource(std::move(r));
  }
  st->steps_per_epoch = (largest + b - 1) / b;
  return absl::OkStatus();
}

// One BSP step `t` (0-based over all epochs).
absl::Status TrainStep(TrainState* st, CtrMlp* mlp, int64_t t,
                       std::vector<uint64_t>* keys, std::vector<float>* labels,
                       std::vector<float>* x, std::vector<float>* dx) {
  const CtrModelSpec& m = st->spec.model();
  STRATA_ASSIGN_OR_RETURN(
      const int n,
      FillBatch(st->train.get(), st->spec.batch_size(), keys, labels));
  std::vector<int64_t> min_step(st->base_step);
  for (int64_t& s : min_step) s += t;
  MlpParams params, grads;
  STRATA_RETURN_IF_ERROR(
      PullMlp(st->client, m.table(), min_step, &params, nullptr));
  STRATA_RETURN_IF_ERROR(mlp->CheckParams(params));
  if (n > 0) {
    x->resize(keys->size() * m.embedding_dim());
    dx->resize(x->size());
    STRATA_RETURN_IF_ERROR(
        st->client->Pull(m.table(), *keys, m.embedding_dim(), x->data()));
    const double loss = mlp->ForwardBackward(params, x->data(), labels->data(),
                                             n, &grads, dx->data());
    st->loss_ema = st->loss_ema < 0 ? loss : 0.95 * st->loss_ema + 0.05 * loss;
    // The table's Adagrad sees the gradient of the batch's summed loss.
    for (float& g : *dx) g *= static_cast<float>(n);
    STRATA_RETURN_IF_ERROR(
        st->client->Push(m.table(), *keys, *dx, m.embedding_dim()));
    st->examples += n;
  } else {
    grads.resize(params.size());
    for (size_t i = 0; i < params.size(); ++i)
      grads[i].assign(params[i].size(), 0);
  }
  for (size_t i = 0; i < grads.size(); ++i) {
    if (t < st->first_push[i]) continue;  // completed before the restart
    absl::StatusOr<int64_t> s = st->client->PushDense(
        DenseTensorName(m.table(), i), grads[i], min_step[i], st->rank);
    if (st->attempt > 0 && absl::IsAlreadyExists(s.status())) {
      // The coordinator resets open steps before it restarts a job.
      return absl::InternalError(
          absl::StrCat("bug: a resumed task found step ", t,
                       " half-pushed: ", s.status().message()));
    }
    if (!s.ok()) return s.status();
  }
  return absl::OkStatus();
}

TaskMetrics TrainMetrics(const TrainState& st) {
  const absl::Time end =
      st.loop_end == absl::InfinitePast() ? absl::Now() : st.loop_end;
  const double secs =
      std::max(absl::ToDoubleSeconds(end - st.loop_start), 1e-9);
  TaskMetrics m{
      {"examples", static_cast<double>(st.examples)},
      {"examples_per_s", st.examples / secs},
      {"malformed_lines", static_cast<double>(st.train->malformed())}};
  if (st.rank == 0 && st.loss_ema >= 0) m["train_loss"] = st.loss_ema;
  return m;
}

int64_t TotalSteps(const TrainState& st) {
  return st.steps_per_epoch * st.spec.epochs();
}

// The progress checkpoint after `step` steps.
std::string ResumeRecord(const TrainState& st, int64_t step) {
  CtrResume r;
  r.set_version(kCtrResumeVersion);
  for (int64_t b : st.base_step) r.add_base_steps(b);
  r.set_steps_per_epoch(st.steps_per_epoch);
  r.set_total_steps(TotalSteps(st));
  r.set_step(step);
  return r.SerializeAsString();
}

absl::Status TrainLoop(TrainState* st, TaskContext* context) {
  CtrMlp mlp(ToModelConfig(st->spec.model()));
  const int64_t total = TotalSteps(*st);
  std::vector<uint64_t> keys;
  std::vector<float> labels, x, dx;
  st->loop_start = absl::Now();
  for (int64_t t = st->start_step; t < total; ++t) {
    if (context->cancelled()) return absl::CancelledError("cancelled");
    if (t > 0 && t % st->steps_per_epoch == 0) {
      STRATA_RETURN_IF_ERROR(st->train->Rewind());
    }
    STRATA_RETURN_IF_ERROR(TrainStep(st, &mlp, t, &keys, &labels, &x, &dx));
    if ((t + 1) % st->steps_per_epoch == 0) {
      context->SaveResume(ResumeRecord(*st, t + 1));
    }
    context->ReportProgress(t + 1, total, TrainMetrics(*st));
  }
  st->loop_end = absl::Now();
  return absl::OkStatus();
}

// Rank 0 after the loop: waits for every worker's last step, checkpoints,
// evaluates the held-out split.
absl::Status Finish(TrainState* st, TaskContext* context, TaskMetrics* out) {
  const CtrTrainSpec& sp = st->spec;
  const int64_t total = TotalSteps(*st);
  std::vector<int64_t> done(st->base_step);
  for (int64_t& s : done) s += total;
  MlpParams params;
  STRATA_RETURN_IF_ERROR(
      PullMlp(st->client, sp.model().table(), done, &params, nullptr));
  if (!sp.skip_checkpoint()) {
    const uint64_t id =
        sp.checkpoint_id() != 0
            ? sp.checkpoint_id()
            : static_cast<uint64_t>(absl::ToUnixMillis(absl::Now()));
    STRATA_RETURN_IF_ERROR(AllOk(st->client->admin().Checkpoint(id)));
    (*out)["checkpoint_id"] = static_cast<double>(id);
  }
  absl::StatusOr<std::unique_ptr<ExampleSource>> eval;
  if (sp.data_path().empty()) {
    eval = GeneratedSource(st->generator.get(), kEvalStream, 0,
                           sp.generator().eval_rows());
  } else if (!sp.eval_path().empty()) {
    eval = OpenFile(sp.eval_path(), 0, 1, 0, 1);
  } else {
    eval = OpenFile(sp.data_path(), 1 - sp.eval_fraction(), 1, 0, 1);
  }
  if (!eval.ok()) return eval.status();
  STRATA_ASSIGN_OR_RETURN(
      const TaskMetrics m,
      Evaluate(st->client, sp.model(), eval->get(), 4096, context, false));
  for (const auto& [k, v] : m) {
    if (k == "malformed_lines") continue;  // counted by the training share
    (*out)[k] = v;
  }
  return absl::OkStatus();
}

// Attempt 0: creates the model, reads the MLP tensors' base steps and saves
// them as this rank's progress checkpoint.
absl::Status StartFresh(TrainState* st, TaskContext* context) {
  STRATA_RETURN_IF_ERROR(CreateModel(st->client, st->spec, st->workers));
  STRATA_RETURN_IF_ERROR(OpenTrainData(st));
  // No tensor can pass its current step before this rank pushes, so every
  // rank reads the same base steps.
  MlpParams params;
  const std::vector<int64_t> no_wait(NumTensors(st->spec.model()), 0);
  STRATA_RETURN_IF_ERROR(PullMlp(st->client, st->spec.model().table(), no_wait,
                                 &params, &st->base_step));
  st->first_push.assign(st->base_step.size(), 0);
  context->SaveResume(ResumeRecord(*st, 0));
  return absl::OkStatus();
}

// A restarted job's record: this rank's, else any rank's (the base steps
// are the same on all).
absl::StatusOr<CtrResume> PickResume(const TaskAssignment& a) {
  const std::string* record = nullptr;
  if (static_cast<int>(a.rank()) < a.resume_size() &&
      !a.resume(a.rank()).empty()) {
    record = &a.resume(a.rank());
  }
  for (const std::string& r : a.resume()) {
    if (record == nullptr && !r.empty()) record = &r;
  }
  if (record == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot resume: no progress checkpoint from any task of job ",
        a.job_id(), " (attempt ", a.attempt(), ")"));
  }
  CtrResume r;
  if (!r.ParseFromString(*record) || r.version() != kCtrResumeVersion) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot resume: the progress checkpoint is no CTR_TRAIN "
                     "record of version ",
                     kCtrResumeVersion));
  }
  return r;
}

// FAILED_PRECONDITION unless `r` fits this task's model and data.
absl::Status CheckResume(const CtrResume& r, const TrainState& st) {
  if (r.base_steps_size() != NumTensors(st.spec.model())) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot resume: the progress checkpoint has ", r.base_steps_size(),
        " dense tensors, the model ", NumTensors(st.spec.model())));
  }
  if (r.steps_per_epoch() != st.steps_per_epoch ||
      r.total_steps() != TotalSteps(st)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot resume: the progress checkpoint says ", r.steps_per_epoch(),
        " steps per epoch and ", r.total_steps(), " in all, the data gives ",
        st.steps_per_epoch, " and ", TotalSteps(st)));
  }
  return absl::OkStatus();
}

// Attempt > 0: continues at step t = min over the MLP tensors of (step -
// base step), at this rank's data position of step t.
absl::Status Resume(const TaskAssignment& a, TrainState* st,
                    TaskContext* context) {
  STRATA_ASSIGN_OR_RETURN(const CtrResume r, PickResume(a));
  STRATA_RETURN_IF_ERROR(OpenTrainData(st));
  STRATA_RETURN_IF_ERROR(CheckResume(r, *st));
  st->base_step.assign(r.base_steps().begin(), r.base_steps().end());
  const std::string& table = st->spec.model().table();
  MlpParams params;
  STRATA_RETURN_IF_ERROR(PullMlp(st->client, table,
                                 std::vector<int64_t>(st->base_step.size(), 0),
                                 &params, &st->first_push));
  const int64_t total = TotalSteps(*st);
  for (size_t i = 0; i < st->first_push.size(); ++i) {
    int64_t& done = st->first_push[i];
    done -= st->base_step[i];
    if (done < 0 || done > total) {
      return absl::FailedPreconditionError(absl::StrCat(
          "cannot resume: dense tensor ", DenseTensorName(table, i),
          " is at step ", done + st->base_step[i], ", outside the job's [",
          st->base_step[i], ", ", st->base_step[i] + total, "]"));
    }
  }
  st->start_step =
      *std::min_element(st->first_push.begin(), st->first_push.end());
  // This rank's batches of the current epoch before start_step.
  const int64_t batches = st->start_step % st->steps_per_epoch;
  STRATA_RETURN_IF_ERROR(st->train->Skip(batches * st->spec.batch_size()));
  LOG(INFO) << "CTR_TRAIN rank " << st->rank << " resumes attempt "
            << a.attempt() << " at step " << st->start_step << " of " << total;
  context->SaveResume(ResumeRecord(*st, st->start_step));
  return absl::OkStatus();
}

}  // namespace

absl::Status ExampleSource::Skip(int64_t n) {
  CtrExample ex;
  for (int64_t i = 0; i < n; ++i) {
    STRATA_ASSIGN_OR_RETURN(const bool more, Next(&ex));
    if (!more) break;
  }
  return absl::OkStatus();
}

std::unique_ptr<ExampleSource> GeneratedSource(const CtrGenerator* generator,
                                               uint64_t stream, uint64_t begin,
                                               uint64_t end) {
  return std::make_unique<GenSource>(generator, stream, begin, end);
}

std::unique_ptr<ExampleSource> FileSource(std::unique_ptr<CriteoReader> r) {
  return std::make_unique<ReaderSource>(std::move(r));
}

std::string DenseTensorName(const std::string& table, int i) {
  return absl::StrCat(table, "/", i % 2 == 0 ? "w" : "b", i / 2);
}

CtrGeneratorOptions ToGeneratorOptions(const CtrGeneratorSpec& spec) {
  CtrGeneratorOptions o;
  o.seed = spec.seed();
  o.max_vocab = spec.max_vocab();
  o.groups = static_cast<int>(spec.groups());
  o.zipf = spec.zipf();
  return o;
}

CtrModelConfig ToModelConfig(const CtrModelSpec& spec) {
  CtrModelConfig c;
  c.dim = static_cast<int>(spec.embedding_dim());
  c.hidden.assign(spec.hidden().begin(), spec.hidden().end());
  return c;
}

absl::StatusOr<TaskMetrics> CtrTrainTask::Run(const TaskAssignment& assignment,
                                              TaskContext* context) {
  TrainState st;
  st.spec = assignment.spec().ctr_train();  // prepared (server/jobs)
  st.rank = assignment.rank();
  st.workers = std::max<uint32_t>(assignment.num_tasks(), 1);
  st.attempt = assignment.attempt();
  std::unique_ptr<PsClient> owned;
  STRATA_ASSIGN_OR_RETURN(st.client, TaskPsClient(assignment, client_, &owned));
  STRATA_RETURN_IF_ERROR(st.attempt == 0 ? StartFresh(&st, context)
                                         : Resume(assignment, &st, context));
  STRATA_RETURN_IF_ERROR(TrainLoop(&st, context));
  TaskMetrics out = TrainMetrics(st);
  if (st.rank == 0) STRATA_RETURN_IF_ERROR(Finish(&st, context, &out));
  return out;
}

absl::StatusOr<TaskMetrics> CtrEvalTask::Run(const TaskAssignment& assignment,
                                             TaskContext* context) {
  const CtrEvalSpec& spec = assignment.spec().ctr_eval();  // prepared
  std::unique_ptr<PsClient> owned;
  STRATA_ASSIGN_OR_RETURN(PsClient* const client,
                          TaskPsClient(assignment, client_, &owned));
  if (spec.checkpoint_id() != 0) {
    STRATA_RETURN_IF_ERROR(AllOk(client->admin().Load(spec.checkpoint_id())));
  }
  std::unique_ptr<CtrGenerator> generator;
  absl::StatusOr<std::unique_ptr<ExampleSource>> src;
  if (spec.data_path().empty()) {
    generator =
        std::make_unique<CtrGenerator>(ToGeneratorOptions(spec.generator()));
    src = GeneratedSource(generator.get(), kEvalStream, 0,
                          spec.generator().eval_rows());
  } else {
    src = OpenFile(spec.data_path(), 1 - spec.eval_fraction(), 1, 0, 1);
  }
  if (!src.ok()) return src.status();
  return Evaluate(client, spec.model(), src->get(), spec.batch_size(), context,
                  true);
}

}  // namespace ctr
}  // namespace strata
