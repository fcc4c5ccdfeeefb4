#include "worker/builtin_tasks.h"

#include <memory>

#include "worker/tasks/ps_load_test.h"

namespace strata {

TaskRegistry DefaultTaskRegistry() {
  TaskRegistry registry;
  registry.Register(JobSpec::kPsLoadTest,
                    [] { return std::make_unique<PsLoadTestTask>(); });
  return registry;
}

}  // namespace strata
