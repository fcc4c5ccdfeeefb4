// Test-only: a PS_LOAD_TEST task that misbehaves on purpose when its table
// is named after a misbehaviour, to prove that no task can take a worker
// daemon down (worker/task_process.h). Any other table runs the real
// PsLoadTestTask. Never linked into //worker:worker.
//
//   crash-segv       raises SIGSEGV          crash-abort    calls abort()
//   crash-bad-alloc  throws std::bad_alloc   crash-exit     calls exit(3)
//   hang             ignores its cancellation and never returns
//   until-cancelled  runs until cancelled, then returns CANCELLED
//   progress         reports steps 1-3 of 3, returns {"answer": 42}
//   resume           saves progress checkpoints "old" and "new" around a
//                    report of step 1 of 1, returns {"answer": 42}
//   refuse           returns FAILED_PRECONDITION "refused on purpose"
#ifndef STRATA_WORKER_TESTING_CRASH_TASK_H_
#define STRATA_WORKER_TESTING_CRASH_TASK_H_

#include "worker/cnn/fc_service.h"
#include "worker/task.h"

namespace strata {
namespace testing {

class CrashTask final : public Task {
 public:
  absl::StatusOr<TaskMetrics> Run(const TaskAssignment& assignment,
                                  TaskContext* context) override;
};

// The built-in tasks, with PS_LOAD_TEST's replaced by CrashTask.
TaskRegistry CrashTestRegistry(cnn::FcServiceHost* fc_host);

}  // namespace testing
}  // namespace strata

#endif  // STRATA_WORKER_TESTING_CRASH_TASK_H_
