#include "server/coordinator/job_manager.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "glog/logging.h"
#include "proto/base/status_macros.h"
#include "server/coordinator/internal/secret.h"
#include "server/jobs/job_types.h"

namespace strata {
namespace {

constexpr absl::string_view kJobIdPrefix = "job-";
constexpr absl::string_view kTaskInfix = "/task-";
// Between a task's rank and its job's restart number ("job-1/task-0.r2").
constexpr absl::string_view kAttemptInfix = ".r";

// The numeric part of "job-N", or 0 when `id` is not of that form.
uint64_t ParseJobSeq(absl::string_view id) {
  uint64_t seq = 0;
  if (!absl::ConsumePrefix(&id, kJobIdPrefix) || !absl::SimpleAtoi(id, &seq)) {
    return 0;
  }
  return seq;
}

// a + b for non-negative a and b, saturating at the int64 maximum.
int64_t SaturatingAdd(int64_t a, int64_t b) {
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  return a > kMax - b ? kMax : a + b;
}

// The length of the longest prefix of the UTF-8 text `s` of at most
// `max_bytes` that does not end inside a character.
size_t Utf8PrefixBytes(absl::string_view s, size_t max_bytes) {
  size_t cut = std::min(max_bytes, s.size());
  while (cut > 0 && cut < s.size() &&
         (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) {
    --cut;  // s[cut] continues a character: cut before that character
  }
  return cut;
}

int64_t UnixMillisOrZero(absl::Time t) {
  return t == absl::InfinitePast() ? 0 : absl::ToUnixMillis(t);
}

absl::Time TimeOrPast(bool set, int64_t unix_us) {
  return set ? absl::FromUnixMicros(unix_us) : absl::InfinitePast();
}

}  // namespace

bool IsTerminal(JobState state) {
  return state == SUCCEEDED || state == FAILED || state == CANCELLED;
}

JobManager::JobManager(Options options, Clock* clock, StateStore* store)
    : options_(std::move(options)), clock_(clock), store_(store) {}

void JobManager::Restore(uint64_t next_seq,
                         std::vector<CoordinatorState::Job> jobs) {
  const absl::Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  next_seq_ = std::max(next_seq_, next_seq);
  for (CoordinatorState::Job& stored : jobs) {
    StoredJob& record = stored.job;
    auto job = std::make_shared<Job>();
    job->job_id = record.job_id();
    job->seq = ParseJobSeq(job->job_id);
    if (job->seq == 0) continue;  // not an id this manager hands out
    next_seq_ = std::max(next_seq_, job->seq + 1);
    job->spec = std::move(*record.mutable_spec());
    job->owner = record.owner();
    job->state = record.state();
    job->reason = record.reason();
    job->submit_time = absl::FromUnixMicros(record.submit_time_unix_us());
    job->start_time = TimeOrPast(record.has_start_time_unix_us(),
                                 record.start_time_unix_us());
    job->end_time =
        TimeOrPast(record.has_end_time_unix_us(), record.end_time_unix_us());
    for (const StoredTask& t : record.tasks()) {
      job->tasks.push_back(FromStoredTask(t));
      // By rank (also in records written before ranks were stored).
      job->tasks.back().rank = job->tasks.size() - 1;
    }
    for (const StoredTask& t : record.retired_tasks()) {
      job->retired.push_back(FromStoredTask(t));
    }
    job->restarts = record.restarts();
    job->restart_wait_start =
        TimeOrPast(record.has_restart_wait_start_unix_us(),
                   record.restart_wait_start_unix_us());
    job->resume.assign(record.resume().begin(), record.resume().end());
    for (auto& [index, event] : stored.events) {
      job->events.emplace_back(index, std::move(event));
    }
    job->next_event_index = record.next_event_index();
    job->stored_events = job->next_event_index;
    job->written = now;
    finished_jobs_ += IsTerminal(job->state);
    // The previous coordinator reaped (or was about to reap) jobs that had
    // ended; reaping them all again would list every shard per old job.
    job->reaped = IsTerminal(job->state);
    job->steps_reset = IsTerminal(job->state);
    jobs_[job->seq] = std::move(job);
  }
}

StoredJob JobManager::ToStoredLocked(const Job& job) const {
  StoredJob record;
  record.set_job_id(job.job_id);
  *record.mutable_spec() = job.spec;
  record.set_owner(job.owner);
  record.set_state(job.state);
  record.set_reason(job.reason);
  record.set_submit_time_unix_us(absl::ToUnixMicros(job.submit_time));
  if (job.start_time != absl::InfinitePast()) {
    record.set_start_time_unix_us(absl::ToUnixMicros(job.start_time));
  }
  if (job.end_time != absl::InfinitePast()) {
    record.set_end_time_unix_us(absl::ToUnixMicros(job.end_time));
  }
  for (const Task& task : job.tasks) *record.add_tasks() = ToStoredTask(task);
  for (const Task& task : job.retired) {
    *record.add_retired_tasks() = ToStoredTask(task);
  }
  record.set_next_event_index(job.next_event_index);
  record.set_restarts(job.restarts);
  if (job.restart_wait_start != absl::InfinitePast()) {
    record.set_restart_wait_start_unix_us(
        absl::ToUnixMicros(job.restart_wait_start));
  }
  for (const std::string& r : job.resume) record.add_resume(r);
  return record;
}

StoredTask JobManager::ToStoredTask(const Task& task) {
  StoredTask t;
  t.set_task_id(task.task_id);
  t.set_node_id(task.node_id);
  t.set_state(task.state);
  t.set_on_node(task.on_node);
  t.set_step(task.step);
  t.set_total_steps(task.total_steps);
  t.mutable_metrics()->insert(task.metrics.begin(), task.metrics.end());
  t.set_attempt(task.attempt);
  t.set_rank(task.rank);
  if (task.is_retired()) {
    t.set_retired_unix_us(absl::ToUnixMicros(task.retired));
  }
  return t;
}

JobManager::Task JobManager::FromStoredTask(const StoredTask& t) {
  Task task;
  task.task_id = t.task_id();
  task.node_id = t.node_id();
  task.state = t.state();
  task.on_node = t.on_node();
  task.step = t.step();
  task.total_steps = t.total_steps();
  task.metrics.insert(t.metrics().begin(), t.metrics().end());
  task.attempt = t.attempt();
  task.rank = t.rank();
  task.retired = TimeOrPast(t.has_retired_unix_us(), t.retired_unix_us());
  return task;
}

absl::Status JobManager::WriteLocked(Job& job,
                                     StateStore::Durability durability,
                                     StateStore::Batch batch) {
  if (store_ == nullptr) return absl::OkStatus();
  batch.PutJob(job.seq, ToStoredLocked(job));
  auto it =
      std::lower_bound(job.events.begin(), job.events.end(), job.stored_events,
                       [](const std::pair<size_t, JobEvent>& e, size_t i) {
                         return e.first < i;
                       });
  for (; it != job.events.end(); ++it) {
    batch.PutEvent(job.seq, it->first, it->second);
  }
  for (size_t index : job.unstored_deletes) batch.DeleteEvent(job.seq, index);
  STRATA_RETURN_IF_ERROR(store_->Write(std::move(batch), durability));
  job.stored_events = job.next_event_index;
  job.unstored_deletes.clear();
  job.dirty = false;
  job.written = clock_->Now();
  return absl::OkStatus();
}

void JobManager::PersistLocked(Job& job, StateStore::Durability durability) {
  const absl::Status s = WriteLocked(job, durability);
  LOG_IF(ERROR, !s.ok()) << "job " << job.job_id
                         << " not recorded in the state store (retried with "
                            "its next change): "
                         << s;
}

void JobManager::FlushProgress(bool all) {
  const absl::Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  for (const auto& [seq, job] : jobs_) {
    if (job->dirty &&
        (all || now - job->written >= options_.progress_write_interval)) {
      PersistLocked(*job, StateStore::Durability::kBuffered);
    }
  }
}

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

absl::StatusOr<std::string> JobManager::Submit(JobSpec spec,
                                               std::string owner) {
  STRATA_RETURN_IF_ERROR(jobs::PrepareJobSpec(options_.limits, &spec));
  const absl::Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  size_t pending = 0;
  for (const auto& [seq, j] : jobs_) pending += j->state == PENDING;
  if (pending >= options_.max_pending_jobs) {
    return absl::ResourceExhaustedError(absl::StrCat(
        pending, " jobs are pending; the limit is ", options_.max_pending_jobs,
        " (coordinator flag --max_pending_jobs): wait for some to start"));
  }
  auto job = std::make_shared<Job>();
  job->seq = next_seq_++;
  job->job_id = absl::StrCat(kJobIdPrefix, job->seq);
  job->spec = std::move(spec);
  job->owner = std::move(owner);
  job->submit_time = now;
  AppendEventLocked(*job, "submitted");
  // The id is handed out only once it is recorded.
  StateStore::Batch counter;
  counter.PutJobCounter(job->seq + 1);
  if (absl::Status s =
          WriteLocked(*job, StateStore::Durability::kSync, std::move(counter));
      !s.ok()) {
    --next_seq_;
    return s;
  }
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
    step = SaturatingAdd(step, task.step);
    total = SaturatingAdd(total, task.total_steps);
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
      if (!keep_progress) {
        if (e.first < job.stored_events) {
          job.unstored_deletes.push_back(e.first);
        }
        continue;
      }
    }
    kept.push_back(std::move(e));
  }
  job.events = std::move(kept);
}

JobStatus JobManager::ToStatusLocked(const Job& job) const {
  JobStatus status;
  status.set_job_id(job.job_id);
  *status.mutable_spec() = job.spec;
  status.set_owner(job.owner);
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
  status.set_restarts(job.restarts);
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
  if (state == FAILED && job.restarts > 0) {
    absl::StrAppend(&job.reason, " (after ", job.restarts,
                    job.restarts == 1 ? " restart)" : " restarts)");
  }
  job.end_time = clock_->Now();
  job.restart_wait_start = absl::InfinitePast();
  std::vector<TaskRef> to_cancel;
  for (const Task& task : job.tasks) {
    if (task.on_node && task.state == RUNNING) {
      to_cancel.push_back({task.node_id, task.task_id});
    }
  }
  AppendEventLocked(job,
                    state == SUCCEEDED ? "all tasks succeeded" : job.reason);
  PersistLocked(job, StateStore::Durability::kSync);
  ++finished_jobs_;
  PruneFinishedLocked();
  return to_cancel;
}

void JobManager::PruneFinishedLocked() {
  StateStore::Batch forgotten;
  for (auto it = jobs_.begin();
       it != jobs_.end() && finished_jobs_ > options_.max_finished_jobs;) {
    if (IsTerminal(it->second->state)) {
      forgotten.DeleteJob(it->first);
      it = jobs_.erase(it);
      --finished_jobs_;
    } else {
      ++it;
    }
  }
  if (store_ == nullptr || forgotten.empty()) return;
  const absl::Status s =
      store_->Write(std::move(forgotten), StateStore::Durability::kBuffered);
  LOG_IF(ERROR, !s.ok()) << "forgotten jobs not removed from the state store: "
                         << s;
}

std::vector<TaskRef> JobManager::OnTaskLostLocked(Job& job, Task& task,
                                                  absl::string_view reason,
                                                  absl::string_view what) {
  task.on_node = false;
  job.dirty = true;
  if (task.state != RUNNING || task.is_retired()) return {};
  task.state = FAILED;
  if (IsTerminal(job.state)) return {};
  std::vector<TaskRef> to_cancel;
  if (RestartLocked(job, what, &to_cancel)) return to_cancel;
  return FinishLocked(job, FAILED, reason);
}

bool JobManager::RestartLocked(Job& job, absl::string_view what,
                               std::vector<TaskRef>* to_cancel) {
  if (!jobs::IsRestartable(job.spec) ||
      job.restarts >= static_cast<uint32_t>(job.spec.max_task_retries())) {
    return false;
  }
  ++job.restarts;
  AppendEventLocked(
      job, absl::StrCat(what, "; restarting the job (restart ", job.restarts,
                        " of ", job.spec.max_task_retries(),
                        ") from its last progress checkpoint"));
  const absl::Time now = clock_->Now();
  // Tasks retired by an earlier restart that left their nodes are done.
  job.retired.erase(std::remove_if(job.retired.begin(), job.retired.end(),
                                   [](const Task& t) { return !t.on_node; }),
                    job.retired.end());
  for (Task& task : job.tasks) {
    if (!task.on_node) continue;
    if (task.state == RUNNING) {
      to_cancel->push_back({task.node_id, task.task_id});
      task.state = CANCELLED;
    }
    task.retired = now;
    job.retired.push_back(std::move(task));
  }
  job.tasks.clear();
  job.restart_wait_start = now;
  PersistLocked(job, StateStore::Durability::kSync);
  return true;
}

void JobManager::KeepResume(Job& job, uint32_t rank,
                            const std::string& resume) {
  if (resume.empty()) return;
  if (job.resume.size() <= rank) job.resume.resize(job.spec.num_workers());
  if (rank < job.resume.size()) job.resume[rank] = resume;
  job.dirty = true;
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
  const absl::Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  std::vector<PendingJob> out;
  for (const auto& [seq, job] : jobs_) {
    if (!job->restarting()) continue;
    PendingJob& p = out.emplace_back();
    p.job_id = job->job_id;
    p.spec = job->spec;
    p.submit_time = job->submit_time;
    p.restart = job->restarts;
    p.restart_wait_start = job->restart_wait_start;
    p.old_tasks_stopped = TasksStoppedLocked(*job, now);
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const PendingJob& a, const PendingJob& b) {
                     return a.restart_wait_start < b.restart_wait_start;
                   });
  for (const auto& [seq, job] : jobs_) {
    if (job->state == PENDING) {
      PendingJob& p = out.emplace_back();
      p.job_id = job->job_id;
      p.spec = job->spec;
      p.submit_time = job->submit_time;
    }
  }
  return out;
}

bool JobManager::TaskKeepsNodeBusyLocked(const Job& job, const Task& task,
                                         absl::Time now) const {
  if (!task.on_node) return false;
  if (task.is_retired()) return now - task.retired < options_.task_release_grace;
  return !IsTerminal(job.state) ||
         now - job.end_time < options_.task_release_grace;
}

bool JobManager::TasksStoppedLocked(const Job& job, absl::Time now) const {
  for (const std::vector<Task>* tasks : {&job.tasks, &job.retired}) {
    for (const Task& task : *tasks) {
      if (TaskKeepsNodeBusyLocked(job, task, now)) return false;
    }
  }
  return true;
}

absl::flat_hash_map<std::string, std::string>
JobManager::ActiveTasksByNodeLocked() {
  const absl::Time now = clock_->Now();
  absl::flat_hash_map<std::string, std::string> active;
  for (const auto& [seq, job] : jobs_) {
    for (const std::vector<Task>* tasks : {&job->tasks, &job->retired}) {
      for (const Task& task : *tasks) {
        if (TaskKeepsNodeBusyLocked(*job, task, now)) {
          active[task.node_id] = task.task_id;
        }
      }
    }
  }
  return active;
}

std::vector<std::string> JobManager::TakeJobsToReap() {
  const absl::Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  std::vector<std::string> out;
  for (auto& [seq, job] : jobs_) {
    if (job->reaped || !IsTerminal(job->state)) continue;
    if (job->spec.keep_tensors() || !jobs::UsesParameterServer(job->spec)) {
      job->reaped = true;
      continue;
    }
    if (!TasksStoppedLocked(*job, now)) continue;
    job->reaped = true;
    out.push_back(job->job_id);
  }
  return out;
}

std::vector<std::string> JobManager::TakeStepResets() {
  const absl::Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  std::vector<std::string> out;
  for (auto& [seq, job] : jobs_) {
    if (job->steps_reset || !IsTerminal(job->state)) continue;
    if (job->state == SUCCEEDED) {
      job->steps_reset = true;
      continue;
    }
    if (!TasksStoppedLocked(*job, now)) continue;
    job->steps_reset = true;
    for (std::string& prefix : jobs::BspTensorPrefixes(job->spec, job->job_id)) {
      out.push_back(std::move(prefix));
    }
  }
  return out;
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
  const bool restart = job.restarting();
  if (job.state != PENDING && !restart) {
    return absl::FailedPreconditionError(absl::StrCat(
        "job ", job_id, " is ", JobState_Name(job.state), ", not PENDING"));
  }
  if (restart && !TasksStoppedLocked(job, clock_->Now())) {
    return absl::FailedPreconditionError(absl::StrCat(
        "job ", job_id, ": tasks of its earlier attempt have not stopped"));
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
  STRATA_ASSIGN_OR_RETURN(const std::string secret,
                          coordinator_internal::NewSecret());
  std::vector<TaskAssignment> assignments;
  for (size_t rank = 0; rank < node_ids.size(); ++rank) {
    Task& task = job.tasks.emplace_back();
    task.task_id = absl::StrCat(
        job.job_id, kTaskInfix, rank,
        restart ? absl::StrCat(kAttemptInfix, job.restarts) : "");
    task.node_id = node_ids[rank];
    task.attempt = job.restarts;
    task.rank = rank;
    TaskAssignment& a = assignments.emplace_back();
    a.set_task_id(task.task_id);
    a.set_job_id(job.job_id);
    a.set_rank(rank);
    a.set_num_tasks(node_ids.size());
    *a.mutable_spec() = job.spec;
    for (const std::string& address : ps_addresses) a.add_ps_addresses(address);
    a.set_job_secret(secret);
    a.set_attempt(job.restarts);
    if (restart) {
      for (size_t r = 0; r < node_ids.size(); ++r) {
        a.add_resume(r < job.resume.size() ? job.resume[r] : "");
      }
    }
  }
  job.state = RUNNING;
  if (!restart) job.start_time = clock_->Now();
  job.restart_wait_start = absl::InfinitePast();
  AppendEventLocked(
      job, absl::StrCat(restart ? absl::StrCat("restart ", job.restarts, ": ")
                                : "",
                        "assigned to ", absl::StrJoin(node_ids, ", ")));
  PersistLocked(job, StateStore::Durability::kSync);
  return assignments;
}

std::vector<TaskRef> JobManager::NodeDied(absl::string_view node_id,
                                          absl::string_view reason) {
  absl::MutexLock lock(&mu_);
  // Collect first: FinishLocked may prune entries of jobs_ (the shared_ptrs
  // keep them alive).
  // (A job has at most one current task per node, so a restart, which
  // retires the job's tasks, never invalidates another index in `lost`.)
  std::vector<std::pair<std::shared_ptr<Job>, size_t>> lost;
  for (const auto& [seq, job] : jobs_) {
    for (size_t i = 0; i < job->tasks.size(); ++i) {
      const Task& task = job->tasks[i];
      if (task.node_id == node_id && task.on_node) lost.emplace_back(job, i);
    }
    for (Task& task : job->retired) {
      if (task.node_id != node_id || !task.on_node) continue;
      task.on_node = false;
      job->dirty = true;
    }
  }
  std::vector<TaskRef> to_cancel;
  for (auto& [job, i] : lost) {
    Task& task = job->tasks[i];
    std::vector<TaskRef> refs = OnTaskLostLocked(
        *job, task, reason,
        absl::StrCat("task ", task.task_id, " lost: ", reason));
    to_cancel.insert(to_cancel.end(), refs.begin(), refs.end());
  }
  return to_cancel;
}

std::vector<TaskRef> JobManager::Reattach(
    absl::string_view node_id, const std::vector<std::string>& running,
    const std::vector<std::string>& undelivered) {
  absl::flat_hash_set<std::string> listed(running.begin(), running.end());
  const absl::flat_hash_set<std::string> in_transit(undelivered.begin(),
                                                    undelivered.end());
  absl::MutexLock lock(&mu_);
  std::vector<std::pair<std::shared_ptr<Job>, size_t>> lost;
  std::vector<TaskRef> to_cancel;
  for (const auto& [seq, job] : jobs_) {
    const size_t current = job->tasks.size();
    for (size_t i = 0; i < current + job->retired.size(); ++i) {
      Task& task =
          i < current ? job->tasks[i] : job->retired[i - current];
      if (task.node_id != node_id || !task.on_node) continue;
      const bool live = task.state == RUNNING && job->state == RUNNING &&
                        !task.is_retired();
      if (listed.erase(task.task_id) > 0) {
        if (!live) to_cancel.push_back({task.node_id, task.task_id});
      } else if (in_transit.contains(task.task_id)) {
        continue;
      } else if (live) {
        lost.emplace_back(job, i);
      } else {
        task.on_node = false;  // ended and no longer on the node
        job->dirty = true;
      }
    }
  }
  for (auto& [job, i] : lost) {
    Task& task = job->tasks[i];
    const std::string reason = absl::StrCat(
        "task ", task.task_id, " on ", task.node_id,
        " was lost: the node no longer runs it (it reconnected or the "
        "coordinator restarted without it)");
    std::vector<TaskRef> refs = OnTaskLostLocked(*job, task, reason, reason);
    to_cancel.insert(to_cancel.end(), refs.begin(), refs.end());
  }
  // Listed tasks this manager does not have on the node: unknown, of a
  // forgotten job, or moved to another node.
  for (const std::string& task_id : listed) {
    to_cancel.push_back({std::string(node_id), task_id});
  }
  return to_cancel;
}

JobManager::Task* JobManager::FindTaskLocked(absl::string_view task_id,
                                             std::shared_ptr<Job>* job) {
  const size_t slash = task_id.find(kTaskInfix);
  if (slash == absl::string_view::npos) return nullptr;
  *job = FindLocked(task_id.substr(0, slash));
  if (*job == nullptr) return nullptr;
  absl::string_view rank_text = task_id.substr(slash + kTaskInfix.size());
  rank_text = rank_text.substr(0, rank_text.find(kAttemptInfix));
  size_t rank = 0;
  if (absl::SimpleAtoi(rank_text, &rank) && rank < (*job)->tasks.size() &&
      (*job)->tasks[rank].task_id == task_id) {
    return &(*job)->tasks[rank];
  }
  for (Task& task : (*job)->retired) {
    if (task.task_id == task_id) return &task;
  }
  return nullptr;
}

void JobManager::ReleaseTask(absl::string_view task_id) {
  absl::MutexLock lock(&mu_);
  std::shared_ptr<Job> job;
  if (Task* task = FindTaskLocked(task_id, &job)) {
    task->on_node = false;
    job->dirty = true;
  }
}

absl::Status JobManager::CheckReport(const TaskReport& report) const {
  if (!TaskReport::Kind_IsValid(report.kind())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown report kind ", report.kind(), " for task ", report.task_id()));
  }
  if (report.node_id().empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "report for task '", report.task_id(), "' has no node_id"));
  }
  if (report.step() < 0 || report.total_steps() < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "report for task '", report.task_id(), "' has a negative step"));
  }
  if (report.resume().size() > options_.max_resume_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "report for task '", report.task_id(), "' has a resume record of ",
        report.resume().size(), " bytes; the limit is ",
        options_.max_resume_bytes, " (coordinator flag --max_resume_bytes)"));
  }
  if (report.metrics_size() > static_cast<int>(options_.max_report_metrics)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "report for task '", report.task_id(), "' has ",
        report.metrics_size(), " metrics; the limit is ",
        options_.max_report_metrics));
  }
  for (const auto& [name, value] : report.metrics()) {
    if (name.empty() || name.size() > options_.max_metric_name_bytes ||
        !std::isfinite(value)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "report for task '", report.task_id(), "': metric '",
          absl::CHexEscape(name.substr(0, options_.max_metric_name_bytes)),
          "' needs a name of 1 to ", options_.max_metric_name_bytes,
          " bytes and a finite value"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<JobManager::ReportResult> JobManager::Report(
    const TaskReport& original) {
  STRATA_RETURN_IF_ERROR(CheckReport(original));
  TaskReport truncated;
  const TaskReport* in = &original;
  if (original.message().size() > options_.max_report_message_bytes) {
    truncated = original;
    truncated.mutable_message()->resize(
        Utf8PrefixBytes(original.message(), options_.max_report_message_bytes));
    truncated.mutable_message()->append("... (truncated)");
    in = &truncated;
  }
  const TaskReport& report = *in;
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
  if (ends_task && task->on_node) {
    task->on_node = false;
    job->dirty = true;
  }
  if (task->is_retired()) {
    // A task of an earlier attempt. While the job waits to be placed again,
    // the stopped attempt's last progress checkpoints still count.
    if (job->restarting() && task->attempt + 1 == job->restarts) {
      KeepResume(*job, task->rank, report.resume());
    }
    result.cancel = true;
    return result;
  }
  if (task->state != RUNNING || job->state != RUNNING) {
    // A late report: the task or its job already ended. Nothing to record.
    result.cancel = job->state != RUNNING;
    return result;
  }
  KeepResume(*job, task->rank, report.resume());
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
    // A job that ended was written by FinishLocked.
    if (!IsTerminal(job->state)) {
      PersistLocked(*job, StateStore::Durability::kSync);
    }
  } else {
    AppendEventLocked(
        *job, report.message().empty()
                  ? ""
                  : absl::StrCat(task->task_id, ": ", report.message()));
    job->dirty = true;
    if (clock_->Now() - job->written >= options_.progress_write_interval) {
      PersistLocked(*job, StateStore::Durability::kBuffered);
    }
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
    case TaskReport::FAILED: {
      task.state = FAILED;
      const std::string reason =
          absl::StrCat("task ", task.task_id, " on ", task.node_id, " failed",
                       detail.empty() ? ": (no message)" : detail);
      if (jobs::IsTransientTaskFailure(
              static_cast<absl::StatusCode>(report.code())) &&
          RestartLocked(job, reason, &result.to_cancel)) {
        return;
      }
      result.to_cancel = FinishLocked(job, FAILED, reason);
      return;
    }
    case TaskReport::CANCELLED: {
      // Not by this coordinator (the job still runs this task): transient.
      task.state = CANCELLED;
      const std::string reason =
          absl::StrCat("task ", task.task_id, " on ", task.node_id,
                       " was cancelled by its worker", detail);
      if (RestartLocked(job, reason, &result.to_cancel)) return;
      result.to_cancel = FinishLocked(job, FAILED, reason);
      return;
    }
    default:
      return;  // PROGRESS is handled by the caller.
  }
}

}  // namespace strata
