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

absl::StatusOr<PsClient*> TaskPsClient(const TaskAssignment& assignment,
                                       PsClient* given,
                                       std::unique_ptr<PsClient>* owned,
                                       const PsClientOptions& options) {
  if (given != nullptr) return given;
  if (assignment.ps_addresses().empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("no parameter-server shards assigned to task ",
                     assignment.task_id()));
  }
  absl::StatusOr<std::unique_ptr<PsClient>> c = PsClient::Connect(
      {assignment.ps_addresses().begin(), assignment.ps_addresses().end()},
      options);
  if (!c.ok()) return c.status();
  *owned = std::move(*c);
  return owned->get();
}

}  // namespace strata
