// Test-only worker daemon: //worker:worker with CrashTask for PS_LOAD_TEST
// jobs (worker/testing/crash_task.h). Used by //worker:task_process_test
// and tests/integration/task_isolation_e2e_test.sh.
#include "worker/testing/crash_task.h"
#include "worker/worker_daemon.h"

int main(int argc, char** argv) {
  return strata::RunWorkerDaemon(argc, argv,
                                 strata::testing::CrashTestRegistry);
}
