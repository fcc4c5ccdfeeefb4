#include "worker/builtin_tasks.h"

#include <memory>

#include "worker/ctr/ctr_tasks.h"
#include "worker/cnn/cnn_task.h"
#include "worker/tasks/ps_load_test.h"

namespace strata {

TaskRegistry DefaultTaskRegistry(cnn::FcServiceHost* fc_host) {
  TaskRegistry registry;
  registry.Register(JobSpec::kPsLoadTest,
                    [] { return std::make_unique<PsLoadTestTask>(); });
  registry.Register(JobSpec::kCtrTrain,
                    [] { return std::make_unique<ctr::CtrTrainTask>(); });
  registry.Register(JobSpec::kCtrEval,
                    [] { return std::make_unique<ctr::CtrEvalTask>(); });
  registry.Register(JobSpec::kCnnTrain, [fc_host] {
    return std::make_unique<cnn::CnnTrainTask>(fc_host);
  });
  return registry;
}

}  // namespace strata
