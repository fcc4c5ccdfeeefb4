#include "server/coordinator/scheduler.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "glog/logging.h"

namespace strata {
namespace {

bool Fits(const NodeInfo& node, const JobSpec& spec) {
  return node.role() == spec.worker_role() &&
         node.gpus() >= spec.gpus_per_worker();
}

}  // namespace

bool JobUsesParameterServer(const JobSpec& spec) {
  switch (spec.job_case()) {
    case JobSpec::kPsLoadTest:
    case JobSpec::kCtrTrain:
    case JobSpec::kCtrEval:
      return true;
    case JobSpec::JOB_NOT_SET:
      break;
  }
  return false;
}

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
    const std::string missing = TryPlace(job, workers, pass);
    if (missing.empty()) continue;
    const absl::Duration timeout =
        job.spec.schedule_timeout_s() != 0
            ? absl::Seconds(job.spec.schedule_timeout_s())
            : options_.schedule_timeout;
    if (now - job.submit_time < timeout) continue;
    const std::string reason = absl::StrCat(
        "not scheduled within ", absl::FormatDuration(timeout), ": ", missing);
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
  for (NodeInfo& node : registry_->List()) {
    if (!node.alive() || node.role() == kPsRole) continue;
    if (active.contains(node.node_id())) {
      workers.busy.push_back(std::move(node));
    } else {
      workers.idle.push_back(std::move(node));
    }
  }
  return workers;
}

std::string Scheduler::TryPlace(const PendingJob& job, Workers& workers,
                                Pass& pass) {
  const JobSpec& spec = job.spec;
  std::vector<size_t> fitting;  // indices into workers.idle
  for (size_t i = 0; i < workers.idle.size(); ++i) {
    if (Fits(workers.idle[i], spec)) fitting.push_back(i);
  }
  std::vector<std::string> missing;
  if (fitting.size() < spec.num_workers()) {
    size_t busy = 0;
    for (const NodeInfo& node : workers.busy) busy += Fits(node, spec);
    missing.push_back(
        absl::StrCat("needs ", spec.num_workers(), " workers with role '",
                     spec.worker_role(), "' and >= ", spec.gpus_per_worker(),
                     " GPUs; ", fitting.size(), " registered and idle",
                     busy == 0 ? "" : absl::StrCat(" (", busy, " more busy)")));
  }
  std::vector<std::string> ps_addresses;
  if (JobUsesParameterServer(spec)) {
    absl::StatusOr<std::vector<std::string>> ps = registry_->PsAddresses();
    if (ps.ok()) {
      ps_addresses = *std::move(ps);
    } else {
      missing.push_back(absl::StrCat("parameter-server shards incomplete: ",
                                     ps.status().message()));
    }
  }
  if (!missing.empty()) return absl::StrJoin(missing, "; ");

  fitting.resize(spec.num_workers());
  std::vector<std::string> node_ids;
  for (size_t i : fitting) node_ids.push_back(workers.idle[i].node_id());
  absl::StatusOr<std::vector<TaskAssignment>> started =
      jobs_->Start(job.job_id, node_ids, ps_addresses);
  if (!started.ok()) {
    // E.g. cancelled since PendingJobs(); not a reason to fail it.
    LOG(INFO) << "not starting job " << job.job_id << ": " << started.status();
    return "";
  }
  LOG(INFO) << "job " << job.job_id << " assigned to "
            << absl::StrJoin(node_ids, ", ");
  for (size_t k = 0; k < started->size(); ++k) {
    pass.assignments.push_back(std::move((*started)[k]));
    pass.assignment_nodes.push_back(node_ids[k]);
  }
  // Remove the chosen nodes from the idle list, highest index first.
  for (auto it = fitting.rbegin(); it != fitting.rend(); ++it) {
    workers.busy.push_back(workers.idle[*it]);
    workers.idle.erase(workers.idle.begin() + *it);
  }
  return "";
}

}  // namespace strata
