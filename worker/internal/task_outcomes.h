// strata_worker_tasks_total{outcome}: what became of a worker daemon's
// tasks (docs/metrics.md). Thread-safe: prometheus counters are atomic and
// the map is fixed after construction. Does not own the registry.
#ifndef STRATA_WORKER_INTERNAL_TASK_OUTCOMES_H_
#define STRATA_WORKER_INTERNAL_TASK_OUTCOMES_H_

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "prometheus/counter.h"
#include "server/metrics/metrics_registry.h"
#include "worker/task.h"

namespace strata {
namespace internal {

class TaskOutcomes {
 public:
  // Null registry: metrics are off and Count does nothing.
  explicit TaskOutcomes(MetricsRegistry* registry);
  // `crashed`: the task's process died without reporting an outcome.
  void Count(const absl::StatusOr<TaskMetrics>& result, bool crashed);

 private:
  std::map<std::string, prometheus::Counter*> counters_;
};

}  // namespace internal
}  // namespace strata

#endif  // STRATA_WORKER_INTERNAL_TASK_OUTCOMES_H_
