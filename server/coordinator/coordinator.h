// The coordinator's core: owns the node registry, job manager and scheduler,
// the per-node queues of task commands, and the background thread that
// sweeps dead nodes and schedules jobs. The gRPC services
// (coordinator_service.h) are thin wrappers over this class. See
// docs/coordinator.md.
#ifndef STRATA_SERVER_COORDINATOR_COORDINATOR_H_
#define STRATA_SERVER_COORDINATOR_COORDINATOR_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "proto/coordinator.pb.h"
#include "server/coordinator/checkpoint_policy.h"
#include "server/coordinator/job_manager.h"
#include "server/coordinator/node_registry.h"
#include "server/coordinator/scheduler.h"
#include "server/coordinator/tensor_reaper.h"
#include "server/coordinator/state_store.h"
#include "server/security/identity.h"
#include "server/util/clock.h"

namespace strata {

// Thread-safe. Owns the state store (if any), registry, job manager,
// scheduler and background thread; does not own the clock, which must
// outlive it. The destructor stops the background thread, ends every waiting
// task stream and writes the progress not yet written.
//
// Restart: Create() over a state_dir resumes what an earlier coordinator
// stored (see docs/coordinator.md, "State store"): nodes keep their ids and
// secrets, jobs their states; each worker re-attaches its running tasks when
// it reopens its task stream (OpenTaskStream).
//
// Callers: the `caller` arguments are the identity of a TLS caller
// (security::CallerIdentity), nullopt over plaintext or in process, which
// skips every identity check (docs/security.md, "Identity rules").
//
// Locking: dispatch_mu_ serializes every operation that changes job state
// and queues the resulting task commands (Tick, CancelJob, ReportTask), so a
// cancel can never overtake the assignment it cancels. It is taken before the
// registry's, job manager's and queue mutexes, which are leaves.
class Coordinator {
 public:
  struct Options {
    // Directory of the durable state (--state_dir): jobs, nodes and id
    // counters survive a restart. Empty: in memory only.
    std::string state_dir;
    NodeRegistry::Options registry;
    JobManager::Options jobs;
    Scheduler::Options scheduler;
    // Period of the background sweep + scheduling pass. Shorter reacts to
    // new jobs, free nodes and deaths sooner; each pass scans all nodes and
    // jobs, so longer costs less CPU on big clusters.
    absl::Duration tick_interval = absl::Milliseconds(200);
    // An assignment not picked up by the node's WatchTasks stream within this
    // long fails its job (the node heartbeats but does not take work).
    // Longer tolerates slow stream (re)connects; shorter frees the job's
    // other nodes sooner.
    absl::Duration delivery_timeout = absl::Seconds(30);
    // Run Tick() every tick_interval on a background thread. Tests turn it
    // off and call Tick() themselves for determinism.
    bool background_thread = true;
    // Dropping ended jobs' "<job_id>/" tensors (JobSpec.keep_tensors).
    TensorReaper::Options reaper;
    // Periodic consistent checkpoints of the shards (--checkpoint_every_s;
    // off by default here, 300 s in the coordinator binary).
    CheckpointPolicy::Options checkpoints;
    // Transport security of the coordinator's server and of its calls to
    // the shards (docs/security.md); null: plaintext.
    std::shared_ptr<const security::Credentials> credentials;
  };

  // Opens options.state_dir (if set) and resumes from it, then starts.
  // The store's errors (StateStore::Open, Load): FAILED_PRECONDITION when
  // another process uses the directory, DATA_LOSS when it is corrupted.
  static absl::StatusOr<std::unique_ptr<Coordinator>> Create(
      Options options, Clock* clock = RealClock());
  // In memory only: options.state_dir must be empty (use Create()).
  explicit Coordinator(Options options, Clock* clock = RealClock());
  ~Coordinator();
  Coordinator(const Coordinator&) = delete;
  Coordinator& operator=(const Coordinator&) = delete;

  // One pass: sweep dead nodes, fail jobs, schedule, queue the resulting
  // commands, fail undelivered assignments.
  void Tick();

  // Ends every task stream (UNAVAILABLE) and stops the background thread.
  // Idempotent; called by the destructor.
  void Shutdown();
  bool shutting_down();

  // ---- Job API (the rest is on jobs()).
  // JobManager::Cancel's errors; with a caller, PERMISSION_DENIED unless it
  // is an admin or the operator that owns the job (JobStatus.owner).
  absl::StatusOr<JobState> CancelJob(
      absl::string_view job_id,
      const std::optional<security::Identity>& caller = std::nullopt);

  // ---- Cluster administration.
  // A consistent checkpoint of every shard under the next checkpoint id
  // (CheckpointPolicy::CheckpointNow): ids come from the coordinator and
  // are recorded in the state store before use.
  absl::StatusOr<CheckpointPolicy::Written> Checkpoint();

  // ---- Node API. Calls of a node carry its secret (NodeRegistry) and,
  // over TLS, come from the identity that registered it.
  // `claim`: the id and secret of an earlier registration, re-asserted.
  absl::StatusOr<RegisterNodeResponse> RegisterNode(
      const NodeInfo& node, const NodeCredentials& claim = {},
      const std::optional<security::Identity>& caller = std::nullopt);
  // Nodes with current_task filled in, plus ps_addresses when complete.
  ClusterResponse Cluster();
  // NOT_FOUND / PERMISSION_DENIED when report.node_id and node_secret do
  // not name a registered node (or `caller` did not register it), then
  // JobManager::Report's errors.
  absl::StatusOr<TaskReportResponse> ReportTask(
      const TaskReport& report,
      const std::optional<security::Identity>& caller = std::nullopt);

  // Starts a WatchTasks stream for a live node and returns its stream id; an
  // older stream of the same node is superseded (its NextCommands returns
  // ABORTED). `running`: the tasks the node runs now; they are re-attached
  // (JobManager::Reattach: tasks of this node it does not list are lost,
  // listed ones the coordinator does not have get a cancel command). NOT_FOUND
  // for unknown nodes, PERMISSION_DENIED for a wrong secret or a `caller`
  // that did not register the node, FAILED_PRECONDITION for dead nodes.
  absl::StatusOr<uint64_t> OpenTaskStream(
      absl::string_view node_id, absl::string_view secret,
      const std::vector<std::string>& running = {},
      const std::optional<security::Identity>& caller = std::nullopt);
  // Takes the node's queued commands, waiting until there is one or
  // `deadline` (wall-clock) passes (then the result may be empty). Ends the
  // stream with FAILED_PRECONDITION when the node is dead, ABORTED when
  // superseded, UNAVAILABLE when shutting down.
  absl::StatusOr<std::vector<TaskCommand>> NextCommands(
      absl::string_view node_id, uint64_t stream, absl::Time deadline);
  // Puts back commands that NextCommands returned but could not be written
  // to the stream, so the next stream delivers them.
  void ReturnCommands(absl::string_view node_id,
                      std::vector<TaskCommand> commands);
  // The node's stream `stream` ended because the node went away (its
  // connection closed). Until it opens a new one it takes no new tasks
  // (Scheduler::Options::can_take_tasks): a worker process that died is
  // not given the restart of the job it failed. No-op for a superseded
  // stream.
  void TaskStreamGone(absl::string_view node_id, uint64_t stream);
  // True between TaskStreamGone and the node's next OpenTaskStream.
  bool TaskStreamDetached(absl::string_view node_id);

  NodeRegistry& registry() { return registry_; }
  JobManager& jobs() { return jobs_; }
  Scheduler& scheduler() { return scheduler_; }
  const Options& options() const { return options_; }

 private:
  struct Entry {
    TaskCommand command;
    absl::Time queued;  // clock time; for the delivery timeout
  };
  struct NodeQueue {
    std::deque<Entry> entries;
    // Task ids of the assignments the newest NextCommands returned: being
    // written to the stream (or put back by ReturnCommands).
    std::vector<std::string> in_flight;
    uint64_t stream = 0;  // id of the newest WatchTasks stream
    bool closed = false;  // the node died: streams end, nothing is queued
    bool detached = false;  // its newest stream ended (TaskStreamGone)
  };

  Coordinator(Options options, Clock* clock, std::unique_ptr<StateStore> store);
  // Loads what the store held (Create()), before the thread starts.
  void Resume(CoordinatorState state);
  void Loop();
  // Queues cancel commands; an assignment still queued for the same task is
  // dropped instead and the task released.
  void DispatchCancels(const std::vector<TaskRef>& refs)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(dispatch_mu_);
  void FailUndelivered() ABSL_EXCLUSIVE_LOCKS_REQUIRED(dispatch_mu_);
  // Closes the queues of nodes that are not alive.
  void CloseDeadQueues() ABSL_EXCLUSIVE_LOCKS_REQUIRED(dispatch_mu_);
  void CloseQueueLocked(const std::string& node_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  NodeQueue& QueueLocked(const std::string& node_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Constant after construction.
  const Options options_;
  Clock* const clock_;

  // Internally synchronized. The store (null without state_dir) is used by
  // the registry and the job manager, declared after it.
  const std::unique_ptr<StateStore> store_;
  NodeRegistry registry_;
  JobManager jobs_;
  Scheduler scheduler_;
  TensorReaper reaper_;  // its thread asks registry_ for shard addresses
  CheckpointPolicy checkpoints_;  // likewise

  absl::Mutex dispatch_mu_ ABSL_ACQUIRED_BEFORE(mu_);

  absl::Mutex mu_;
  // shared_ptr so a waiting NextCommands keeps its queue after it is closed
  // and erased.
  absl::flat_hash_map<std::string, std::shared_ptr<NodeQueue>> queues_
      ABSL_GUARDED_BY(mu_);
  uint64_t next_stream_ ABSL_GUARDED_BY(mu_) = 1;
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;

  std::thread thread_;  // runs Loop() when options_.background_thread
};

}  // namespace strata

#endif  // STRATA_SERVER_COORDINATOR_COORDINATOR_H_
