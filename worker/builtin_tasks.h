// The registry of every task type this worker binary can run.
#ifndef STRATA_WORKER_BUILTIN_TASKS_H_
#define STRATA_WORKER_BUILTIN_TASKS_H_

#include "worker/task.h"

namespace strata {

TaskRegistry DefaultTaskRegistry();

}  // namespace strata

#endif  // STRATA_WORKER_BUILTIN_TASKS_H_
