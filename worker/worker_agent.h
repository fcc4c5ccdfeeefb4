// The worker daemon's control loop: registers with the coordinator, sends
// heartbeats, receives task assignments on a WatchTasks stream, runs each
// task on its own thread, reports progress and the outcome, and honours
// cancellation. Reconnects and re-registers when the coordinator restarts or
// declares this node dead.
#ifndef STRATA_WORKER_WORKER_AGENT_H_
#define STRATA_WORKER_WORKER_AGENT_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "proto/coordinator.grpc.pb.h"
#include "server/jobs/job_type.h"
#include "server/node/node_session.h"
#include "worker/data_roots.h"
#include "worker/task.h"

namespace strata {

struct WorkerOptions {
  std::string coordinator = "127.0.0.1:7070";
  // Transport security of the channel to the coordinator
  // (docs/security.md); null: plaintext.
  std::shared_ptr<const security::Credentials> credentials;
  // Role the coordinator schedules by ("general", "conv", "fc", ...).
  std::string role = "general";
  // Address this node serves on, if any (FC nodes in later job types).
  std::string address;
  std::string hostname;
  uint32_t cpus = 1;
  uint32_t gpus = 0;
  // Deadline of each control RPC (register, heartbeat, report).
  absl::Duration rpc_timeout = absl::Seconds(5);
  // Wait between attempts to reach the coordinator; doubles up to the max.
  absl::Duration reconnect_backoff = absl::Milliseconds(200);
  absl::Duration max_reconnect_backoff = absl::Seconds(5);
  // Minimum spacing of progress reports per task: lower gives smoother
  // progress bars, higher less coordinator load.
  absl::Duration progress_interval = absl::Milliseconds(250);
  // What this worker accepts of an assigned spec: every assignment is
  // re-checked with the coordinator's rules (jobs::ValidateJobSpec) before
  // a task runs, so a spec from an older or misconfigured coordinator fails
  // its task, not the worker. max_workers is the coordinator's business.
  // max_dataset_bytes bounds this worker's task data (flag
  // --max_task_dataset_mb).
  jobs::JobLimits limits = {UINT32_MAX, jobs::JobLimits().max_dataset_bytes};
  // The directories job specs may name input files under (flag
  // --data_root, docs/security.md "Data paths"): every assignment's paths
  // are checked and resolved before its task is created, so a path outside
  // them fails the task (PERMISSION_DENIED) before any file is opened. None
  // (the default): a spec naming any file fails its task.
  DataRoots data_roots;
};

// Owns its coordinator channel, heartbeat thread and task threads.
// Run() blocks until Stop() (callable from any thread or a signal-watching
// thread). Thread-safe.
class WorkerAgent {
 public:
  WorkerAgent(WorkerOptions options, TaskRegistry registry);
  ~WorkerAgent();

  // Registers and serves assignments until Stop(). Returns OK after Stop().
  absl::Status Run();
  // Marks running tasks cancelled and makes Run return; does not wait for
  // them. The destructor joins the task threads, each after its final
  // report, so destroy the agent to wait for the tasks.
  void Stop();

  // The id the coordinator assigned; empty before registration.
  std::string node_id() const;

 private:
  struct RunningTask;
  class Context;

  void WatchLoop();
  void StartTask(const TaskAssignment& assignment);
  void CancelTask(const std::string& task_id);
  // The assignment its task runs: the spec re-checked (options_.limits)
  // and its input paths confined to options_.data_roots.
  absl::StatusOr<TaskAssignment> Admit(const TaskAssignment& assignment) const;
  void RunTask(RunningTask* task);
  // The final report carries the task's latest progress checkpoint.
  void SendFinalReport(const RunningTask& task,
                       const absl::StatusOr<TaskMetrics>& result,
                       const std::string& resume);
  bool SendReport(const TaskReport& report, bool* cancel);
  void ReapFinishedTasks();

  // Constant after construction.
  const WorkerOptions options_;
  const TaskRegistry registry_;
  NodeSession session_;  // thread-safe itself

  absl::Notification stop_;
  mutable absl::Mutex mu_;
  grpc::ClientContext* watch_context_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::map<std::string, std::unique_ptr<RunningTask>> tasks_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace strata

#endif  // STRATA_WORKER_WORKER_AGENT_H_
