// The registry of every task type this worker binary can run.
#ifndef STRATA_WORKER_BUILTIN_TASKS_H_
#define STRATA_WORKER_BUILTIN_TASKS_H_

#include "worker/cnn/fc_service.h"
#include "worker/task.h"

namespace strata {

// `fc_host` (not owned; may be null) serves the FC-role tasks of CNN_TRAIN
// jobs in STANZA mode; without it such tasks fail FAILED_PRECONDITION.
TaskRegistry DefaultTaskRegistry(cnn::FcServiceHost* fc_host = nullptr);

}  // namespace strata

#endif  // STRATA_WORKER_BUILTIN_TASKS_H_
