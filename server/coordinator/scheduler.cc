#include "server/coordinator/scheduler.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "glog/logging.h"
#include "proto/base/status_macros.h"
#include "server/jobs/job_types.h"

namespace strata {
namespace {

bool Fits(const NodeInfo& node, const jobs::RoleNeed& need,
          const JobSpec& spec) {
  return node.role() == need.role && node.gpus() >= spec.gpus_per_worker() &&
         (!need.needs_address || !node.address().empty());
}

}  // namespace

Scheduler::Scheduler(Options options, NodeRegistry* registry, JobManager* jobs,
                     Clock* clock)
    : options_(std::move(options)),
      registry_(registry),
      jobs_(jobs),
      clock_(clock) {}

Scheduler::Pass Scheduler::RunOnce() {
  absl::MutexLock lock(&mu_);
  Pass pass;
  HandleDeadNodes(pass);
  Workers workers = LiveWorkers();
  const absl::Time now = clock_->Now();
  for (const PendingJob& job : jobs_->PendingJobs()) {
    const absl::Status placed = TryPlace(job, workers, pass);
    if (placed.ok()) continue;
    const bool restart = job.restart > 0;
    const absl::Duration timeout =
        restart ? absl::Seconds(job.spec.spare_wait_s())
        : job.spec.schedule_timeout_s() != 0
            ? absl::Seconds(job.spec.schedule_timeout_s())
            : options_.schedule_timeout;
    if (now - (restart ? job.restart_wait_start : job.submit_time) < timeout) {
      continue;
    }
    const std::string reason = absl::StrCat(
        restart ? absl::StrCat("restart ", job.restart, " not placed")
                : "not scheduled",
        " within ", absl::FormatDuration(timeout), ": ", placed.message());
    absl::StatusOr<JobTransition> failed = jobs_->Fail(job.job_id, reason);
    if (!failed.ok()) continue;  // cancelled meanwhile
    LOG(WARNING) << "job " << job.job_id << " failed: " << reason;
    pass.timed_out_jobs.push_back(job.job_id);
  }
  return pass;
}

void Scheduler::HandleDeadNodes(Pass& pass) {
  for (NodeInfo& node : registry_->Sweep()) {
    const std::string reason = registry_->DeathDescription(node);
    LOG(WARNING) << reason;
    std::vector<TaskRef> refs = jobs_->NodeDied(node.node_id(), reason);
    pass.to_cancel.insert(pass.to_cancel.end(), refs.begin(), refs.end());
    pass.dead_nodes.push_back(std::move(node));
  }
}

Scheduler::Workers Scheduler::LiveWorkers() {
  const auto active = jobs_->ActiveTasksByNode();
  Workers workers;
  for (NodeInfo& node : registry_->Schedulable()) {
    if (node.role() == kPsRole) continue;
    if (options_.can_take_tasks && !options_.can_take_tasks(node.node_id())) {
      continue;
    }
    if (active.contains(node.node_id())) {
      workers.busy.push_back(std::move(node));
    } else {
      workers.idle.push_back(std::move(node));
    }
  }
  return workers;
}

absl::Status Scheduler::FindNodes(const JobSpec& spec,
                                 const std::vector<jobs::RoleNeed>& needs,
                                 const Workers& workers,
                                 std::vector<size_t>* fitting,
                                 std::vector<std::string>* ps_addresses) {
  std::vector<std::string> missing;
  std::vector<bool> taken(workers.idle.size(), false);
  for (const jobs::RoleNeed& need : needs) {
    std::vector<size_t> found;
    for (size_t i = 0; i < workers.idle.size(); ++i) {
      if (!taken[i] && Fits(workers.idle[i], need, spec)) found.push_back(i);
    }
    if (found.size() < need.count) {
      size_t busy = 0;
      for (const NodeInfo& node : workers.busy) busy += Fits(node, need, spec);
      missing.push_back(absl::StrCat(
          "needs ", need.count, " workers with role '", need.role, "'",
          need.needs_address ? " serving an address (--listen)" : "",
          " and >= ", spec.gpus_per_worker(), " GPUs; ", found.size(),
          " registered and idle",
          busy == 0 ? "" : absl::StrCat(" (", busy, " more busy)")));
      continue;
    }
    found.resize(need.count);
    for (size_t i : found) {
      taken[i] = true;
      fitting->push_back(i);
    }
  }
  if (jobs::UsesParameterServer(spec)) {
    absl::StatusOr<std::vector<std::string>> ps = registry_->PsAddresses();
    if (ps.ok()) {
      *ps_addresses = *std::move(ps);
    } else {
      missing.push_back(absl::StrCat("parameter-server shards incomplete: ",
                                     ps.status().message()));
    }
  }
  if (missing.empty()) return absl::OkStatus();
  return absl::UnavailableError(absl::StrJoin(missing, "; "));
}

absl::Status Scheduler::ResetBspSteps(const PendingJob& job) {
  if (!options_.reset_dense_steps) return absl::OkStatus();
  for (const std::string& prefix :
       jobs::BspTensorPrefixes(job.spec, job.job_id)) {
    if (absl::Status s = options_.reset_dense_steps(prefix); !s.ok()) {
      return absl::UnavailableError(absl::StrCat(
          "resetting the open steps of its BSP tensors ", prefix,
          "* failed: ", s.message()));
    }
  }
  return absl::OkStatus();
}

absl::Status Scheduler::TryPlace(const PendingJob& job, Workers& workers,
                                 Pass& pass) {
  const JobSpec& spec = job.spec;
  const std::vector<jobs::RoleNeed> needs = jobs::RoleNeeds(spec);
  std::vector<size_t> fitting;  // indices into workers.idle, in rank order
  std::vector<std::string> ps_addresses;
  if (job.restart > 0 && !job.old_tasks_stopped) {
    return absl::UnavailableError(
        "the tasks of its earlier attempt have not stopped yet");
  }
  STRATA_RETURN_IF_ERROR(
      FindNodes(spec, needs, workers, &fitting, &ps_addresses));
  if (job.restart > 0) STRATA_RETURN_IF_ERROR(ResetBspSteps(job));
  std::vector<std::string> node_ids;
  for (size_t i : fitting) node_ids.push_back(workers.idle[i].node_id());
  absl::StatusOr<std::vector<TaskAssignment>> started =
      jobs_->Start(job.job_id, node_ids, ps_addresses);
  if (!started.ok()) {
    // E.g. cancelled since PendingJobs(); not a reason to fail it.
    LOG(INFO) << "not starting job " << job.job_id << ": " << started.status();
    return absl::OkStatus();
  }
  LOG(INFO) << "job " << job.job_id
            << (job.restart > 0 ? absl::StrCat(" (restart ", job.restart, ")")
                                : "")
            << " assigned to " << absl::StrJoin(node_ids, ", ");
  if (needs.size() > 1) {
    // Tell every task its role and where the FC nodes serve.
    const uint32_t conv = needs[0].count;
    for (size_t k = 0; k < started->size(); ++k) {
      TaskAssignment& a = (*started)[k];
      a.set_role(k < conv ? needs[0].role : needs[1].role);
      for (size_t f = conv; f < fitting.size(); ++f) {
        a.add_fc_addresses(workers.idle[fitting[f]].address());
      }
    }
  }
  for (size_t k = 0; k < started->size(); ++k) {
    pass.assignments.push_back(std::move((*started)[k]));
    pass.assignment_nodes.push_back(node_ids[k]);
  }
  // Remove the chosen nodes from the idle list, highest index first.
  std::sort(fitting.begin(), fitting.end());
  for (auto it = fitting.rbegin(); it != fitting.rend(); ++it) {
    workers.busy.push_back(workers.idle[*it]);
    workers.idle.erase(workers.idle.begin() + *it);
  }
  return absl::OkStatus();
}

}  // namespace strata
