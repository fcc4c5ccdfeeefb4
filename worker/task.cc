#include "worker/task.h"

#include "absl/strings/str_cat.h"

namespace strata {

absl::StatusOr<std::unique_ptr<Task>> TaskRegistry::Create(
    const JobSpec& spec) const {
  auto it = factories_.find(spec.job_case());
  if (it == factories_.end()) {
    return absl::UnimplementedError(absl::StrCat(
        "this worker has no task for job type ", spec.job_case(),
        " (JobSpec oneof field number)"));
  }
  return it->second();
}

}  // namespace strata
