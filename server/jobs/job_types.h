// The registry of job types and the entry points the coordinator and the
// workers call. A spec goes through PrepareJobSpec once, at submission; the
// workers receive the prepared spec and re-check it with ValidateJobSpec
// (the same rules), keeping no defaults of their own.
#ifndef STRATA_SERVER_JOBS_JOB_TYPES_H_
#define STRATA_SERVER_JOBS_JOB_TYPES_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "proto/job.pb.h"
#include "server/jobs/job_type.h"

namespace strata {
namespace jobs {

// Every registered job type, in JobSpec field order.
absl::Span<const JobType* const> AllJobTypes();

// The type of `spec`'s job; INVALID_ARGUMENT when it sets none (naming the
// choices).
absl::StatusOr<const JobType*> JobTypeOf(const JobSpec& spec);

// Checks that `spec` is well formed (no unknown fields or enum values, finite
// numbers, bounded strings), applies the job type's and the generic
// defaults, and validates the result. On error `spec` may be partly
// defaulted; INVALID_ARGUMENT naming the field.
absl::Status PrepareJobSpec(const JobLimits& limits, JobSpec* spec);

// Validates an already prepared spec (what a worker is assigned): the same
// checks as PrepareJobSpec, no defaults. A spec whose defaults were not
// applied fails (e.g. "ps_load_test.dim 0 is out of range [1, 4096]").
absl::Status ValidateJobSpec(const JobLimits& limits, const JobSpec& spec);

// The task groups of a prepared spec, in rank order.
std::vector<RoleNeed> RoleNeeds(const JobSpec& spec);

// True when the spec's tasks talk to the parameter-server shards.
bool UsesParameterServer(const JobSpec& spec);

// True when the spec's job type may be restarted after losing a task
// (JobType::Restartable) and its max_task_retries allows any restart.
bool IsRestartable(const JobSpec& spec);

// The name prefixes of the job's BSP dense tensors (JobType::
// BspTensorPrefixes); empty for job types without any.
std::vector<std::string> BspTensorPrefixes(const JobSpec& spec,
                                           absl::string_view job_id);

// True for the codes of a failed task (TaskReport.code) that may go away
// when the job runs again (a peer or shard gone, a timeout, a crash):
// UNAVAILABLE, DEADLINE_EXCEEDED, ABORTED, INTERNAL, UNKNOWN, CANCELLED. A
// job whose task failed with one of them is restarted (docs/failures.md);
// any other code (a bad spec, missing data) fails the job.
bool IsTransientTaskFailure(absl::StatusCode code);

// The job-spec reference (docs/jobs.md), generated from the rules.
std::string JobReferenceMarkdown();

}  // namespace jobs
}  // namespace strata

#endif  // STRATA_SERVER_JOBS_JOB_TYPES_H_
