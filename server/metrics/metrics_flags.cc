#include "server/metrics/metrics_flags.h"

#include <string>

#include "absl/flags/flag.h"

ABSL_FLAG(int32_t, metrics_port, 0,
          "Serve Prometheus metrics at http://METRICS_ADDRESS:PORT/metrics; "
          "0 disables them. See docs/metrics.md.");
ABSL_FLAG(std::string, metrics_address, "127.0.0.1",
          "Address the metrics endpoint binds: 127.0.0.1 (this machine only) "
          "or 0.0.0.0 (all interfaces; the endpoint has no authentication).");

namespace strata {

absl::StatusOr<DaemonMetrics> StartDaemonMetricsFromFlags() {
  return StartDaemonMetrics(absl::GetFlag(FLAGS_metrics_address),
                            absl::GetFlag(FLAGS_metrics_port));
}

}  // namespace strata
