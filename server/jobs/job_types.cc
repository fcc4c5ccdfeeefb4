#include "server/jobs/job_types.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "proto/base/status_macros.h"
#include "server/jobs/cnn_train_job.h"
#include "server/jobs/ctr_jobs.h"
#include "server/jobs/internal/spec_rules.h"
#include "server/jobs/ps_load_test_job.h"

namespace strata {
namespace jobs {

namespace {

using internal::kUnbounded;
using internal::NumberRule;

// Generic JobSpec fields. num_workers' upper bound is JobLimits.max_workers.
constexpr NumberRule kGenericRules[] = {
    {"gpus_per_worker", internal::kNoDefault, 0, 1024, {}, {},
     "minimum GPUs each assigned worker reports"},
    {"schedule_timeout_s", internal::kNoDefault, 0, 7 * 86400, {}, {},
     "0 = the coordinator's --schedule_timeout_s"},
    {"max_task_retries", 3, -internal::kUnbounded, 100, {}, {},
     "whole-job restarts after a lost or transiently failed task "
     "(restartable types); negative: none"},
    {"spare_wait_s", 120, 0, 86400, {}, {},
     "how long a restarting job waits for idle nodes"},
};
constexpr size_t kMaxJobNameBytes = 256;

absl::Status CheckGeneric(const JobLimits& limits, const JobSpec& spec) {
  STRATA_RETURN_IF_ERROR(
      internal::CheckLabel("name", spec.name(), kMaxJobNameBytes));
  if (spec.num_workers() < 1 || spec.num_workers() > limits.max_workers) {
    return internal::OutOfRange("num_workers", spec.num_workers(), 1,
                                limits.max_workers);
  }
  STRATA_RETURN_IF_ERROR(
      internal::CheckName("worker_role", spec.worker_role(), kMaxRoleBytes));
  if (spec.worker_role() == kParameterServerRole) {
    return absl::InvalidArgumentError(
        "worker_role 'ps' is reserved for parameter-server shards");
  }
  return internal::CheckNumberRules(kGenericRules, spec, "");
}

}  // namespace

absl::Span<const JobType* const> AllJobTypes() {
  // Adding a job type: one line here.
  static const JobType* const kTypes[] = {
      &PsLoadTestJob(),
      &CtrTrainJob(),
      &CtrEvalJob(),
      &CnnTrainJob(),
  };
  return kTypes;
}

absl::StatusOr<const JobType*> JobTypeOf(const JobSpec& spec) {
  for (const JobType* type : AllJobTypes()) {
    if (type->job_case() == spec.job_case()) return type;
  }
  std::vector<std::string> names;
  for (const JobType* type : AllJobTypes()) {
    names.emplace_back(type->name());
  }
  return absl::InvalidArgumentError(
      absl::StrCat("job spec sets no job type; set one of: ",
                   absl::StrJoin(names, ", ")));
}

absl::Status PrepareJobSpec(const JobLimits& limits, JobSpec* spec) {
  STRATA_ASSIGN_OR_RETURN(const JobType* type, JobTypeOf(*spec));
  STRATA_RETURN_IF_ERROR(internal::CheckWellFormed(*spec, ""));
  type->ApplyDefaults(spec);
  internal::ApplyNumberDefaults(kGenericRules, spec);
  if (spec->num_workers() == 0) spec->set_num_workers(1);
  if (spec->worker_role().empty()) spec->set_worker_role("general");
  // Defaults add only well-formed values: no second CheckWellFormed walk.
  STRATA_RETURN_IF_ERROR(CheckGeneric(limits, *spec));
  return type->Validate(*spec, limits);
}

absl::Status ValidateJobSpec(const JobLimits& limits, const JobSpec& spec) {
  STRATA_ASSIGN_OR_RETURN(const JobType* type, JobTypeOf(spec));
  STRATA_RETURN_IF_ERROR(internal::CheckWellFormed(spec, ""));
  STRATA_RETURN_IF_ERROR(CheckGeneric(limits, spec));
  return type->Validate(spec, limits);
}

std::vector<RoleNeed> RoleNeeds(const JobSpec& spec) {
  absl::StatusOr<const JobType*> type = JobTypeOf(spec);
  if (!type.ok()) return {};
  return (*type)->Roles(spec);
}

bool UsesParameterServer(const JobSpec& spec) {
  absl::StatusOr<const JobType*> type = JobTypeOf(spec);
  return type.ok() && (*type)->UsesParameterServer();
}

bool IsRestartable(const JobSpec& spec) {
  absl::StatusOr<const JobType*> type = JobTypeOf(spec);
  return type.ok() && (*type)->Restartable() && spec.max_task_retries() > 0;
}

std::vector<std::string> BspTensorPrefixes(const JobSpec& spec,
                                           absl::string_view job_id) {
  absl::StatusOr<const JobType*> type = JobTypeOf(spec);
  if (!type.ok()) return {};
  return (*type)->BspTensorPrefixes(spec, job_id);
}

bool IsTransientTaskFailure(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kUnknown:
    case absl::StatusCode::kCancelled:
      return true;
    default:
      return false;
  }
}

std::string JobReferenceMarkdown() {
  std::string out = absl::StrCat(
      "## Every job\n\n", internal::kRulesTableHead,
      "| `name` | - | <= ", kMaxJobNameBytes,
      " bytes, no control characters | free-form label |\n",
      "| `num_workers` | 1 | [1, --max_job_workers] | |\n",
      "| `worker_role` | general | name, <= ", kMaxRoleBytes,
      " bytes, not \"ps\" | |\n",
      internal::RulesMarkdown("", kGenericRules),
      "| `keep_tensors` | false | | keep the job's `<job_id>/` tensors on "
      "the shards after it ends (dropped by default) |\n",
      "\nEvery spec: no unknown fields, no unknown enum values, finite "
      "numbers, strings <= ", internal::kMaxStringBytes,
      " bytes, repeated fields <= ", internal::kMaxRepeated,
      " entries. A name is 1 to ", internal::kMaxNameBytes,
      " bytes of letters, digits and `_ . : / -`; a path is <= ",
      internal::kMaxPathBytes, " bytes without control characters.\n");
  for (const JobType* type : AllJobTypes()) {
    absl::StrAppend(
        &out, "\n## ", type->name(), "\n\n", type->Reference(),
        type->Restartable()
            ? "\nRestartable: a lost or transiently failed task restarts the "
              "whole job from its last progress checkpoint "
              "(`max_task_retries`).\n"
            : "\nNot restartable: a lost or failed task fails the job.\n");
  }
  return out;
}

}  // namespace jobs
}  // namespace strata
