#include "server/coordinator/job_manager.h"

#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"

namespace strata {
namespace {

constexpr absl::string_view kJobIdPrefix = "job-";
constexpr absl::string_view kTaskInfix = "/task-";
constexpr size_t kMaxNameBytes = 256;
constexpr size_t kMaxTableNameBytes = 128;
constexpr uint32_t kMaxDim = 4096;
constexpr uint64_t kMaxKeysPerWorker = uint64_t{1} << 30;
constexpr uint32_t kMaxBatchSize = 1u << 20;
constexpr uint32_t kMaxRounds = 1000;
constexpr uint64_t kMaxCtrVocab = uint64_t{1} << 32;

// The numeric part of "job-N", or 0 when `id` is not of that form.
uint64_t ParseJobSeq(absl::string_view id) {
  uint64_t seq = 0;
  if (!absl::ConsumePrefix(&id, kJobIdPrefix) || !absl::SimpleAtoi(id, &seq)) {
    return 0;
  }
  return seq;
}

absl::Status OutOfRange(absl::string_view field, uint64_t value, uint64_t lo,
                        uint64_t hi) {
  return absl::InvalidArgumentError(
      absl::StrCat(field, " ", value, " is out of range [", lo, ", ", hi, "]"));
}

absl::Status ValidatePsLoadTest(PsLoadTestSpec* t) {
  if (t->table().empty()) t->set_table("loadtest");
  if (t->table().size() > kMaxTableNameBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("ps_load_test.table is ", t->table().size(),
                     " bytes; the limit is ", kMaxTableNameBytes));
  }
  if (t->dim() == 0) t->set_dim(16);
  if (t->dim() > kMaxDim) {
    return OutOfRange("ps_load_test.dim", t->dim(), 1, kMaxDim);
  }
  if (t->keys_per_worker() == 0) t->set_keys_per_worker(100000);
  if (t->keys_per_worker() > kMaxKeysPerWorker) {
    return OutOfRange("ps_load_test.keys_per_worker", t->keys_per_worker(), 1,
                      kMaxKeysPerWorker);
  }
  if (t->batch_size() == 0) t->set_batch_size(8192);
  if (t->batch_size() > kMaxBatchSize) {
    return OutOfRange("ps_load_test.batch_size", t->batch_size(), 1,
                      kMaxBatchSize);
  }
  if (t->rounds() == 0) t->set_rounds(3);
  if (t->rounds() > kMaxRounds) {
    return OutOfRange("ps_load_test.rounds", t->rounds(), 1, kMaxRounds);
  }
  if (t->seed() == 0) t->set_seed(1);
  return absl::OkStatus();
}

absl::Status ValidateTableName(absl::string_view what, const std::string& t) {
  if (t.size() > kMaxTableNameBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, " is ", t.size(), " bytes; the limit is ", kMaxTableNameBytes));
  }
  return absl::OkStatus();
}

// Defaults and limits shared by CTR_TRAIN and CTR_EVAL (docs/ctr.md).
absl::Status ValidateCtrData(absl::string_view job, const std::string& path,
                             CtrGeneratorSpec* g, CtrModelSpec* m) {
  if (path.empty()) {
    if (g->rows() == 0) g->set_rows(1000000);
    if (g->eval_rows() == 0) g->set_eval_rows(100000);
    if (g->seed() == 0) g->set_seed(1);
    if (g->max_vocab() == 0) g->set_max_vocab(200000);
    if (g->max_vocab() > kMaxCtrVocab) {
      return OutOfRange(absl::StrCat(job, ".generator.max_vocab"),
                        g->max_vocab(), 1, kMaxCtrVocab);
    }
    if (g->groups() == 0) g->set_groups(100);
    if (g->zipf() == 0) g->set_zipf(1.1);
    if (!(g->zipf() > 0 && g->zipf() <= 4)) {
      return absl::InvalidArgumentError(absl::StrCat(
          job, ".generator.zipf ", g->zipf(), " is out of range (0, 4]"));
    }
  }
  if (m->table().empty()) m->set_table("ctr");
  if (absl::Status s = ValidateTableName(absl::StrCat(job, ".model.table"),
                                         m->table());
      !s.ok()) {
    return s;
  }
  if (m->embedding_dim() == 0) m->set_embedding_dim(16);
  if (m->embedding_dim() > kMaxDim) {
    return OutOfRange(absl::StrCat(job, ".model.embedding_dim"),
                      m->embedding_dim(), 1, kMaxDim);
  }
  if (m->hidden().empty()) {
    m->add_hidden(64);
    m->add_hidden(32);
  }
  for (uint32_t h : m->hidden()) {
    if (h == 0 || h > kMaxDim) {
      return OutOfRange(absl::StrCat(job, ".model.hidden"), h, 1, kMaxDim);
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateFraction(absl::string_view what, double f) {
  if (!(f > 0 && f <= 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " ", f, " is out of range (0, 1]"));
  }
  return absl::OkStatus();
}

absl::Status ValidateCtrTrain(CtrTrainSpec* t) {
  if (absl::Status s = ValidateCtrData("ctr_train", t->data_path(),
                                       t->mutable_generator(),
                                       t->mutable_model());
      !s.ok()) {
    return s;
  }
  if (t->epochs() == 0) t->set_epochs(1);
  if (t->epochs() > kMaxRounds) {
    return OutOfRange("ctr_train.epochs", t->epochs(), 1, kMaxRounds);
  }
  if (t->batch_size() == 0) t->set_batch_size(1024);
  if (t->batch_size() > kMaxBatchSize) {
    return OutOfRange("ctr_train.batch_size", t->batch_size(), 1,
                      kMaxBatchSize);
  }
  if (t->learning_rate() == 0) t->set_learning_rate(0.05f);
  if (t->dense_learning_rate() == 0) t->set_dense_learning_rate(0.002f);
  if (!(t->learning_rate() > 0) || !(t->dense_learning_rate() > 0)) {
    return absl::InvalidArgumentError(
        "ctr_train learning rates must be positive");
  }
  if (!t->data_path().empty() && t->eval_path().empty()) {
    if (t->eval_fraction() == 0) t->set_eval_fraction(0.1);
    if (!(t->eval_fraction() > 0 && t->eval_fraction() < 1)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "ctr_train.eval_fraction ", t->eval_fraction(),
          " is out of range (0, 1)"));
    }
  }
  if (t->seed() == 0) t->set_seed(1);
  return absl::OkStatus();
}

absl::Status ValidateCtrEval(uint32_t num_workers, CtrEvalSpec* e) {
  if (num_workers != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ctr_eval runs on one worker (AUC needs every score), got num_workers ",
        num_workers));
  }
  if (absl::Status s = ValidateCtrData("ctr_eval", e->data_path(),
                                       e->mutable_generator(),
                                       e->mutable_model());
      !s.ok()) {
    return s;
  }
  if (!e->data_path().empty()) {
    if (e->eval_fraction() == 0) e->set_eval_fraction(1);
    if (absl::Status s =
            ValidateFraction("ctr_eval.eval_fraction", e->eval_fraction());
        !s.ok()) {
      return s;
    }
  }
  if (e->batch_size() == 0) e->set_batch_size(4096);
  if (e->batch_size() > kMaxBatchSize) {
    return OutOfRange("ctr_eval.batch_size", e->batch_size(), 1,
                      kMaxBatchSize);
  }
  return absl::OkStatus();
}

int64_t UnixMillisOrZero(absl::Time t) {
  return t == absl::InfinitePast() ? 0 : absl::ToUnixMillis(t);
}


// Device strings accepted in a CNN_TRAIN spec ("cpu", "gpu:N").
bool IsDeviceString(const std::string& d) {
  if (d == "cpu") return true;
  uint32_t index = 0;
  absl::string_view rest = d;
  return absl::ConsumePrefix(&rest, "gpu:") && !rest.empty() &&
         absl::SimpleAtoi(rest, &index);
}

// CNN_TRAIN (docs/stanza.md): applies defaults, derives num_workers (conv +
// fc tasks) and the conv role. Runs before the generic defaults.
absl::Status ValidateCnnTrain(JobSpec* spec) {
  CnnTrainSpec* c = spec->mutable_cnn_train();
  if (c->model().empty()) c->set_model("lenet5");
  if (c->model() != "lenet5" && c->model() != "alexnet" &&
      c->model() != "vgg") {
    return absl::InvalidArgumentError(absl::StrCat(
        "cnn_train.model '", c->model(), "' is not one of lenet5, alexnet, vgg"));
  }
  if (!c->data().mnist_dir().empty() && c->model() != "lenet5") {
    return absl::InvalidArgumentError(
        "cnn_train.data.mnist_dir needs model lenet5 (28x28x1 images)");
  }
  CnnDataSpec* d = c->mutable_data();
  if (d->synthetic_train() == 0) d->set_synthetic_train(4096);
  if (d->synthetic_test() == 0) d->set_synthetic_test(1024);
  if (d->seed() == 0) d->set_seed(7);
  if (c->num_conv_workers() == 0) c->set_num_conv_workers(1);
  if (c->mode() == CnnTrainSpec::STANZA) {
    if (c->num_fc_nodes() == 0) c->set_num_fc_nodes(1);
    if (c->num_fc_nodes() > c->num_conv_workers()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "cnn_train.num_fc_nodes ", c->num_fc_nodes(),
          " exceeds num_conv_workers ", c->num_conv_workers(),
          " (every FC node needs at least one conv worker)"));
    }
  } else if (c->num_fc_nodes() != 0) {
    return absl::InvalidArgumentError(
        "cnn_train.num_fc_nodes must be 0 in PS mode (every worker trains the "
        "whole model)");
  }
  const uint64_t total = uint64_t{c->num_conv_workers()} + c->num_fc_nodes();
  if (spec->num_workers() != 0 && spec->num_workers() != total) {
    return absl::InvalidArgumentError(absl::StrCat(
        "num_workers ", spec->num_workers(), " disagrees with cnn_train: ",
        c->num_conv_workers(), " conv workers + ", c->num_fc_nodes(),
        " FC nodes = ", total, " (leave num_workers unset)"));
  }
  if (total > kMaxRounds) return OutOfRange("cnn_train tasks", total, 1, kMaxRounds);
  spec->set_num_workers(static_cast<uint32_t>(total));
  if (spec->worker_role().empty()) spec->set_worker_role("conv");
  if (c->fc_role().empty()) c->set_fc_role("fc");
  if (c->mode() == CnnTrainSpec::STANZA && c->fc_role() == spec->worker_role()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cnn_train.fc_role '", c->fc_role(), "' must differ from worker_role"));
  }
  if (c->batch_size() == 0) c->set_batch_size(64);
  if (c->batch_size() > 65536) {
    return OutOfRange("cnn_train.batch_size", c->batch_size(), 1, 65536);
  }
  if (c->learning_rate() == 0) c->set_learning_rate(0.01f);
  if (c->momentum() == 0) c->set_momentum(0.9f);
  if (c->momentum() < 0) c->set_momentum(0.0f);
  if (c->lr_epoch_decay() == 0) c->set_lr_epoch_decay(1.0f);
  if (!(c->learning_rate() > 0) || c->momentum() >= 1 ||
      c->weight_decay() < 0 || !(c->lr_epoch_decay() > 0)) {
    return absl::InvalidArgumentError(
        "cnn_train needs learning_rate > 0, momentum in [0, 1), weight_decay "
        ">= 0 and lr_epoch_decay > 0");
  }
  if (c->steps() == 0 && c->epochs() == 0) c->set_epochs(1);
  if (c->epochs() > kMaxRounds) {
    return OutOfRange("cnn_train.epochs", c->epochs(), 1, kMaxRounds);
  }
  if (c->device().empty()) c->set_device("cpu");
  if (c->fc_device().empty()) c->set_fc_device(c->device());
  if (c->conv_devices_size() > 0 &&
      c->conv_devices_size() != static_cast<int>(c->num_conv_workers())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cnn_train.conv_devices lists ", c->conv_devices_size(),
        " devices for ", c->num_conv_workers(), " conv workers"));
  }
  std::vector<std::string> devices(c->conv_devices().begin(),
                                   c->conv_devices().end());
  devices.push_back(c->device());
  devices.push_back(c->fc_device());
  for (const std::string& dev : devices) {
    if (!IsDeviceString(dev)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "cnn_train device '", dev, "' is not cpu or gpu:N"));
    }
  }
  if (c->fc_average_every() == 0) c->set_fc_average_every(10);
  if (c->seed() == 0) c->set_seed(1);
  if (c->eval_batch() == 0) c->set_eval_batch(256);
  if (c->step_timeout_s() == 0) c->set_step_timeout_s(120);
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateAndDefaultJobSpec(uint32_t max_workers, JobSpec* spec) {
  if (spec->job_case() == JobSpec::JOB_NOT_SET) {
    return absl::InvalidArgumentError(
        "job spec sets no job type; set one of: ps_load_test, ctr_train, "
        "ctr_eval, cnn_train");
  }
  if (spec->name().size() > kMaxNameBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("name is ", spec->name().size(), " bytes; the limit is ",
                     kMaxNameBytes));
  }
  if (spec->job_case() == JobSpec::kCnnTrain) {
    if (absl::Status s = ValidateCnnTrain(spec); !s.ok()) return s;
  }
  if (spec->num_workers() == 0) spec->set_num_workers(1);
  if (spec->num_workers() > max_workers) {
    return OutOfRange("num_workers", spec->num_workers(), 1, max_workers);
  }
  if (spec->worker_role().empty()) spec->set_worker_role("general");
  if (spec->worker_role() == "ps") {
    return absl::InvalidArgumentError(
        "worker_role 'ps' is reserved for parameter-server shards");
  }
  switch (spec->job_case()) {
    case JobSpec::kPsLoadTest:
      return ValidatePsLoadTest(spec->mutable_ps_load_test());
    case JobSpec::kCtrTrain:
      return ValidateCtrTrain(spec->mutable_ctr_train());
    case JobSpec::kCtrEval:
      return ValidateCtrEval(spec->num_workers(), spec->mutable_ctr_eval());
    case JobSpec::kCnnTrain:  // validated above
    case JobSpec::JOB_NOT_SET:
      break;
  }
  return absl::OkStatus();
}

bool IsTerminal(JobState state) {
  return state == SUCCEEDED || state == FAILED || state == CANCELLED;
}

JobManager::JobManager(Options options, Clock* clock)
    : options_(std::move(options)), clock_(clock) {}

std::shared_ptr<JobManager::Job> JobManager::FindLocked(
    absl::string_view job_id) {
  auto it = jobs_.find(ParseJobSeq(job_id));
  if (it == jobs_.end() || it->second->job_id != job_id) return nullptr;
  return it->second;
}

absl::StatusOr<std::shared_ptr<JobManager::Job>> JobManager::GetJobLocked(
    absl::string_view job_id) {
  std::shared_ptr<Job> job = FindLocked(job_id);
  if (job == nullptr) {
    return absl::NotFoundError(absl::StrCat("job '", job_id, "' not found"));
  }
  return job;
}

absl::StatusOr<std::string> JobManager::Submit(JobSpec spec) {
  if (absl::Status s = ValidateAndDefaultJobSpec(options_.max_workers, &spec);
      !s.ok()) {
    return s;
  }
  const absl::Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  auto job = std::make_shared<Job>();
  job->seq = next_seq_++;
  job->job_id = absl::StrCat(kJobIdPrefix, job->seq);
  job->spec = std::move(spec);
  job->submit_time = now;
  AppendEventLocked(*job, "submitted");
  jobs_[job->seq] = job;
  return job->job_id;
}

void JobManager::AppendEventLocked(Job& job, absl::string_view message) {
  JobEvent event;
  event.set_job_id(job.job_id);
  event.set_state(job.state);
  int64_t step = 0;
  int64_t total = 0;
  auto& metrics = *event.mutable_metrics();
  for (const Task& task : job.tasks) {
    step += task.step;
    total += task.total_steps;
    for (const auto& [name, value] : task.metrics) metrics[name] += value;
  }
  event.set_step(step);
  event.set_total_steps(total);
  event.set_message(std::string(message));
  event.set_time_unix_ms(absl::ToUnixMillis(clock_->Now()));
  job.events.push_back({job.next_event_index++, std::move(event)});
  if (job.events.size() <= options_.max_events_per_job) return;
  // Thin progress events: drop every other one, keeping state changes (the
  // first event of each state, and every non-RUNNING event) and the last.
  std::vector<std::pair<size_t, JobEvent>> kept;
  kept.reserve(job.events.size());
  bool keep_progress = false;  // alternates: keep, drop, keep, ...
  JobState previous = JOB_STATE_UNSPECIFIED;
  for (size_t i = 0; i < job.events.size(); ++i) {
    auto& e = job.events[i];
    const JobState state = e.second.state();
    const bool state_change = state != previous || state != RUNNING;
    const bool last = i + 1 == job.events.size();
    previous = state;
    if (!state_change && !last) {
      keep_progress = !keep_progress;
      if (!keep_progress) continue;
    }
    kept.push_back(std::move(e));
  }
  job.events = std::move(kept);
}

JobStatus JobManager::ToStatusLocked(const Job& job) const {
  JobStatus status;
  status.set_job_id(job.job_id);
  *status.mutable_spec() = job.spec;
  status.set_state(job.state);
  status.set_reason(job.reason);
  if (!job.events.empty()) {
    const JobEvent& last = job.events.back().second;
    status.set_step(last.step());
    status.set_total_steps(last.total_steps());
    *status.mutable_metrics() = last.metrics();
  }
  status.set_submit_time_unix_ms(UnixMillisOrZero(job.submit_time));
  status.set_start_time_unix_ms(UnixMillisOrZero(job.start_time));
  status.set_end_time_unix_ms(UnixMillisOrZero(job.end_time));
  for (const Task& task : job.tasks) status.add_assigned_nodes(task.node_id);
  return status;
}

absl::StatusOr<JobStatus> JobManager::Get(absl::string_view job_id) {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<std::shared_ptr<Job>> job = GetJobLocked(job_id);
  if (!job.ok()) return job.status();
  return ToStatusLocked(**job);
}

std::vector<JobStatus> JobManager::List() {
  absl::MutexLock lock(&mu_);
  std::vector<JobStatus> out;
  out.reserve(jobs_.size());
  for (const auto& [seq, job] : jobs_) out.push_back(ToStatusLocked(*job));
  return out;
}

std::vector<TaskRef> JobManager::FinishLocked(Job& job, JobState state,
                                              absl::string_view reason) {
  job.state = state;
  job.reason = std::string(reason);
  job.end_time = clock_->Now();
  std::vector<TaskRef> to_cancel;
  for (const Task& task : job.tasks) {
    if (task.on_node && task.state == RUNNING) {
      to_cancel.push_back({task.node_id, task.task_id});
    }
  }
  AppendEventLocked(job, state == SUCCEEDED ? "all tasks succeeded" : reason);
  ++finished_jobs_;
  PruneFinishedLocked();
  return to_cancel;
}

void JobManager::PruneFinishedLocked() {
  for (auto it = jobs_.begin();
       it != jobs_.end() && finished_jobs_ > options_.max_finished_jobs;) {
    if (IsTerminal(it->second->state)) {
      it = jobs_.erase(it);
      --finished_jobs_;
    } else {
      ++it;
    }
  }
}

absl::StatusOr<JobTransition> JobManager::Cancel(absl::string_view job_id) {
  return End(job_id, CANCELLED, "cancelled by request");
}

absl::StatusOr<JobTransition> JobManager::Fail(absl::string_view job_id,
                                               absl::string_view reason) {
  return End(job_id, FAILED, reason);
}

absl::StatusOr<JobTransition> JobManager::End(absl::string_view job_id,
                                              JobState state,
                                              absl::string_view reason) {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<std::shared_ptr<Job>> found = GetJobLocked(job_id);
  if (!found.ok()) return found.status();
  Job& job = **found;
  if (IsTerminal(job.state)) {
    return absl::FailedPreconditionError(
        absl::StrCat("job ", job_id, " is already ", JobState_Name(job.state),
                     job.reason.empty() ? "" : ": ", job.reason));
  }
  JobTransition transition;
  transition.state = state;
  transition.to_cancel = FinishLocked(job, state, reason);
  return transition;
}

absl::StatusOr<EventBatch> JobManager::WaitForEvents(absl::string_view job_id,
                                                     size_t from_index,
                                                     absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<std::shared_ptr<Job>> found = GetJobLocked(job_id);
  if (!found.ok()) return found.status();
  // The shared_ptr keeps the job alive for the condition even if pruned.
  const std::shared_ptr<Job> job = *std::move(found);
  auto ready = [&job, from_index]() {
    return job->next_event_index > from_index || IsTerminal(job->state);
  };
  mu_.AwaitWithDeadline(absl::Condition(&ready), deadline);
  EventBatch batch;
  auto it = std::lower_bound(job->events.begin(), job->events.end(), from_index,
                             [](const std::pair<size_t, JobEvent>& e,
                                size_t i) { return e.first < i; });
  for (; it != job->events.end(); ++it) batch.events.push_back(it->second);
  batch.next_index = std::max(from_index, job->next_event_index);
  batch.done = IsTerminal(job->state);
  return batch;
}

std::vector<PendingJob> JobManager::PendingJobs() {
  absl::MutexLock lock(&mu_);
  std::vector<PendingJob> out;
  for (const auto& [seq, job] : jobs_) {
    if (job->state == PENDING) {
      out.push_back({job->job_id, job->spec, job->submit_time});
    }
  }
  return out;
}

bool JobManager::TaskKeepsNodeBusyLocked(const Job& job, const Task& task,
                                         absl::Time now) const {
  if (!task.on_node) return false;
  return !IsTerminal(job.state) ||
         now - job.end_time < options_.task_release_grace;
}

absl::flat_hash_map<std::string, std::string>
JobManager::ActiveTasksByNodeLocked() {
  const absl::Time now = clock_->Now();
  absl::flat_hash_map<std::string, std::string> active;
  for (const auto& [seq, job] : jobs_) {
    for (const Task& task : job->tasks) {
      if (TaskKeepsNodeBusyLocked(*job, task, now)) {
        active[task.node_id] = task.task_id;
      }
    }
  }
  return active;
}

absl::flat_hash_map<std::string, std::string> JobManager::ActiveTasksByNode() {
  absl::MutexLock lock(&mu_);
  return ActiveTasksByNodeLocked();
}

absl::StatusOr<std::vector<TaskAssignment>> JobManager::Start(
    absl::string_view job_id, const std::vector<std::string>& node_ids,
    const std::vector<std::string>& ps_addresses) {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<std::shared_ptr<Job>> found = GetJobLocked(job_id);
  if (!found.ok()) return found.status();
  Job& job = **found;
  if (job.state != PENDING) {
    return absl::FailedPreconditionError(absl::StrCat(
        "job ", job_id, " is ", JobState_Name(job.state), ", not PENDING"));
  }
  if (node_ids.size() != job.spec.num_workers()) {
    return absl::FailedPreconditionError(
        absl::StrCat("job ", job_id, " needs ", job.spec.num_workers(),
                     " nodes, got ", node_ids.size()));
  }
  const auto active = ActiveTasksByNodeLocked();
  absl::flat_hash_set<std::string> seen;
  for (const std::string& node : node_ids) {
    if (auto it = active.find(node); it != active.end()) {
      return absl::FailedPreconditionError(
          absl::StrCat("node ", node, " is busy with task ", it->second));
    }
    if (!seen.insert(node).second) {
      return absl::FailedPreconditionError(
          absl::StrCat("node ", node, " is listed twice"));
    }
  }
  std::vector<TaskAssignment> assignments;
  for (size_t rank = 0; rank < node_ids.size(); ++rank) {
    Task& task = job.tasks.emplace_back();
    task.task_id = absl::StrCat(job.job_id, kTaskInfix, rank);
    task.node_id = node_ids[rank];
    TaskAssignment& a = assignments.emplace_back();
    a.set_task_id(task.task_id);
    a.set_job_id(job.job_id);
    a.set_rank(rank);
    a.set_num_tasks(node_ids.size());
    *a.mutable_spec() = job.spec;
    for (const std::string& address : ps_addresses) a.add_ps_addresses(address);
  }
  job.state = RUNNING;
  job.start_time = clock_->Now();
  AppendEventLocked(
      job, absl::StrCat("assigned to ", absl::StrJoin(node_ids, ", ")));
  return assignments;
}

std::vector<TaskRef> JobManager::NodeDied(absl::string_view node_id,
                                          absl::string_view reason) {
  absl::MutexLock lock(&mu_);
  std::vector<TaskRef> to_cancel;
  // Collect first: FinishLocked may prune entries of jobs_.
  std::vector<std::shared_ptr<Job>> to_fail;
  for (const auto& [seq, job] : jobs_) {
    bool hit = false;
    for (Task& task : job->tasks) {
      if (task.node_id != node_id || !task.on_node) continue;
      task.on_node = false;
      if (task.state == RUNNING) {
        task.state = FAILED;
        hit = true;
      }
    }
    if (hit && !IsTerminal(job->state)) to_fail.push_back(job);
  }
  for (const std::shared_ptr<Job>& job : to_fail) {
    std::vector<TaskRef> refs = FinishLocked(*job, FAILED, reason);
    to_cancel.insert(to_cancel.end(), refs.begin(), refs.end());
  }
  return to_cancel;
}

JobManager::Task* JobManager::FindTaskLocked(absl::string_view task_id,
                                             std::shared_ptr<Job>* job) {
  const size_t slash = task_id.find(kTaskInfix);
  if (slash == absl::string_view::npos) return nullptr;
  *job = FindLocked(task_id.substr(0, slash));
  size_t rank = 0;
  if (*job == nullptr ||
      !absl::SimpleAtoi(task_id.substr(slash + kTaskInfix.size()), &rank) ||
      rank >= (*job)->tasks.size() || (*job)->tasks[rank].task_id != task_id) {
    return nullptr;
  }
  return &(*job)->tasks[rank];
}

void JobManager::ReleaseTask(absl::string_view task_id) {
  absl::MutexLock lock(&mu_);
  std::shared_ptr<Job> job;
  if (Task* task = FindTaskLocked(task_id, &job)) task->on_node = false;
}

absl::StatusOr<JobManager::ReportResult> JobManager::Report(
    const TaskReport& report) {
  if (!TaskReport::Kind_IsValid(report.kind())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown report kind ", report.kind(), " for task ", report.task_id()));
  }
  if (report.node_id().empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "report for task '", report.task_id(), "' has no node_id"));
  }
  absl::MutexLock lock(&mu_);
  std::shared_ptr<Job> job;
  Task* task = FindTaskLocked(report.task_id(), &job);
  if (task == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("task '", report.task_id(), "' not found"));
  }
  if (task->node_id != report.node_id()) {
    return absl::FailedPreconditionError(
        absl::StrCat("task ", task->task_id, " is assigned to ", task->node_id,
                     ", not ", report.node_id()));
  }
  ReportResult result;
  const bool ends_task = report.kind() != TaskReport::PROGRESS;
  if (ends_task) task->on_node = false;
  if (task->state != RUNNING || job->state != RUNNING) {
    // A late report: the task or its job already ended. Nothing to record.
    result.cancel = job->state != RUNNING;
    return result;
  }
  if (report.step() != 0) task->step = report.step();
  if (report.total_steps() != 0) task->total_steps = report.total_steps();
  if (!report.metrics().empty()) {
    task->metrics.clear();
    for (const auto& [name, value] : report.metrics()) {
      task->metrics[name] = value;
    }
  }
  if (ends_task) {
    ApplyTaskEndLocked(*job, *task, report, result);
  } else {
    AppendEventLocked(
        *job, report.message().empty()
                  ? ""
                  : absl::StrCat(task->task_id, ": ", report.message()));
  }
  result.cancel = job->state != RUNNING;
  return result;
}

void JobManager::ApplyTaskEndLocked(Job& job, Task& task,
                                    const TaskReport& report,
                                    ReportResult& result) {
  const std::string detail =
      report.message().empty() ? "" : absl::StrCat(": ", report.message());
  switch (report.kind()) {
    case TaskReport::SUCCEEDED: {
      task.state = SUCCEEDED;
      const bool all =
          std::all_of(job.tasks.begin(), job.tasks.end(),
                      [](const Task& t) { return t.state == SUCCEEDED; });
      if (all) {
        FinishLocked(job, SUCCEEDED, "");
      } else {
        AppendEventLocked(job,
                          absl::StrCat("task ", task.task_id, " succeeded"));
      }
      return;
    }
    case TaskReport::FAILED:
      task.state = FAILED;
      result.to_cancel = FinishLocked(
          job, FAILED,
          absl::StrCat("task ", task.task_id, " on ", task.node_id, " failed",
                       detail.empty() ? ": (no message)" : detail));
      return;
    case TaskReport::CANCELLED:
      task.state = CANCELLED;
      result.to_cancel =
          FinishLocked(job, FAILED,
                       absl::StrCat("task ", task.task_id, " on ", task.node_id,
                                    " was cancelled by its worker", detail));
      return;
    default:
      return;  // PROGRESS is handled by the caller.
  }
}

}  // namespace strata
