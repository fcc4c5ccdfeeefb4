// Job store and lifecycle: PENDING -> RUNNING -> SUCCEEDED | FAILED |
// CANCELLED. See docs/coordinator.md.
#ifndef STRATA_SERVER_COORDINATOR_JOB_MANAGER_H_
#define STRATA_SERVER_COORDINATOR_JOB_MANAGER_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "proto/coordinator.pb.h"
#include "proto/job.pb.h"
#include "server/coordinator/state_store.h"
#include "server/jobs/job_type.h"
#include "server/util/clock.h"

namespace strata {

// True for SUCCEEDED, FAILED and CANCELLED.
bool IsTerminal(JobState state);

// A task that should be told to stop: sent as a TaskCommand.cancel_task_id to
// the node.
struct TaskRef {
  std::string node_id;
  std::string task_id;
  friend bool operator==(const TaskRef& a, const TaskRef& b) {
    return a.node_id == b.node_id && a.task_id == b.task_id;
  }
};

// A job waiting to be placed, as the scheduler sees it: PENDING, or RUNNING
// and restarting (restart > 0: it lost a task and waits to be placed again).
struct PendingJob {
  std::string job_id;
  JobSpec spec;  // validated, defaults applied
  absl::Time submit_time;
  uint32_t restart = 0;  // the restart number; 0: a PENDING job
  // A restart: when it started waiting (spare_wait_s counts from it), and
  // whether every task of the earlier attempt stopped (or was released):
  // until then it must not be placed.
  absl::Time restart_wait_start = absl::InfinitePast();
  bool old_tasks_stopped = true;
};

// Events of a job from some index on (see WaitForEvents).
struct EventBatch {
  std::vector<JobEvent> events;
  // Pass as from_index to get the events after these.
  size_t next_index = 0;
  // The job is terminal and `events` reaches its last event: nothing more
  // will ever come.
  bool done = false;
};

// Result of an operation that may leave tasks running on nodes that must be
// told to stop.
struct JobTransition {
  JobState state = JOB_STATE_UNSPECIFIED;  // the job's state afterwards
  std::vector<TaskRef> to_cancel;
};

// Owns every job, its tasks (one per worker, rank 0..n-1, ids
// "job-1/task-0"; after the n-th restart "job-1/task-0.rn") and its event
// history. Job metrics, step and total_steps
// are sums over the tasks of each task's latest report (the steps saturate
// at the int64 maximum): right for
// throughputs and counts, not for ratios (a job reporting an accuracy per
// task gets the sum).
//
// A task keeps its node busy (ActiveTasksByNode) from assignment until the
// worker reports it finished (SUCCEEDED, FAILED or CANCELLED), its node dies,
// or task_release_grace after its job ended, whichever comes first.
//
// Restarts (docs/failures.md, "Job restarts"): when a task of a RUNNING job
// of a restartable type (jobs::IsRestartable) is lost, or reports FAILED
// with a transient code (jobs::IsTransientTaskFailure), and the job has
// restarts left (spec.max_task_retries), the job stays RUNNING, its tasks
// are retired (the running ones are returned to cancel; they keep their
// nodes busy until they stop or task_release_grace) and it is listed by
// PendingJobs until Start places it again with new task ids,
// TaskAssignment.attempt and .resume (the latest TaskReport.resume of each
// rank). Reports of retired tasks are accepted and answer cancel = true.
//
// Durability: with a StateStore, every state change (submission with the id
// counter, start, task ends, the job's end) is written synchronously with
// the job's new events; progress reports are written at most every
// progress_write_interval per job, buffered (FlushProgress writes what is
// left). Submit fails when its write fails; a later write that fails is
// logged and retried with the job's next write. Restore() loads the jobs of
// a restarted coordinator: RUNNING jobs stay RUNNING with their tasks on
// their nodes until the nodes re-attach (Reattach) or die.
//
// Thread-safe. Does not own the clock or the store, which must outlive the
// manager. WaitForEvents deadlines are wall-clock (absl::Now()) times, since
// they bound real blocking; timestamps in jobs and events come from the
// clock.
class JobManager {
 public:
  struct Options {
    // What one job may ask for (num_workers, data sizes); specs are
    // prepared by server/jobs (defaults and every check live there).
    jobs::JobLimits limits;
    // Jobs waiting in PENDING at once; Submit past it is RESOURCE_EXHAUSTED
    // (--max_pending_jobs). Bounds the coordinator's memory and the
    // scheduler's pass against a flood of submissions; too low refuses
    // legitimate bursts of queued jobs.
    size_t max_pending_jobs = 1000;
    // A task report's message is cut to this many bytes (it becomes a job
    // event and possibly the failure reason); longer ones are truncated at
    // a character boundary (so they stay UTF-8, which proto3 strings must
    // be), not refused, so a final report always lands.
    size_t max_report_message_bytes = 4096;
    // Metrics one report may carry, and the longest metric name; more is
    // INVALID_ARGUMENT. Bounds each task's and each event's size.
    size_t max_report_metrics = 256;
    size_t max_metric_name_bytes = 128;
    // Per-job event history bound. Beyond it, older progress events are
    // thinned (every other one dropped) so a watcher replaying a long job
    // still sees its state changes and a coarser progress history, at
    // bounded memory per job.
    size_t max_events_per_job = 10000;
    // Finished jobs kept for GetJob/ListJobs; older ones are forgotten
    // (NOT_FOUND). More keeps history longer at the cost of memory.
    size_t max_finished_jobs = 1000;
    // How long a cancelled or failed job's task keeps its node busy while
    // waiting for the worker to confirm it stopped. Longer avoids handing a
    // node a new task while the old one still runs; shorter frees nodes of
    // workers that never confirm. A worker kills a cancelled task's process
    // within its --task_cancel_grace (10 s) and then reports, retrying for
    // up to ~30 s, so the default covers both: a node is never handed a new
    // task while an old one still runs in it (issue 12).
    absl::Duration task_release_grace = absl::Seconds(60);
    // With a state store: progress (steps, metrics and their events) of a
    // job is written at most this often, without fsync; a coordinator
    // crash loses at most this much progress history. Shorter costs more
    // writes per report; state changes are always written at once.
    absl::Duration progress_write_interval = absl::Seconds(1);
    // Largest TaskReport.resume (a rank's progress checkpoint) accepted;
    // bigger is INVALID_ARGUMENT (--max_resume_bytes). The coordinator
    // keeps one per rank of every job, in memory and in its store.
    size_t max_resume_bytes = 4096;
  };

  // `store` may be null (state in memory only).
  JobManager(Options options, Clock* clock, StateStore* store = nullptr);

  // Loads the jobs of a restarted coordinator (StateStore::Load). Call once,
  // before anything else.
  void Restore(uint64_t next_seq, std::vector<CoordinatorState::Job> jobs);
  JobManager(const JobManager&) = delete;
  JobManager& operator=(const JobManager&) = delete;

  // Prepares the spec (jobs::PrepareJobSpec: defaults, every check) and
  // creates a PENDING job; returns "job-1", "job-2"... INVALID_ARGUMENT
  // naming the field for a bad spec; RESOURCE_EXHAUSTED when
  // max_pending_jobs jobs are already pending. `owner`: the submitter's
  // identity URI (JobStatus.owner; "" over plaintext).
  absl::StatusOr<std::string> Submit(JobSpec spec, std::string owner = "");

  // NOT_FOUND for unknown ids.
  absl::StatusOr<JobStatus> Get(absl::string_view job_id);
  // All retained jobs in submission order.
  std::vector<JobStatus> List();

  // PENDING or RUNNING -> CANCELLED. FAILED_PRECONDITION if the job is
  // already terminal, NOT_FOUND if unknown. to_cancel lists its tasks still
  // running on nodes.
  absl::StatusOr<JobTransition> Cancel(absl::string_view job_id);

  // Any non-terminal job -> FAILED with `reason`. FAILED_PRECONDITION if the
  // job is already terminal.
  absl::StatusOr<JobTransition> Fail(absl::string_view job_id,
                                     absl::string_view reason);

  // Events with index >= from_index (the first event has index 0). Blocks
  // until there is at least one, the job is terminal, or `deadline`
  // (wall-clock) passes, in which case the batch may be empty. Coalesced
  // events are skipped. NOT_FOUND for unknown ids.
  absl::StatusOr<EventBatch> WaitForEvents(absl::string_view job_id,
                                           size_t from_index,
                                           absl::Time deadline);

  // ---- Scheduler side.

  // Restarting jobs (by restart wait start), then PENDING jobs in
  // submission order.
  std::vector<PendingJob> PendingJobs();

  // node id -> task id of every task that keeps its node busy.
  absl::flat_hash_map<std::string, std::string> ActiveTasksByNode();

  // Ids of the jobs that ended since the last call, whose tasks no longer
  // keep a node busy (they stopped, or task_release_grace passed), and that
  // do not keep their tensors (JobSpec.keep_tensors): their "<job_id>/"
  // tensors can be dropped. Each job is returned once; jobs that ended
  // before a restart are not returned again.
  std::vector<std::string> TakeJobsToReap();

  // The BSP tensor prefixes (jobs::BspTensorPrefixes) of the jobs that
  // FAILED or were CANCELLED since the last call and whose tasks no longer
  // keep a node busy: their open steps can be reset on the shards. Each job
  // is returned once; not for jobs that ended before a restart.
  std::vector<std::string> TakeStepResets();

  // PENDING -> RUNNING on `node_ids` (task i on node_ids[i]), or places a
  // restarting job again; returns one assignment per task.
  // FAILED_PRECONDITION if the job is neither PENDING nor restarting, a task
  // of its earlier attempt still keeps a node busy, a node already has an
  // active task, or the node count differs from num_workers.
  absl::StatusOr<std::vector<TaskAssignment>> Start(
      absl::string_view job_id, const std::vector<std::string>& node_ids,
      const std::vector<std::string>& ps_addresses);

  // Every task on `node_id` is lost (OnTaskLost, `reason`; its job fails or
  // restarts); the node's tasks are released.
  std::vector<TaskRef> NodeDied(absl::string_view node_id,
                                absl::string_view reason);

  // A node (re)opened its task stream listing the tasks it runs. A task
  // this manager has on the node that is neither listed nor in
  // `undelivered` (assignments still on their way) is lost (OnTaskLost);
  // one of an ended job is released. Returns the tasks to stop: listed
  // tasks that are unknown, on another node, or of an ended job, and the
  // other tasks of jobs that failed.
  std::vector<TaskRef> Reattach(absl::string_view node_id,
                                const std::vector<std::string>& running,
                                const std::vector<std::string>& undelivered);

  // Writes the progress not yet written (see the class comment): of every
  // job when `all`, else of those last written progress_write_interval ago.
  void FlushProgress(bool all);

  // Releases a task whose assignment never reached its node (the node is no
  // longer kept busy by it). No-op for unknown ids.
  void ReleaseTask(absl::string_view task_id);

  // ---- Worker side.

  struct ReportResult {
    bool cancel = false;             // the task's job is no longer running
    std::vector<TaskRef> to_cancel;  // other tasks to stop (the job failed)
  };
  // Applies a worker's report. NOT_FOUND for unknown tasks, INVALID_ARGUMENT
  // for a missing node_id, an unknown kind, negative steps, or metrics past
  // the limits (count, name length, non-finite values), a resume record
  // over max_resume_bytes; FAILED_PRECONDITION
  // if the task is assigned to another node. A long message is truncated.
  // Reports for tasks of finished jobs are accepted and answer cancel =
  // true.
  absl::StatusOr<ReportResult> Report(const TaskReport& report);

 private:
  // The checks of Report that need no lock.
  absl::Status CheckReport(const TaskReport& report) const;
  struct Task {
    std::string task_id;
    std::string node_id;
    JobState state = RUNNING;  // RUNNING until its report ends it
    bool on_node = true;       // keeps node_id busy (see class comment)
    int64_t step = 0;
    int64_t total_steps = 0;
    std::map<std::string, double> metrics;
    uint32_t attempt = 0;  // the job's restarts when it was started
    uint32_t rank = 0;
    // When its job restarted without it; InfinitePast for a current task.
    absl::Time retired = absl::InfinitePast();
    bool is_retired() const { return retired != absl::InfinitePast(); }
  };
  struct Job {
    std::string job_id;
    uint64_t seq = 0;
    // What the store has: events below stored_events are written; thinned
    // events to delete from it; progress not written yet; the last write.
    size_t stored_events = 0;
    std::vector<size_t> unstored_deletes;
    bool dirty = false;
    absl::Time written = absl::InfinitePast();
    JobSpec spec;
    std::string owner;  // JobStatus.owner
    JobState state = PENDING;
    std::string reason;
    absl::Time submit_time;
    absl::Time start_time = absl::InfinitePast();
    absl::Time end_time = absl::InfinitePast();
    std::vector<Task> tasks;  // the current attempt's, by rank
    // Earlier attempts' tasks still on their nodes (see class comment).
    std::vector<Task> retired;
    uint32_t restarts = 0;
    // While restarting (RUNNING, waiting to be placed again): since when.
    absl::Time restart_wait_start = absl::InfinitePast();
    bool restarting() const {
      return state == RUNNING && restart_wait_start != absl::InfinitePast();
    }
    // The latest TaskReport.resume of each rank (empty: none).
    std::vector<std::string> resume;
    // Events with their absolute indices, ascending; gaps where thinned.
    std::vector<std::pair<size_t, JobEvent>> events;
    size_t next_event_index = 0;
    // Its "<job_id>/" tensors were handed to TakeJobsToReap (or it ended
    // before this coordinator started, or keeps them).
    bool reaped = false;
    // Its BSP prefixes were handed to TakeStepResets (or not needed).
    bool steps_reset = false;
  };

  absl::StatusOr<JobTransition> End(absl::string_view job_id, JobState state,
                                    absl::string_view reason);
  std::shared_ptr<Job> FindLocked(absl::string_view job_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<std::shared_ptr<Job>> GetJobLocked(absl::string_view job_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Appends an event with the job's current state, sums and `message`.
  void AppendEventLocked(Job& job, absl::string_view message)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Moves a job to a terminal state, appends the terminal event, returns the
  // tasks to cancel, and forgets the oldest finished jobs beyond the limit.
  std::vector<TaskRef> FinishLocked(Job& job, JobState state,
                                    absl::string_view reason)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void PruneFinishedLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // What happens to a task whose node no longer runs it (the node died, or
  // re-attached without it): the job restarts (RestartLocked; `what` says
  // what happened, for its event) or fails with `reason`. Returns the tasks
  // to stop.
  std::vector<TaskRef> OnTaskLostLocked(Job& job, Task& task,
                                        absl::string_view reason,
                                        absl::string_view what)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Restarts `job` when its type is restartable and it has restarts left:
  // counts the restart, appends the event "<what>; restarting the job ...",
  // retires its tasks (adding the running ones to `to_cancel`) and starts
  // the wait for placement. False (nothing changed) otherwise.
  bool RestartLocked(Job& job, absl::string_view what,
                     std::vector<TaskRef>* to_cancel)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Keeps the latest progress checkpoint of the rank.
  static void KeepResume(Job& job, uint32_t rank, const std::string& resume);
  // No task of the job (current or retired) keeps a node busy.
  bool TasksStoppedLocked(const Job& job, absl::Time now) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  static StoredTask ToStoredTask(const Task& task);
  static Task FromStoredTask(const StoredTask& stored);
  // Writes the job's record and its unwritten events (with `batch`'s other
  // changes); nothing without a store.
  absl::Status WriteLocked(Job& job, StateStore::Durability durability,
                           StateStore::Batch batch = {})
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // WriteLocked, logging a failure (the next write of the job retries).
  void PersistLocked(Job& job, StateStore::Durability durability)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  StoredJob ToStoredLocked(const Job& job) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  JobStatus ToStatusLocked(const Job& job) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The task with this id and its job, or nullptr.
  Task* FindTaskLocked(absl::string_view task_id, std::shared_ptr<Job>* job)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::flat_hash_map<std::string, std::string> ActiveTasksByNodeLocked()
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool TaskKeepsNodeBusyLocked(const Job& job, const Task& task,
                               absl::Time now) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Applies a terminal report kind to `task`; may finish the job.
  void ApplyTaskEndLocked(Job& job, Task& task, const TaskReport& report,
                          ReportResult& result)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Constant after construction.
  const Options options_;
  Clock* const clock_;
  StateStore* const store_;  // may be null; thread-safe itself

  absl::Mutex mu_;
  uint64_t next_seq_ ABSL_GUARDED_BY(mu_) = 1;
  // Keyed by the numeric part of the id (submission order). shared_ptr so a
  // WaitForEvents condition stays valid if the job is pruned meanwhile.
  std::map<uint64_t, std::shared_ptr<Job>> jobs_ ABSL_GUARDED_BY(mu_);
  size_t finished_jobs_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace strata

#endif  // STRATA_SERVER_COORDINATOR_JOB_MANAGER_H_
