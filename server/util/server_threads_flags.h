// The --min_pollers, --max_pollers and --max_server_threads flags of the
// daemons that serve gRPC (ps_server, coordinator), defined once here and
// linked into each daemon's main.
#ifndef STRATA_SERVER_UTIL_SERVER_THREADS_FLAGS_H_
#define STRATA_SERVER_UTIL_SERVER_THREADS_FLAGS_H_

#include "absl/status/statusor.h"
#include "server/util/server_threads.h"

namespace strata {

// The flags' values, validated (ValidateServerThreadOptions): call after
// ParseCommandLine.
absl::StatusOr<ServerThreadOptions> ServerThreadOptionsFromFlags();

}  // namespace strata

#endif  // STRATA_SERVER_UTIL_SERVER_THREADS_FLAGS_H_
