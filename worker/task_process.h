// Runs each task of a worker daemon in a child process of its own, so that
// whatever a task does (an uncaught std::bad_alloc, a crash bug, a signal,
// exit()) fails that task with a reason and never the daemon, which stays
// registered and runs the next job (docs/worker.md, "Task processes").
//
// The daemon side is ChildProcessTask, a Task like any other: WorkerAgent
// runs it on the task's thread, and it forks and execs the daemon's own
// binary (normally /proc/self/exe) with --task_child_fd=3, sends it the
// assignment, relays its progress reports, its progress checkpoints
// (SaveResume) and its outcome, forwards a cancellation, and turns an
// abnormal end into INTERNAL ("task process killed by signal 11
// (Segmentation fault); last output: ..."). The child
// side is TaskChild, used by the binary's main() when it sees that flag.
// They speak length-prefixed protos (proto/task_process.proto) over a Unix
// socket pair; the child's stdout and stderr go through the daemon, which
// copies them to its own stderr and keeps the last lines for the reason.
#ifndef STRATA_WORKER_TASK_PROCESS_H_
#define STRATA_WORKER_TASK_PROCESS_H_

#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "proto/coordinator.pb.h"
#include "worker/task.h"

namespace strata {

struct TaskProcessOptions {
  // The program a task runs in, and its arguments after argv[0]; the
  // daemon appends --task_child_fd=3. Normally the daemon's own binary and
  // the flags its tasks need (--blas_threads, ...).
  std::string binary = "/proc/self/exe";
  std::vector<std::string> args;
  // How long a cancelled task may take to stop before its process is
  // killed (SIGKILL). Longer lets a task finish its current step and report
  // cleanly; shorter frees the worker sooner after a cancel or a shutdown.
  absl::Duration cancel_grace = absl::Seconds(10);
  // Largest frame either side accepts (an assignment, a report).
  size_t max_frame_bytes = 16 << 20;
  // How much of the child's last output a failure reason quotes.
  size_t output_tail_bytes = 400;
};

// Runs one assignment in a child process per Run call. Thread-compatible:
// one Run per instance at a time (WorkerAgent makes one per task).
class ChildProcessTask final : public Task {
 public:
  explicit ChildProcessTask(TaskProcessOptions options)
      : options_(std::move(options)) {}

  absl::StatusOr<TaskMetrics> Run(const TaskAssignment& assignment,
                                  TaskContext* context) override;
  // As Run, with more arguments for this child's command line.
  absl::StatusOr<TaskMetrics> RunWithArgs(
      const TaskAssignment& assignment, TaskContext* context,
      const std::vector<std::string>& extra_args);
  // After Run: whether the process ended without reporting an outcome (a
  // crash, a signal, exit()), not counting a kill after a cancellation.
  bool crashed() const { return crashed_; }

 private:
  const TaskProcessOptions options_;
  bool crashed_ = false;
};

// A registry that runs each job type of `cases` in a ChildProcessTask.
TaskRegistry ChildProcessRegistry(const std::vector<JobSpec::JobCase>& cases,
                                  const TaskProcessOptions& options);

// The child's end: reads the assignment from the daemon, runs the task,
// streams progress and reports the outcome. A reader thread turns a cancel
// from the daemon, or the daemon going away, into cancelled(). Owns the fd.
// Thread-safe.
class TaskChild {
 public:
  // Reads the assignment (blocking). DATA_LOSS/OUT_OF_RANGE when the
  // daemon sent none.
  static absl::StatusOr<std::unique_ptr<TaskChild>> Open(
      int fd, size_t max_frame_bytes = TaskProcessOptions().max_frame_bytes);
  ~TaskChild();

  const TaskAssignment& assignment() const { return assignment_; }

  // Runs the assignment's task from `registry` and reports its outcome.
  // Returns the exit code for the process: 0 once the outcome is sent.
  int Run(const TaskRegistry& registry);
  // Reports `status` (not OK) as the outcome without running a task, e.g.
  // when setting up the task's service failed.
  int Fail(const absl::Status& status);

 private:
  class Context;
  TaskChild(int fd, size_t max_frame_bytes, TaskAssignment assignment);
  void ReadCommands();
  int ReportOutcome(const absl::StatusOr<TaskMetrics>& result);
  absl::Status Send(const google::protobuf::MessageLite& report);

  const int fd_;
  const size_t max_frame_bytes_;
  const TaskAssignment assignment_;
  std::atomic<bool> cancelled_{false};
  absl::Mutex write_mu_;  // one writer at a time on fd_
  std::thread reader_;
};

}  // namespace strata

#endif  // STRATA_WORKER_TASK_PROCESS_H_
