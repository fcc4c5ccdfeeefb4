#include "worker/task.h"

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
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

namespace {

absl::Mutex task_credentials_mu(absl::kConstInit);
std::shared_ptr<const security::Credentials>* task_credentials
    ABSL_GUARDED_BY(task_credentials_mu) = nullptr;

}  // namespace

void SetTaskCredentials(std::shared_ptr<const security::Credentials> creds) {
  absl::MutexLock lock(&task_credentials_mu);
  if (task_credentials == nullptr) {
    task_credentials = new std::shared_ptr<const security::Credentials>;
  }
  *task_credentials = std::move(creds);
}

std::shared_ptr<const security::Credentials> TaskCredentials() {
  absl::MutexLock lock(&task_credentials_mu);
  return task_credentials != nullptr ? *task_credentials : nullptr;
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
  if (options.credentials == nullptr) options.credentials = TaskCredentials();
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
