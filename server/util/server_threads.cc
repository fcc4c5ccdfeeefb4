#include "server/util/server_threads.h"

#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "grpcpp/resource_quota.h"

namespace strata {

absl::Status ValidateServerThreadOptions(const ServerThreadOptions& options) {
  if (options.min_pollers < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        kMinPollersFlag, " ", options.min_pollers, " must be at least 1"));
  }
  if (options.max_pollers < options.min_pollers) {
    return absl::InvalidArgumentError(
        absl::StrCat(kMaxPollersFlag, " ", options.max_pollers, " is below ",
                     kMinPollersFlag, " ", options.min_pollers));
  }
  if (options.max_threads < 0 ||
      (options.max_threads > 0 && options.max_threads <= options.max_pollers)) {
    return absl::InvalidArgumentError(
        absl::StrCat(kMaxServerThreadsFlag, " ", options.max_threads,
                     " must be 0 (no bound) or above ", kMaxPollersFlag, " ",
                     options.max_pollers));
  }
  return absl::OkStatus();
}

void ApplyServerThreadOptions(const ServerThreadOptions& options,
                              grpc::ServerBuilder* builder) {
  const absl::Status valid = ValidateServerThreadOptions(options);
  CHECK(valid.ok()) << valid;
  builder->SetSyncServerOption(
      grpc::ServerBuilder::SyncServerOption::MIN_POLLERS, options.min_pollers);
  builder->SetSyncServerOption(
      grpc::ServerBuilder::SyncServerOption::MAX_POLLERS, options.max_pollers);
  if (options.max_threads > 0) {
    grpc::ResourceQuota quota("strata-server-threads");
    quota.SetMaxThreads(options.max_threads);
    builder->SetResourceQuota(quota);
  }
}

}  // namespace strata
