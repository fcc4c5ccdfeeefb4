#include "worker/task.h"

#include "absl/strings/str_cat.h"
#include "proto/base/status_macros.h"

namespace strata {

absl::StatusOr<std::unique_ptr<Task>> TaskRegistry::Create(
    const JobSpec& spec) const {
  auto it = factories_.find(spec.job_case());
  if (it == factories_.end()) {
    return absl::UnimplementedError(
        absl::StrCat("this worker has no task for job type ", spec.job_case(),
                     " (JobSpec oneof field number)"));
  }
  return it->second();
}

absl::StatusOr<PsClient*> TaskPsClient(const TaskAssignment& assignment,
                                       TaskContext* context, PsClient* given,
                                       std::unique_ptr<PsClient>* owned,
                                       PsClientOptions options) {
  if (given != nullptr) return given;
  if (assignment.ps_addresses().empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "no parameter-server shards assigned to task ", assignment.task_id()));
  }
  if (context != nullptr && !options.cancelled) {
    options.cancelled = [context] { return context->cancelled(); };
  }
  STRATA_ASSIGN_OR_RETURN(*owned,
                          PsClient::Connect({assignment.ps_addresses().begin(),
                                             assignment.ps_addresses().end()},
                                            options));
  return owned->get();
}

}  // namespace strata
