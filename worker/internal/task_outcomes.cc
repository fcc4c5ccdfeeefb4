#include "worker/internal/task_outcomes.h"

namespace strata {
namespace internal {

TaskOutcomes::TaskOutcomes(MetricsRegistry* registry) {
  if (registry == nullptr) return;
  auto& family = prometheus::BuildCounter()
                     .Name("strata_worker_tasks_total")
                     .Help("Tasks this worker ran, by outcome: succeeded, "
                           "failed, cancelled, crashed (the task's process "
                           "died without reporting an outcome).")
                     .Register(registry->registry());
  for (const char* o : {"succeeded", "failed", "cancelled", "crashed"}) {
    counters_[o] = &family.Add({{"outcome", o}});
  }
}

void TaskOutcomes::Count(const absl::StatusOr<TaskMetrics>& result,
                         bool crashed) {
  if (counters_.empty()) return;
  const char* outcome = crashed       ? "crashed"
                        : result.ok() ? "succeeded"
                        : absl::IsCancelled(result.status()) ? "cancelled"
                                                             : "failed";
  counters_[outcome]->Increment();
}

}  // namespace internal
}  // namespace strata
