#include "worker/internal/task_outcomes.h"

#include <memory>
#include <string>

#include "gtest/gtest.h"

namespace strata {
namespace internal {
namespace {

bool Has(const std::string& text, const std::string& line) {
  return text.find(line + "\n") != std::string::npos;
}

TEST(TaskOutcomesTest, CountsEachOutcomeUnderItsLabel) {
  auto registry = MetricsRegistry::Create();
  ASSERT_TRUE(registry.ok()) << registry.status();
  TaskOutcomes outcomes(registry->get());
  outcomes.Count(TaskMetrics{{"x", 1}}, false);
  outcomes.Count(TaskMetrics{}, false);
  outcomes.Count(absl::InvalidArgumentError("bad"), false);
  outcomes.Count(absl::CancelledError("stop"), false);
  outcomes.Count(absl::InternalError("task process killed by signal 11"),
                 true);
  const std::string text = (*registry)->TextFormat();
  EXPECT_TRUE(Has(text, "strata_worker_tasks_total{outcome=\"succeeded\"} 2"))
      << text;
  EXPECT_TRUE(Has(text, "strata_worker_tasks_total{outcome=\"failed\"} 1"));
  EXPECT_TRUE(Has(text, "strata_worker_tasks_total{outcome=\"cancelled\"} 1"));
  EXPECT_TRUE(Has(text, "strata_worker_tasks_total{outcome=\"crashed\"} 1"));
}

TEST(TaskOutcomesTest, WithoutARegistryNothingIsCounted) {
  TaskOutcomes outcomes(nullptr);
  outcomes.Count(absl::InternalError("crash"), true);  // must not crash
}

}  // namespace
}  // namespace internal
}  // namespace strata
