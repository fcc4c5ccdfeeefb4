// The interface every job type implements: the one home of a job type's
// rules (defaults, bounds, checks, the roles and resources it needs). The
// coordinator calls it to admit and place a job (job_types.h), the workers
// to re-check what they were assigned; neither keeps rules of its own.
// Adding a job type: one library implementing JobType in server/jobs/, one
// registration line in job_types.cc, and its task in worker/.
#ifndef STRATA_SERVER_JOBS_JOB_TYPE_H_
#define STRATA_SERVER_JOBS_JOB_TYPE_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "proto/job.pb.h"
#include "server/jobs/cnn_models.h"

namespace strata {
namespace jobs {

// The role parameter-server shards register with; no job may ask for it.
inline constexpr absl::string_view kParameterServerRole = "ps";
// Longest role name (worker_role, cnn_train.fc_role, a node's role), in
// bytes; a role is a name (proto/base/names.h) of at most this many.
inline constexpr size_t kMaxRoleBytes = 64;

// What the cluster admits, set by the coordinator's flags (the workers use
// the defaults: they re-check the spec, not the cluster's size). Each field
// is a bound on what one job may ask for.
struct JobLimits {
  // Most tasks (worker processes) one job may use. Raising it lets one job
  // occupy more of a large cluster.
  uint32_t max_workers = 1024;
  // Most bytes of images a CNN_TRAIN task may synthesise or load (train +
  // test, float32). Bounds each worker's memory before it allocates.
  uint64_t max_dataset_bytes = uint64_t{4} << 30;
  // Bounds on a CNN_TRAIN model: layers, parameters, activation bytes.
  CnnModelLimits cnn_model;
};

// One group of identical tasks of a job: `count` nodes of `role`, in rank
// order. A plain value type.
struct RoleNeed {
  std::string role;
  uint32_t count = 0;
  bool needs_address = false;  // the tasks serve RPCs (e.g. FC nodes)
};

// A job type. Implementations are stateless singletons: thread-safe.
class JobType {
 public:
  virtual ~JobType() = default;

  // The name of the job's field in JobSpec's oneof ("ps_load_test").
  virtual absl::string_view name() const = 0;
  virtual JobSpec::JobCase job_case() const = 0;

  // Fills the unset (zero) fields of the job's message with the documented
  // defaults, and the generic JobSpec fields whose defaults depend on the
  // job type (e.g. cnn_train derives num_workers). Runs before the generic
  // defaults (num_workers 1, worker_role "general").
  virtual void ApplyDefaults(JobSpec* spec) const = 0;

  // Checks every field of the job's message, with bounds, and cross-field
  // rules, on a defaulted spec. INVALID_ARGUMENT naming the field.
  virtual absl::Status Validate(const JobSpec& spec,
                                const JobLimits& limits) const = 0;

  // The task groups the job needs, in rank order. Default: num_workers
  // tasks of worker_role.
  virtual std::vector<RoleNeed> Roles(const JobSpec& spec) const;

  // True when the tasks talk to the parameter-server shards (the job starts
  // only when every shard is registered and alive).
  virtual bool UsesParameterServer() const { return true; }

  // True when the coordinator may restart the whole job after it lost a
  // task (JobSpec.max_task_retries, docs/failures.md "Job restarts"): its
  // tasks resume from their progress checkpoints (TaskAssignment.resume).
  // False for jobs that are not idempotent or short.
  virtual bool Restartable() const { return false; }

  // The name prefixes of the job's BSP dense tensors on the shards, whose
  // open steps the coordinator resets (AdminService.ResetDenseSteps) before
  // it restarts the job and after the job failed or was cancelled. Default:
  // none.
  virtual std::vector<std::string> BspTensorPrefixes(
      const JobSpec& spec, absl::string_view job_id) const {
    (void)spec;
    (void)job_id;
    return {};
  }

  // The job's reference for docs/jobs.md: Markdown (a table of fields with
  // defaults and ranges, then its cross-field rules).
  virtual std::string Reference() const = 0;
};

}  // namespace jobs
}  // namespace strata

#endif  // STRATA_SERVER_JOBS_JOB_TYPE_H_
