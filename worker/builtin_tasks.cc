#include "worker/builtin_tasks.h"

#include <memory>

#include "worker/ctr/ctr_tasks.h"
#include "worker/tasks/ps_load_test.h"

namespace strata {

TaskRegistry DefaultTaskRegistry() {
  TaskRegistry registry;
  registry.Register(JobSpec::kPsLoadTest,
                    [] { return std::make_unique<PsLoadTestTask>(); });
  registry.Register(JobSpec::kCtrTrain,
                    [] { return std::make_unique<ctr::CtrTrainTask>(); });
  registry.Register(JobSpec::kCtrEval,
                    [] { return std::make_unique<ctr::CtrEvalTask>(); });
  return registry;
}

}  // namespace strata
