#include "worker/testing/crash_task.h"

#include <signal.h>
#include <stdlib.h>

#include <memory>
#include <new>

#include "absl/time/clock.h"
#include "worker/builtin_tasks.h"
#include "worker/tasks/ps_load_test.h"

namespace strata {
namespace testing {

absl::StatusOr<TaskMetrics> CrashTask::Run(const TaskAssignment& assignment,
                                           TaskContext* context) {
  const std::string& what = assignment.spec().ps_load_test().table();
  if (what == "crash-segv") raise(SIGSEGV);
  if (what == "crash-abort") abort();
  if (what == "crash-bad-alloc") throw std::bad_alloc();
  if (what == "crash-exit") exit(3);
  if (what == "hang") {
    while (true) absl::SleepFor(absl::Seconds(1));
  }
  if (what == "until-cancelled") {
    while (!context->cancelled()) absl::SleepFor(absl::Milliseconds(10));
    return absl::CancelledError("stopped on request");
  }
  if (what == "progress") {
    for (int step = 1; step <= 3; ++step) {
      context->ReportProgress(step, 3, {{"step_seen", double(step)}});
      absl::SleepFor(absl::Milliseconds(120));  // past the child's throttle
    }
    return TaskMetrics{{"answer", 42}};
  }
  if (what == "resume") {
    context->SaveResume("old");
    context->ReportProgress(1, 1, {});
    context->SaveResume("new");
    return TaskMetrics{{"answer", 42}};
  }
  if (what == "refuse") {
    return absl::FailedPreconditionError("refused on purpose");
  }
  return PsLoadTestTask().Run(assignment, context);
}

TaskRegistry CrashTestRegistry(cnn::FcServiceHost* fc_host) {
  TaskRegistry registry = DefaultTaskRegistry(fc_host);
  registry.Register(JobSpec::kPsLoadTest,
                    [] { return std::make_unique<CrashTask>(); });
  return registry;
}

}  // namespace testing
}  // namespace strata
