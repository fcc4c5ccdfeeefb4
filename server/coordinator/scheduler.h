// Assigns pending jobs to idle worker nodes and fails jobs that cannot be
// placed in time or whose nodes died. See docs/coordinator.md.
#ifndef STRATA_SERVER_COORDINATOR_SCHEDULER_H_
#define STRATA_SERVER_COORDINATOR_SCHEDULER_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "proto/coordinator.pb.h"
#include "proto/job.pb.h"
#include "server/coordinator/job_manager.h"
#include "server/jobs/job_type.h"
#include "server/coordinator/node_registry.h"
#include "server/util/clock.h"

namespace strata {

// One scheduling pass at a time (RunOnce), typically from the coordinator's
// background thread:
//   1. Sweep() the registry; fail the jobs whose tasks ran on dead nodes.
//   2. Fail PENDING jobs that waited longer than their schedule timeout,
//      and restarting jobs not placed within their spec.spare_wait_s of the
//      restart, with a reason that says what was missing.
//   3. Place restarting jobs again (JobManager::PendingJobs lists them
//      first), once every task of their earlier attempt stopped and the
//      open steps of their BSP tensors were reset (Options::
//      reset_dense_steps). Then assign PENDING jobs, in submission order, to
//      idle live nodes whose
//      role is spec.worker_role and whose gpus >= spec.gpus_per_worker, one
//      task per node, lowest node id first. A job that does not fit does not
//      block later jobs that do (backfilling).
//
// Thread-safe (passes are serialized). Does not own the registry, job manager
// or clock, which must outlive it.
class Scheduler {
 public:
  struct Options {
    // How long a job may stay PENDING when its spec.schedule_timeout_s is 0.
    // Longer lets a job wait for workers that are still starting; shorter
    // reports an impossible request (wrong role, too many GPUs) sooner.
    absl::Duration schedule_timeout = absl::Seconds(30);
    // Discards the open step's pushes of the BSP tensors named prefix* on
    // every shard (PsAdminClient::ResetDenseSteps), before a restarted job
    // is placed; an error (shards unreachable) is retried on the next pass,
    // until the job's spare_wait_s. Called on the scheduling pass. Null:
    // nothing to reset (tests without shards).
    std::function<absl::Status(const std::string& prefix)> reset_dense_steps;
    // False for a worker node that cannot take a task now although it is
    // not declared dead yet: its task stream closed (the process died and
    // its connection with it) and it has not reopened one. Such a node is
    // left out of placement until it reconnects or is declared dead, so a
    // restart is not placed on the node whose death caused it. Null: every
    // live node can.
    std::function<bool(const std::string& node_id)> can_take_tasks;
  };

  // Everything one pass did that the caller must act on.
  struct Pass {
    std::vector<NodeInfo> dead_nodes;  // died since the previous pass
    // Assignments to send, TaskAssignment.task_id names the task; node_ids
    // are parallel to assignments.
    std::vector<TaskAssignment> assignments;
    std::vector<std::string> assignment_nodes;
    // Tasks of jobs that failed this pass, still running on live nodes.
    std::vector<TaskRef> to_cancel;
    // Jobs failed this pass because they could not be placed in time.
    std::vector<std::string> timed_out_jobs;
  };

  Scheduler(Options options, NodeRegistry* registry, JobManager* jobs,
            Clock* clock);
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  Pass RunOnce();

  const Options& options() const { return options_; }

 private:
  // Schedulable worker (non-ps) nodes in id order (restored nodes that have
  // not called since a restart are left out), split by whether they have a
  // task.
  struct Workers {
    std::vector<NodeInfo> idle;
    std::vector<NodeInfo> busy;
  };
  Workers LiveWorkers() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void HandleDeadNodes(Pass& pass) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Tries to place `job`: OK when it was placed (or could not start because
  // it changed meanwhile, which is logged); UNAVAILABLE saying what is
  // missing (nodes of a role, shards, the earlier attempt's end, the BSP
  // reset) when it cannot be placed now.
  absl::Status TryPlace(const PendingJob& job, Workers& workers, Pass& pass)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Appends to `fitting` the idle nodes (indices into workers.idle, in rank
  // order) for each of `needs` (the job's jobs::RoleNeeds) and, for a job
  // that uses the shards, sets `ps_addresses`; UNAVAILABLE naming every need
  // that no idle nodes cover and incomplete shards.
  // Before a restart is placed: resets the open steps of the job's BSP
  // tensors (Options::reset_dense_steps); UNAVAILABLE when that failed.
  absl::Status ResetBspSteps(const PendingJob& job);
  absl::Status FindNodes(const JobSpec& spec,
                         const std::vector<jobs::RoleNeed>& needs,
                         const Workers& workers, std::vector<size_t>* fitting,
                         std::vector<std::string>* ps_addresses)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Constant after construction.
  const Options options_;
  NodeRegistry* const registry_;
  JobManager* const jobs_;
  Clock* const clock_;

  // Serializes passes; guards no data.
  absl::Mutex mu_;
};

}  // namespace strata

#endif  // STRATA_SERVER_COORDINATOR_SCHEDULER_H_
