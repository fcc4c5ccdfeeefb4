// The unit of work a worker daemon runs for a job: one task per assigned
// worker. Job types (PS load test, CTR training, Stanza CNN training)
// implement Task and register a factory in a TaskRegistry.
#ifndef STRATA_WORKER_TASK_H_
#define STRATA_WORKER_TASK_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "proto/coordinator.pb.h"
#include "proto/job.pb.h"
#include "server/client/ps_client.h"
#include "server/security/credentials.h"

namespace strata {

// What a task reports: named numbers (throughputs, counts, accuracy) that
// the coordinator sums over a job's tasks into JobStatus.metrics. Not the
// Prometheus metrics of the daemons (server/metrics) nor the CTR evaluation.
using TaskMetrics = std::map<std::string, double>;

// What a running task may ask of its worker. Implemented by the worker
// agent (reports go to the coordinator) and by tests. Thread-safe.
class TaskContext {
 public:
  virtual ~TaskContext() = default;
  // True once the coordinator cancelled the task or the worker is stopping.
  // Tasks poll it between batches and return CANCELLED promptly.
  virtual bool cancelled() const = 0;
  // Reports progress. Cheap to call often: the implementation throttles.
  virtual void ReportProgress(int64_t step, int64_t total_steps,
                              const TaskMetrics& metrics) = 0;
  // Records the task's progress checkpoint (TaskReport.resume): what a
  // restarted job's task of this rank needs to resume (a step, data
  // positions; at most --max_resume_bytes). Sent with the next progress
  // report, and at the latest with the final one; the coordinator keeps
  // the latest per rank. The default drops it (contexts of tests).
  virtual void SaveResume(std::string record) { (void)record; }
};

// One task of a job. Run is called once, on a dedicated thread; it returns
// the final metrics, or a status whose message becomes the job's failure
// reason (CANCELLED when it stopped because cancelled() turned true).
class Task {
 public:
  virtual ~Task() = default;
  virtual absl::StatusOr<TaskMetrics> Run(const TaskAssignment& assignment,
                                          TaskContext* context) = 0;
};

// The parameter-server client a task uses: `given` when set (tests inject
// one), else a new connection to the shards named in the assignment, owned
// by `*owned`, whose BSP waits end CANCELLED within a second once
// `context` is cancelled (PsClientOptions.cancelled; `context` may be null).
// FAILED_PRECONDITION when the assignment names no shards.
absl::StatusOr<PsClient*> TaskPsClient(const TaskAssignment& assignment,
                                       TaskContext* context, PsClient* given,
                                       std::unique_ptr<PsClient>* owned,
                                       PsClientOptions options = {});

// The transport security of the channels tasks open (to the shards, to FC
// nodes), docs/security.md: set once by the worker's main (from its --tls_*
// flags, in the daemon and in each task process) before any task runs;
// null (the default, and in tests) means plaintext. TaskPsClient uses it
// when its options name none. Thread-safe.
void SetTaskCredentials(std::shared_ptr<const security::Credentials> creds);
std::shared_ptr<const security::Credentials> TaskCredentials();

// Maps a JobSpec's job type (the oneof case) to a factory. Not thread-safe
// for Register; Create may be called concurrently after set-up.
class TaskRegistry {
 public:
  using Factory = std::function<std::unique_ptr<Task>()>;
  void Register(JobSpec::JobCase job_case, Factory factory) {
    factories_[job_case] = std::move(factory);
  }
  // UNIMPLEMENTED when this worker has no task for the spec's job type.
  absl::StatusOr<std::unique_ptr<Task>> Create(const JobSpec& spec) const;
  // The job types registered, in enum order.
  std::vector<JobSpec::JobCase> job_cases() const {
    std::vector<JobSpec::JobCase> cases;
    for (const auto& [c, factory] : factories_) cases.push_back(c);
    return cases;
  }

 private:
  std::map<JobSpec::JobCase, Factory> factories_;
};

}  // namespace strata

#endif  // STRATA_WORKER_TASK_H_
