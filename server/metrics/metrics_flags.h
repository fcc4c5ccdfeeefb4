// The --metrics_port and --metrics_address flags every Strata daemon takes
// (docs/metrics.md), defined once here and linked into each daemon's main.
#ifndef STRATA_SERVER_METRICS_METRICS_FLAGS_H_
#define STRATA_SERVER_METRICS_METRICS_FLAGS_H_

#include "absl/status/statusor.h"
#include "server/metrics/metrics_server.h"

namespace strata {

// StartDaemonMetrics with the flags' values: call after ParseCommandLine.
absl::StatusOr<DaemonMetrics> StartDaemonMetricsFromFlags();

}  // namespace strata

#endif  // STRATA_SERVER_METRICS_METRICS_FLAGS_H_
