#include "server/util/server_threads_flags.h"

#include "absl/flags/flag.h"
#include "proto/base/status_macros.h"

ABSL_FLAG(int32_t, min_pollers, strata::ServerThreadOptions().min_pollers,
          "Idle gRPC server threads kept waiting for requests, at least.");
ABSL_FLAG(int32_t, max_pollers, strata::ServerThreadOptions().max_pollers,
          "Idle gRPC server threads kept waiting for requests, at most; a "
          "thread that finishes a request beyond them ends.");
ABSL_FLAG(int32_t, max_server_threads,
          strata::ServerThreadOptions().max_threads,
          "gRPC server threads at most, idle and busy: a request arriving "
          "when all are busy is refused with RESOURCE_EXHAUSTED. 0: no bound.");

namespace strata {

absl::StatusOr<ServerThreadOptions> ServerThreadOptionsFromFlags() {
  ServerThreadOptions options;
  options.min_pollers = absl::GetFlag(FLAGS_min_pollers);
  options.max_pollers = absl::GetFlag(FLAGS_max_pollers);
  options.max_threads = absl::GetFlag(FLAGS_max_server_threads);
  STRATA_RETURN_IF_ERROR(ValidateServerThreadOptions(options));
  return options;
}

}  // namespace strata
