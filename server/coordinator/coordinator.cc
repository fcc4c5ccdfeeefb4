#include "server/coordinator/coordinator.h"

#include <algorithm>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "proto/base/status_macros.h"

namespace strata {
namespace {

// The scheduler's options, resetting restarted jobs' BSP steps through
// `reaper` unless the caller set its own reset (tests).
Scheduler::Options WithHooks(Scheduler::Options options, TensorReaper* reaper,
                             std::function<bool(const std::string&)> attached) {
  if (!options.reset_dense_steps) {
    options.reset_dense_steps = [reaper](const std::string& prefix) {
      return reaper->ResetNow(prefix);
    };
  }
  if (!options.can_take_tasks) options.can_take_tasks = std::move(attached);
  return options;
}

// OK when `caller` may cancel `job`: an admin any job, an operator the
// jobs it submitted.
absl::Status CheckMayCancel(const JobStatus& job,
                            const security::Identity& caller) {
  const std::string who = security::IdentityUri(caller);
  if (caller.role == security::Role::kAdmin) return absl::OkStatus();
  if (caller.role == security::Role::kOperator && job.owner() == who) {
    return absl::OkStatus();
  }
  return absl::PermissionDeniedError(absl::StrCat(
      who, " may not cancel ", job.job_id(), ": ", job.job_id(),
      job.owner().empty()
          ? " has no owner (submitted without a certificate)"
          : absl::StrCat(" belongs to ", job.owner()),
      "; only its owner or an admin may cancel it"));
}

absl::Status NodeDeadError(absl::string_view node_id) {
  return absl::FailedPreconditionError(absl::StrCat(
      "node ", node_id, " was declared dead; register again for a new id"));
}

}  // namespace

Coordinator::Coordinator(Options options, Clock* clock,
                         std::unique_ptr<StateStore> store)
    : options_(std::move(options)),
      clock_(clock),
      store_(std::move(store)),
      registry_(options_.registry, clock, store_.get()),
      jobs_(options_.jobs, clock, store_.get()),
      // reaper_ is constructed after scheduler_, before any pass uses it.
      scheduler_(WithHooks(options_.scheduler, &reaper_,
                           [this](const std::string& node_id) {
                             return !TaskStreamDetached(node_id);
                           }),
                 &registry_, &jobs_, clock),
      reaper_(
          [this] {
            TensorReaper::Options o = options_.reaper;
            o.credentials = options_.credentials;
            return o;
          }(),
          [this] { return registry_.PsAddresses(); }),
      checkpoints_(options_.checkpoints, clock,
                   CheckpointPolicy::ConsistentCheckpointer(
                       [this] { return registry_.PsAddresses(); },
                       options_.checkpoints.rpc_timeout,
                       options_.credentials),
                   [this](uint64_t id) -> absl::Status {
                     if (store_ == nullptr) return absl::OkStatus();
                     StateStore::Batch batch;
                     batch.PutCheckpointCounter(id);
                     return store_->Write(std::move(batch),
                                          StateStore::Durability::kSync);
                   }) {}

Coordinator::Coordinator(Options options, Clock* clock)
    : Coordinator(std::move(options), clock, nullptr) {
  CHECK(options_.state_dir.empty())
      << "a coordinator with a state_dir is made by Coordinator::Create";
  if (options_.background_thread) thread_ = std::thread([this] { Loop(); });
}

absl::StatusOr<std::unique_ptr<Coordinator>> Coordinator::Create(
    Options options, Clock* clock) {
  std::unique_ptr<StateStore> store;
  CoordinatorState state;
  if (options.state_dir.empty()) {
    LOG(WARNING) << "no --state_dir: jobs, nodes and id counters are kept in "
                    "memory only and are lost when the coordinator restarts";
  } else {
    STRATA_ASSIGN_OR_RETURN(store, StateStore::Open({options.state_dir}));
    STRATA_ASSIGN_OR_RETURN(state, store->Load());
  }
  std::unique_ptr<Coordinator> coordinator(
      new Coordinator(std::move(options), clock, std::move(store)));
  coordinator->Resume(std::move(state));
  if (coordinator->options_.background_thread) {
    Coordinator* c = coordinator.get();
    c->thread_ = std::thread([c] { c->Loop(); });
  }
  return coordinator;
}

void Coordinator::Resume(CoordinatorState state) {
  if (store_ == nullptr) return;
  const size_t nodes = state.nodes.size();
  const size_t jobs = state.jobs.size();
  registry_.Restore(state.next_node_seq, state.nodes);
  checkpoints_.Restore(state.last_checkpoint_id);
  jobs_.Restore(state.next_job_seq, std::move(state.jobs));
  // A task on a node the registry no longer knows cannot come back.
  for (const auto& [node_id, task_id] : jobs_.ActiveTasksByNode()) {
    if (registry_.Get(node_id).ok()) continue;
    jobs_.NodeDied(node_id, absl::StrCat("node ", node_id,
                                         " is unknown after the coordinator "
                                         "restarted"));
  }
  LOG(INFO) << "state store " << store_->dir() << ": resumed " << nodes
            << " node(s) and " << jobs << " job(s); next ids node-"
            << state.next_node_seq << ", job-" << state.next_job_seq
            << " or above";
}

Coordinator::~Coordinator() {
  Shutdown();
  if (thread_.joinable()) thread_.join();
  jobs_.FlushProgress(/*all=*/true);
}

void Coordinator::Shutdown() {
  absl::MutexLock lock(&mu_);
  shutting_down_ = true;
}

bool Coordinator::shutting_down() {
  absl::MutexLock lock(&mu_);
  return shutting_down_;
}

void Coordinator::Loop() {
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (mu_.AwaitWithTimeout(absl::Condition(&shutting_down_),
                               options_.tick_interval)) {
        return;
      }
    }
    Tick();
  }
}

void Coordinator::Tick() {
  absl::MutexLock dispatch(&dispatch_mu_);
  Scheduler::Pass pass = scheduler_.RunOnce();
  {
    absl::MutexLock lock(&mu_);
    for (const NodeInfo& node : pass.dead_nodes) {
      CloseQueueLocked(node.node_id());
    }
  }
  DispatchCancels(pass.to_cancel);
  {
    absl::MutexLock lock(&mu_);
    const absl::Time now = clock_->Now();
    for (size_t i = 0; i < pass.assignments.size(); ++i) {
      Entry entry;
      *entry.command.mutable_assign() = std::move(pass.assignments[i]);
      entry.queued = now;
      QueueLocked(pass.assignment_nodes[i]).entries.push_back(std::move(entry));
    }
  }
  FailUndelivered();
  CloseDeadQueues();
  jobs_.FlushProgress(/*all=*/false);
  reaper_.EnqueueResets(jobs_.TakeStepResets());
  reaper_.Enqueue(jobs_.TakeJobsToReap());
}

Coordinator::NodeQueue& Coordinator::QueueLocked(const std::string& node_id) {
  std::shared_ptr<NodeQueue>& q = queues_[node_id];
  if (q == nullptr) q = std::make_shared<NodeQueue>();
  return *q;
}

void Coordinator::CloseQueueLocked(const std::string& node_id) {
  auto it = queues_.find(node_id);
  if (it == queues_.end()) return;
  it->second->closed = true;
  it->second->entries.clear();
  queues_.erase(it);
}

void Coordinator::CloseDeadQueues() {
  std::vector<std::string> ids;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [id, q] : queues_) ids.push_back(id);
  }
  ids.erase(std::remove_if(ids.begin(), ids.end(),
                           [this](const std::string& id) {
                             return registry_.IsAlive(id);
                           }),
            ids.end());
  absl::MutexLock lock(&mu_);
  for (const std::string& id : ids) CloseQueueLocked(id);
}

void Coordinator::DispatchCancels(const std::vector<TaskRef>& refs) {
  std::vector<std::string> released;
  {
    absl::MutexLock lock(&mu_);
    const absl::Time now = clock_->Now();
    for (const TaskRef& ref : refs) {
      auto it = queues_.find(ref.node_id);
      if (it == queues_.end()) continue;  // the node is dead
      std::deque<Entry>& entries = it->second->entries;
      auto pending =
          std::find_if(entries.begin(), entries.end(), [&ref](const Entry& e) {
            return e.command.assign().task_id() == ref.task_id;
          });
      if (pending != entries.end()) {
        // Never delivered: drop it rather than send assign + cancel.
        entries.erase(pending);
        released.push_back(ref.task_id);
        continue;
      }
      Entry entry;
      entry.command.set_cancel_task_id(ref.task_id);
      entry.queued = now;
      entries.push_back(std::move(entry));
    }
  }
  for (const std::string& task_id : released) jobs_.ReleaseTask(task_id);
}

void Coordinator::FailUndelivered() {
  std::vector<std::pair<std::string, TaskAssignment>> late;  // node, task
  {
    absl::MutexLock lock(&mu_);
    const absl::Time now = clock_->Now();
    for (auto& [node_id, q] : queues_) {
      auto& entries = q->entries;
      for (auto it = entries.begin(); it != entries.end();) {
        if (it->command.has_assign() &&
            now - it->queued > options_.delivery_timeout) {
          late.emplace_back(node_id, std::move(*it->command.mutable_assign()));
          it = entries.erase(it);
        } else {
          ++it;
        }
      }
    }
  }
  // Release all first so no late task is also sent a cancel.
  for (const auto& [node_id, task] : late) jobs_.ReleaseTask(task.task_id());
  for (const auto& [node_id, task] : late) {
    const std::string reason = absl::StrCat(
        "task ", task.task_id(), " was not picked up by ", node_id, " within ",
        absl::FormatDuration(options_.delivery_timeout),
        " (is its WatchTasks stream open?)");
    absl::StatusOr<JobTransition> failed = jobs_.Fail(task.job_id(), reason);
    if (!failed.ok()) continue;  // already ended
    LOG(WARNING) << "job " << task.job_id() << " failed: " << reason;
    DispatchCancels(failed->to_cancel);
  }
}

absl::StatusOr<JobState> Coordinator::CancelJob(
    absl::string_view job_id,
    const std::optional<security::Identity>& caller) {
  if (caller.has_value()) {
    STRATA_ASSIGN_OR_RETURN(const JobStatus job, jobs_.Get(job_id));
    STRATA_RETURN_IF_ERROR(CheckMayCancel(job, *caller));
  }
  absl::MutexLock dispatch(&dispatch_mu_);
  STRATA_ASSIGN_OR_RETURN(const JobTransition cancelled, jobs_.Cancel(job_id));
  LOG(INFO) << "job " << job_id << " cancelled; stopping "
            << cancelled.to_cancel.size() << " task(s)";
  DispatchCancels(cancelled.to_cancel);
  return cancelled.state;
}

absl::StatusOr<CheckpointPolicy::Written> Coordinator::Checkpoint() {
  return checkpoints_.CheckpointNow();
}

absl::StatusOr<RegisterNodeResponse> Coordinator::RegisterNode(
    const NodeInfo& node, const NodeCredentials& claim,
    const std::optional<security::Identity>& caller) {
  STRATA_ASSIGN_OR_RETURN(NodeCredentials registered,
                          registry_.Register(node, claim, caller));
  const std::string& id = registered.node_id;
  if (absl::StatusOr<NodeInfo> info = registry_.Get(id); info.ok()) {
    LOG(INFO) << (id == claim.node_id ? "re-registered " : "registered ") << id
              << ": role=" << info->role() << " host=" << info->hostname()
              << " address=" << info->address() << " gpus=" << info->gpus()
              << (info->role() == kPsRole
                      ? absl::StrCat(" shard=", info->shard_id(), "/",
                                     info->num_shards())
                      : "");
  }
  RegisterNodeResponse response;
  response.set_node_id(id);
  response.set_node_secret(std::move(registered.secret));
  response.set_heartbeat_interval_ms(static_cast<uint32_t>(
      absl::ToInt64Milliseconds(options_.registry.heartbeat_interval)));
  return response;
}

ClusterResponse Coordinator::Cluster() {
  ClusterResponse response;
  const auto active = jobs_.ActiveTasksByNode();
  for (NodeInfo& node : registry_.List()) {
    if (auto it = active.find(node.node_id()); it != active.end()) {
      node.set_current_task(it->second);
    }
    *response.add_nodes() = std::move(node);
  }
  absl::StatusOr<std::vector<std::string>> ps = registry_.PsAddresses();
  if (ps.ok()) {
    for (std::string& address : *ps) response.add_ps_addresses(address);
  }
  return response;
}

absl::StatusOr<TaskReportResponse> Coordinator::ReportTask(
    const TaskReport& report,
    const std::optional<security::Identity>& caller) {
  if (!report.node_id().empty()) {  // else INVALID_ARGUMENT from Report
    STRATA_RETURN_IF_ERROR(
        registry_
            .Authenticate(report.node_id(), report.node_secret(), caller)
            .status());
  }
  absl::MutexLock dispatch(&dispatch_mu_);
  STRATA_ASSIGN_OR_RETURN(const JobManager::ReportResult result,
                          jobs_.Report(report));
  if (report.kind() != TaskReport::PROGRESS) {
    LOG(INFO) << report.task_id() << " on " << report.node_id() << ": "
              << TaskReport::Kind_Name(report.kind())
              << (report.message().empty() ? "" : ": ")
              // Escaped: a worker's message must not forge log lines.
              << absl::CHexEscape(report.message());
  }
  DispatchCancels(result.to_cancel);
  TaskReportResponse response;
  response.set_cancel(result.cancel);
  return response;
}

absl::StatusOr<uint64_t> Coordinator::OpenTaskStream(
    absl::string_view node_id, absl::string_view secret,
    const std::vector<std::string>& running,
    const std::optional<security::Identity>& caller) {
  absl::MutexLock dispatch(&dispatch_mu_);
  STRATA_ASSIGN_OR_RETURN(const NodeInfo node,
                          registry_.Authenticate(node_id, secret, caller));
  if (!node.alive()) return NodeDeadError(node_id);
  uint64_t stream = 0;
  std::vector<std::string> undelivered;  // assignments on their way
  {
    absl::MutexLock lock(&mu_);
    if (shutting_down_) {
      return absl::UnavailableError("coordinator is shutting down");
    }
    NodeQueue& q = QueueLocked(std::string(node_id));
    stream = q.stream = next_stream_++;
    q.detached = false;
    undelivered = q.in_flight;
    for (const Entry& entry : q.entries) {
      if (entry.command.has_assign()) {
        undelivered.push_back(entry.command.assign().task_id());
      }
    }
  }
  DispatchCancels(jobs_.Reattach(node_id, running, undelivered));
  return stream;
}

absl::StatusOr<std::vector<TaskCommand>> Coordinator::NextCommands(
    absl::string_view node_id, uint64_t stream, absl::Time deadline) {
  STRATA_ASSIGN_OR_RETURN(const NodeInfo node, registry_.Get(node_id));
  if (!node.alive()) return NodeDeadError(node_id);
  absl::MutexLock lock(&mu_);
  auto it = queues_.find(node_id);
  if (it == queues_.end()) return NodeDeadError(node_id);
  const std::shared_ptr<NodeQueue> q = it->second;
  auto ready = [this, &q, stream]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return !q->entries.empty() || q->closed || q->stream != stream ||
           shutting_down_;
  };
  mu_.AwaitWithDeadline(absl::Condition(&ready), deadline);
  if (shutting_down_) {
    return absl::UnavailableError("coordinator is shutting down");
  }
  if (q->closed) return NodeDeadError(node_id);
  if (q->stream != stream) {
    return absl::AbortedError(absl::StrCat(
        "superseded by a newer WatchTasks stream for node ", node_id));
  }
  std::vector<TaskCommand> commands;
  q->in_flight.clear();
  for (Entry& entry : q->entries) {
    if (entry.command.has_assign()) {
      q->in_flight.push_back(entry.command.assign().task_id());
    }
    commands.push_back(std::move(entry.command));
  }
  q->entries.clear();
  return commands;
}

void Coordinator::TaskStreamGone(absl::string_view node_id, uint64_t stream) {
  absl::MutexLock lock(&mu_);
  auto it = queues_.find(node_id);
  if (it != queues_.end() && it->second->stream == stream) {
    it->second->detached = true;
  }
}

bool Coordinator::TaskStreamDetached(absl::string_view node_id) {
  absl::MutexLock lock(&mu_);
  auto it = queues_.find(node_id);
  return it != queues_.end() && it->second->detached;
}

void Coordinator::ReturnCommands(absl::string_view node_id,
                                 std::vector<TaskCommand> commands) {
  absl::MutexLock lock(&mu_);
  auto it = queues_.find(node_id);
  if (it == queues_.end()) return;  // the node died; nothing to deliver
  const absl::Time now = clock_->Now();
  std::deque<Entry>& entries = it->second->entries;
  for (auto c = commands.rbegin(); c != commands.rend(); ++c) {
    entries.push_front(Entry{std::move(*c), now});
  }
}

}  // namespace strata
