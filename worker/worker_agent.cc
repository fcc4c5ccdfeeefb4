#include "worker/worker_agent.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "glog/logging.h"
#include "grpcpp/grpcpp.h"
#include "proto/base/status_macros.h"
#include "proto/rpc_util.h"
#include "server/jobs/job_types.h"

namespace strata {

struct WorkerAgent::RunningTask {
  TaskAssignment assignment;
  std::atomic<bool> cancelled{false};
  std::atomic<bool> finished{false};
  std::thread thread;
};

// TaskContext handed to a running task: forwards throttled progress reports
// to the coordinator and turns the response's cancel flag into cancelled().
// Keeps the task's latest progress checkpoint (SaveResume): a new record
// makes the next report due after at most kResumeFlush, and the final report
// carries the latest record whatever was sent before. Every report carries
// the latest progress and metrics the task reported, so throttling delays
// a metric but never drops it. Thread-safe.
class WorkerAgent::Context final : public TaskContext {
 public:
  Context(WorkerAgent* agent, RunningTask* task) : agent_(agent), task_(task) {}

  bool cancelled() const override {
    return task_->cancelled.load() || agent_->stop_.HasBeenNotified();
  }

  void ReportProgress(int64_t step, int64_t total,
                      const TaskMetrics& metrics) override {
    absl::MutexLock lock(&mu_);
    step_ = step;
    total_ = total;
    metrics_ = metrics;
    const absl::Time now = absl::Now();
    if (step < total && !DueLocked(now)) return;
    SendProgressLocked(now);
  }

  void SaveResume(std::string record) override {
    absl::MutexLock lock(&mu_);
    resume_ = std::move(record);
    resume_sent_ = false;
    const absl::Time now = absl::Now();
    // With the latest progress the task reported (step 0 of 0 and no
    // metrics before its first: the coordinator keeps the task's progress),
    // so that a record taking the report slot does not hold back metrics
    // such as a test accuracy the task reported in a throttled call.
    if (DueLocked(now)) SendProgressLocked(now);
  }

  // The latest record SaveResume got; empty if none.
  std::string resume() const {
    absl::MutexLock lock(&mu_);
    return resume_;
  }

 private:
  // A record not yet delivered is due sooner than the progress interval.
  static constexpr absl::Duration kResumeFlush = absl::Seconds(1);

  bool DueLocked(absl::Time now) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    absl::Duration interval = agent_->options_.progress_interval;
    if (!resume_sent_) interval = std::min(interval, kResumeFlush);
    return now - last_ >= interval;
  }

  // Sends the latest progress (step_, total_, metrics_) and, if not yet
  // delivered, the latest record.
  void SendProgressLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    last_ = now;
    TaskReport report;
    report.set_task_id(task_->assignment.task_id());
    report.set_kind(TaskReport::PROGRESS);
    report.set_step(step_);
    report.set_total_steps(total_);
    for (const auto& [k, v] : metrics_) (*report.mutable_metrics())[k] = v;
    if (!resume_sent_) report.set_resume(resume_);
    bool cancel = false;
    if (agent_->SendReport(report, &cancel)) {
      resume_sent_ = true;
      if (cancel) task_->cancelled = true;
    }
  }

  WorkerAgent* const agent_;
  RunningTask* const task_;
  // Held across a report's RPC: only the task's thread reports.
  mutable absl::Mutex mu_;
  absl::Time last_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  std::string resume_ ABSL_GUARDED_BY(mu_);
  // The latest ReportProgress arguments, sent or throttled.
  int64_t step_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t total_ ABSL_GUARDED_BY(mu_) = 0;
  TaskMetrics metrics_ ABSL_GUARDED_BY(mu_);
  bool resume_sent_ ABSL_GUARDED_BY(mu_) = true;  // nothing to send yet
};

namespace {
NodeSessionOptions SessionOptions(const WorkerOptions& o) {
  NodeSessionOptions s;
  s.coordinator = o.coordinator;
  s.credentials = o.credentials;
  s.node.set_role(o.role);
  s.node.set_address(o.address);
  s.node.set_hostname(o.hostname);
  s.node.set_cpus(o.cpus);
  s.node.set_gpus(o.gpus);
  s.rpc_timeout = o.rpc_timeout;
  s.backoff = o.reconnect_backoff;
  s.max_backoff = o.max_reconnect_backoff;
  return s;
}
}  // namespace

WorkerAgent::WorkerAgent(WorkerOptions options, TaskRegistry registry)
    : options_(std::move(options)),
      registry_(std::move(registry)),
      session_(SessionOptions(options_)) {}

WorkerAgent::~WorkerAgent() {
  Stop();
  // Tasks call node_id() and SendReport(), which take locks: join unlocked.
  std::map<std::string, std::unique_ptr<RunningTask>> tasks;
  {
    absl::MutexLock lock(&mu_);
    tasks.swap(tasks_);
  }
  for (auto& [id, task] : tasks) {
    if (task->thread.joinable()) task->thread.join();
  }
}

std::string WorkerAgent::node_id() const { return session_.node_id(); }

absl::Status WorkerAgent::Run() {
  absl::Status status = session_.Register();
  if (!status.ok()) return stop_.HasBeenNotified() ? absl::OkStatus() : status;
  // When the coordinator forgets this node, end the task stream; the loop
  // below re-opens it under the id the session re-registers with.
  session_.StartHeartbeats(
      [this] {
        absl::MutexLock lock(&mu_);
        if (watch_context_ != nullptr) watch_context_->TryCancel();
      },
      nullptr);
  while (!stop_.HasBeenNotified()) {
    WatchLoop();
    ReapFinishedTasks();
    if (!stop_.HasBeenNotified()) {
      session_.SleepUnlessStopped(options_.reconnect_backoff);
    }
  }
  return absl::OkStatus();
}

void WorkerAgent::WatchLoop() {
  grpc::ClientContext ctx;
  WatchTasksRequest req;
  const NodeSession::Credentials who = session_.credentials();
  req.set_node_id(who.node_id);
  req.set_node_secret(who.secret);
  {
    absl::MutexLock lock(&mu_);
    if (stop_.HasBeenNotified()) return;
    watch_context_ = &ctx;
    // Re-attach: the coordinator keeps these and does not send them again.
    for (const auto& [id, task] : tasks_) {
      if (!task->finished) req.add_running_task_ids(id);
    }
  }
  std::unique_ptr<grpc::ClientReader<TaskCommand>> reader =
      session_.stub()->WatchTasks(&ctx, req);
  TaskCommand cmd;
  while (reader->Read(&cmd)) {
    if (cmd.has_assign()) {
      StartTask(cmd.assign());
    } else if (!cmd.cancel_task_id().empty()) {
      CancelTask(cmd.cancel_task_id());
    }
    ReapFinishedTasks();
  }
  absl::Status s = FromGrpcStatus(reader->Finish());
  {
    absl::MutexLock lock(&mu_);
    watch_context_ = nullptr;
  }
  if (!stop_.HasBeenNotified()) {
    LOG(WARNING) << "task stream from coordinator ended (" << s
                 << "); reconnecting";
  }
}

void WorkerAgent::StartTask(const TaskAssignment& assignment) {
  LOG(INFO) << "assigned " << assignment.task_id() << " (rank "
            << assignment.rank() << " of " << assignment.num_tasks() << ")";
  auto task = std::make_unique<RunningTask>();
  task->assignment = assignment;
  RunningTask* raw = task.get();
  absl::MutexLock lock(&mu_);
  if (tasks_.count(assignment.task_id())) {
    LOG(WARNING) << "duplicate assignment of " << assignment.task_id();
    return;
  }
  tasks_[assignment.task_id()] = std::move(task);
  raw->thread = std::thread([this, raw] { RunTask(raw); });
}

void WorkerAgent::CancelTask(const std::string& task_id) {
  absl::MutexLock lock(&mu_);
  auto it = tasks_.find(task_id);
  if (it == tasks_.end()) return;
  LOG(INFO) << "cancelling " << task_id;
  it->second->cancelled = true;
}

absl::StatusOr<TaskAssignment> WorkerAgent::Admit(
    const TaskAssignment& assignment) const {
  const absl::Status valid =
      jobs::ValidateJobSpec(options_.limits, assignment.spec());
  if (!valid.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("assigned job spec refused: ", valid.message()));
  }
  TaskAssignment admitted = assignment;
  STRATA_RETURN_IF_ERROR(
      ConfineJobInputs(options_.data_roots, admitted.mutable_spec()));
  return admitted;
}

void WorkerAgent::RunTask(RunningTask* task) {
  Context context(this, task);
  absl::StatusOr<TaskMetrics> result;
  const absl::StatusOr<TaskAssignment> admitted = Admit(task->assignment);
  if (!admitted.ok()) {
    result = admitted.status();
  } else {
    absl::StatusOr<std::unique_ptr<Task>> impl =
        registry_.Create(admitted->spec());
    result = impl.ok() ? (*impl)->Run(*admitted, &context) : impl.status();
  }
  if (!result.ok() && context.cancelled()) {
    result = absl::CancelledError(std::string(result.status().message()));
  }
  LOG(INFO) << task->assignment.task_id() << " finished: "
            << (result.ok() ? "OK" : result.status().ToString());
  SendFinalReport(*task, result, context.resume());
  task->finished = true;
}

void WorkerAgent::SendFinalReport(const RunningTask& task,
                                  const absl::StatusOr<TaskMetrics>& result,
                                  const std::string& resume) {
  TaskReport report;
  report.set_task_id(task.assignment.task_id());
  report.set_resume(resume);
  if (result.ok()) {
    report.set_kind(TaskReport::SUCCEEDED);
    for (const auto& [k, v] : *result) (*report.mutable_metrics())[k] = v;
  } else if (result.status().code() == absl::StatusCode::kCancelled) {
    report.set_kind(TaskReport::CANCELLED);
    report.set_message(std::string(result.status().message()));
  } else {
    report.set_kind(TaskReport::FAILED);
    report.set_code(static_cast<int>(result.status().code()));
    report.set_message(result.status().ToString());
  }
  // The outcome matters: retry while the coordinator is unreachable.
  absl::Duration backoff = options_.reconnect_backoff;
  for (int attempt = 0; attempt < 8; ++attempt) {
    bool cancel = false;
    if (SendReport(report, &cancel)) return;
    absl::SleepFor(backoff);
    backoff = std::min(backoff * 2, options_.max_reconnect_backoff);
  }
  LOG(ERROR) << "could not report the outcome of " << task.assignment.task_id();
}

bool WorkerAgent::SendReport(const TaskReport& report, bool* cancel) {
  TaskReport from_node = report;  // + this node's id and secret
  const NodeSession::Credentials who = session_.credentials();
  from_node.set_node_id(who.node_id);
  from_node.set_node_secret(who.secret);
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + options_.rpc_timeout));
  TaskReportResponse resp;
  grpc::Status s = session_.stub()->ReportTask(&ctx, from_node, &resp);
  if (!s.ok()) {
    LOG(WARNING) << "ReportTask(" << report.task_id()
                 << "): " << FromGrpcStatus(s);
    // NOT_FOUND etc. will not improve with retries; treat as delivered.
    return s.error_code() != grpc::StatusCode::UNAVAILABLE &&
           s.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED;
  }
  *cancel = resp.cancel();
  return true;
}

void WorkerAgent::ReapFinishedTasks() {
  std::vector<std::unique_ptr<RunningTask>> done;
  {
    absl::MutexLock lock(&mu_);
    for (auto it = tasks_.begin(); it != tasks_.end();) {
      if (it->second->finished) {
        done.push_back(std::move(it->second));
        it = tasks_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& t : done) t->thread.join();
}

void WorkerAgent::Stop() {
  {
    // Before stopping the session: Run() tells a Register() cut short by
    // the stop from a real failure by looking at stop_.
    absl::MutexLock lock(&mu_);
    if (!stop_.HasBeenNotified()) stop_.Notify();
  }
  session_.Stop();
  absl::MutexLock lock(&mu_);
  for (auto& [id, task] : tasks_) task->cancelled = true;
  if (watch_context_ != nullptr) watch_context_->TryCancel();
}

}  // namespace strata
