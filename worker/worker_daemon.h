// The worker daemon's main(), as a library: //worker:worker links it with
// the built-in tasks, and test binaries link it with test-only tasks
// (worker/testing/crash_worker_main.cc). Parses the flags, then either runs
// as a daemon (registers with the coordinator and runs its assignments,
// each in a task process by default) or, when started by a daemon with
// --task_child_fd, as one task's process (worker/task_process.h).
#ifndef STRATA_WORKER_WORKER_DAEMON_H_
#define STRATA_WORKER_WORKER_DAEMON_H_

#include <functional>

#include "worker/cnn/fc_service.h"
#include "worker/task.h"

namespace strata {

// Builds the tasks a process runs. `fc_host` is the StanzaFc service
// FC-role tasks register with (null where none is served).
using TaskRegistryFactory =
    std::function<TaskRegistry(cnn::FcServiceHost* fc_host)>;

// Runs the program; returns its exit code.
int RunWorkerDaemon(int argc, char** argv,
                    const TaskRegistryFactory& make_registry);

}  // namespace strata

#endif  // STRATA_WORKER_WORKER_DAEMON_H_
