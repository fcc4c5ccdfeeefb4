#include "worker/task.h"

#include "gtest/gtest.h"
#include "worker/builtin_tasks.h"

namespace strata {
namespace {

TEST(TaskRegistryTest, CreatesTheBuiltInLoadTest) {
  TaskRegistry registry = DefaultTaskRegistry();
  JobSpec spec;
  spec.mutable_ps_load_test();
  auto task = registry.Create(spec);
  ASSERT_TRUE(task.ok()) << task.status();
  EXPECT_NE(*task, nullptr);
}

TEST(TaskRegistryTest, UnknownJobTypeIsUnimplemented) {
  TaskRegistry registry;
  JobSpec spec;
  spec.mutable_ps_load_test();
  auto task = registry.Create(spec);
  EXPECT_EQ(task.status().code(), absl::StatusCode::kUnimplemented);
  JobSpec empty;
  EXPECT_EQ(DefaultTaskRegistry().Create(empty).status().code(),
            absl::StatusCode::kUnimplemented);
}

}  // namespace
}  // namespace strata
