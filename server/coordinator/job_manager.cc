#include "server/coordinator/job_manager.h"

#include <sys/random.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <limits>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "proto/base/status_macros.h"
#include "server/jobs/job_types.h"

namespace strata {
namespace {

constexpr absl::string_view kJobIdPrefix = "job-";
constexpr absl::string_view kTaskInfix = "/task-";

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

// 128 bits from the kernel's CSPRNG: every task of a job gets them in its
// assignment to prove it belongs to the job. Never logged, not kept in Job.
absl::StatusOr<std::string> NewJobSecret() {
  std::string secret(16, '\0');
  size_t got = 0;
  while (got < secret.size()) {
    const ssize_t n = getrandom(secret.data() + got, secret.size() - got, 0);
    if (n < 0 && errno != EINTR) {
      return absl::UnavailableError("getrandom failed: no job secret");
    }
    if (n > 0) got += n;
  }
  return secret;
}

int64_t UnixMillisOrZero(absl::Time t) {
  return t == absl::InfinitePast() ? 0 : absl::ToUnixMillis(t);
}

}  // namespace

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
  STRATA_ASSIGN_OR_RETURN(const std::string secret, NewJobSecret());
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
    a.set_job_secret(secret);
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
