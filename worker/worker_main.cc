// Worker daemon: registers with the coordinator and runs the tasks it is
// assigned. See README.md ("Running the daemons by hand") and docs/worker.md.
#include "worker/builtin_tasks.h"
#include "worker/worker_daemon.h"

int main(int argc, char** argv) {
  return strata::RunWorkerDaemon(argc, argv, strata::DefaultTaskRegistry);
}
