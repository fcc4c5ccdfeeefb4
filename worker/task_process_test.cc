#include "worker/task_process.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace strata {
namespace {

using ::testing::HasSubstr;

// Under --config=asan the task processes must die of their signals, as in
// production, not of ASan's SEGV report (which exits 1): the children
// inherit this environment (bazel's --test_env would override a BUILD env).
const bool kChildrenDieOfSignals = [] {
  const char* asan = getenv("ASAN_OPTIONS");
  const std::string options =
      std::string(asan == nullptr ? "" : asan) + ":handle_segv=0";
  return setenv("ASAN_OPTIONS", options.c_str(), 1) == 0;
}();

// The program under test runs CrashTask (worker/testing/crash_task.h) for
// PS_LOAD_TEST specs in its task processes.
constexpr char kCrashWorker[] = "worker/testing/crash_worker";

class RecordingContext final : public TaskContext {
 public:
  bool cancelled() const override { return cancelled_.load(); }
  void ReportProgress(int64_t step, int64_t total,
                      const TaskMetrics& metrics) override {
    absl::MutexLock lock(&mu_);
    steps_.push_back(step);
    total_ = total;
    last_metrics_ = metrics;
  }
  void SaveResume(std::string record) override {
    absl::MutexLock lock(&mu_);
    resumes_.push_back(std::move(record));
  }
  void Cancel() { cancelled_ = true; }
  std::vector<std::string> resumes() {
    absl::MutexLock lock(&mu_);
    return resumes_;
  }
  std::vector<int64_t> steps() {
    absl::MutexLock lock(&mu_);
    return steps_;
  }
  TaskMetrics last_metrics() {
    absl::MutexLock lock(&mu_);
    return last_metrics_;
  }

 private:
  std::atomic<bool> cancelled_{false};
  absl::Mutex mu_;
  std::vector<int64_t> steps_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> resumes_ ABSL_GUARDED_BY(mu_);
  int64_t total_ ABSL_GUARDED_BY(mu_) = 0;
  TaskMetrics last_metrics_ ABSL_GUARDED_BY(mu_);
};

TaskAssignment Assignment(const std::string& behaviour) {
  TaskAssignment a;
  a.set_task_id("job-1/0");
  a.set_job_id("job-1");
  a.set_num_tasks(1);
  a.mutable_spec()->mutable_ps_load_test()->set_table(behaviour);
  return a;
}

TaskProcessOptions Options() {
  TaskProcessOptions o;
  o.binary = kCrashWorker;
  o.cancel_grace = absl::Seconds(5);
  return o;
}

absl::StatusOr<TaskMetrics> RunIn(const std::string& behaviour,
                                  RecordingContext* context,
                                  TaskProcessOptions options = Options()) {
  return ChildProcessTask(options).Run(Assignment(behaviour), context);
}

int OpenFds() {
  int n = 0;
  DIR* dir = opendir("/proc/self/fd");
  while (readdir(dir) != nullptr) ++n;
  closedir(dir);
  return n;
}

TEST(ChildProcessTaskTest, RelaysProgressAndTheMetricsOfATaskThatSucceeds) {
  RecordingContext context;
  absl::StatusOr<TaskMetrics> got = RunIn("progress", &context);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->at("answer"), 42);
  EXPECT_EQ(context.steps(), (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(context.last_metrics().at("step_seen"), 3);
}

TEST(ChildProcessTaskTest, RelaysProgressCheckpointsInOrderApartFromProgress) {
  RecordingContext context;
  absl::StatusOr<TaskMetrics> got = RunIn("resume", &context);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(context.resumes(), (std::vector<std::string>{"old", "new"}));
  // A checkpoint's frame is no progress report of step 0.
  EXPECT_EQ(context.steps(), (std::vector<int64_t>{1}));
}

TEST(ChildProcessTaskTest, AFailingTaskKeepsItsCodeAndMessage) {
  RecordingContext context;
  absl::StatusOr<TaskMetrics> got = RunIn("refuse", &context);
  EXPECT_EQ(got.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(got.status().message(), "refused on purpose");
}

TEST(ChildProcessTaskTest, ASegfaultIsInternalNamingTheSignal) {
  RecordingContext context;
  absl::StatusOr<TaskMetrics> got = RunIn("crash-segv", &context);
  EXPECT_EQ(got.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(std::string(got.status().message()),
              HasSubstr("task process killed by signal 11"));
}

TEST(ChildProcessTaskTest, AnAbortIsInternalNamingTheSignal) {
  RecordingContext context;
  absl::StatusOr<TaskMetrics> got = RunIn("crash-abort", &context);
  EXPECT_EQ(got.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(std::string(got.status().message()),
              HasSubstr("killed by signal 6"));
}

TEST(ChildProcessTaskTest, AnUncaughtBadAllocIsInternalQuotingTheOutput) {
  RecordingContext context;
  absl::StatusOr<TaskMetrics> got = RunIn("crash-bad-alloc", &context);
  EXPECT_EQ(got.status().code(), absl::StatusCode::kInternal);
  // The C++ runtime's last words, kept from the process's stderr.
  EXPECT_THAT(std::string(got.status().message()),
              HasSubstr("last output: "));
  EXPECT_THAT(std::string(got.status().message()), HasSubstr("bad_alloc"));
}

TEST(ChildProcessTaskTest, ExitingWithoutAnOutcomeIsInternal) {
  RecordingContext context;
  absl::StatusOr<TaskMetrics> got = RunIn("crash-exit", &context);
  EXPECT_EQ(got.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(std::string(got.status().message()),
              HasSubstr("exited with status 3 without reporting an outcome"));
}

TEST(ChildProcessTaskTest, AJobTypeTheProgramLacksIsUnimplemented) {
  RecordingContext context;
  TaskAssignment a = Assignment("");
  a.mutable_spec()->clear_ps_load_test();
  absl::StatusOr<TaskMetrics> got = ChildProcessTask(Options()).Run(a, &context);
  EXPECT_EQ(got.status().code(), absl::StatusCode::kUnimplemented)
      << got.status();
}

TEST(ChildProcessTaskTest, ACancelledTaskStopsAndReportsCancelled) {
  RecordingContext context;
  std::thread canceller([&] {
    absl::SleepFor(absl::Milliseconds(300));
    context.Cancel();
  });
  const absl::Time start = absl::Now();
  absl::StatusOr<TaskMetrics> got = RunIn("until-cancelled", &context);
  canceller.join();
  EXPECT_EQ(got.status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(got.status().message(), "stopped on request");
  EXPECT_LT(absl::Now() - start, absl::Seconds(4));  // not the 5 s grace
}

TEST(ChildProcessTaskTest, ATaskThatIgnoresItsCancelIsKilledAfterTheGrace) {
  RecordingContext context;
  context.Cancel();
  TaskProcessOptions o = Options();
  o.cancel_grace = absl::Milliseconds(300);
  const absl::Time start = absl::Now();
  absl::StatusOr<TaskMetrics> got = RunIn("hang", &context, o);
  EXPECT_EQ(got.status().code(), absl::StatusCode::kCancelled);
  EXPECT_THAT(std::string(got.status().message()), HasSubstr("was killed"));
  EXPECT_LT(absl::Now() - start, absl::Seconds(20));
}

TEST(ChildProcessTaskTest, AProgramThatCannotStartIsInternal) {
  RecordingContext context;
  TaskProcessOptions o = Options();
  o.binary = "/nonexistent/worker";
  absl::StatusOr<TaskMetrics> got = RunIn("progress", &context, o);
  EXPECT_EQ(got.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(std::string(got.status().message()),
              HasSubstr("exited with status 127"));
  EXPECT_THAT(std::string(got.status().message()), HasSubstr("exec failed"));
}

TEST(ChildProcessTaskTest, ConcurrentTasksGetTheirOwnOutcomes) {
  RecordingContext a_context, b_context;
  absl::StatusOr<TaskMetrics> a, b;
  std::thread ta([&] { a = RunIn("crash-segv", &a_context); });
  std::thread tb([&] { b = RunIn("progress", &b_context); });
  ta.join();
  tb.join();
  EXPECT_EQ(a.status().code(), absl::StatusCode::kInternal);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->at("answer"), 42);
}

TEST(ChildProcessTaskTest, CrashesLeaveNoProcessesOrDescriptorsBehind) {
  const int fds = OpenFds();
  for (const char* behaviour : {"crash-segv", "crash-abort", "crash-exit",
                                "refuse", "progress"}) {
    RecordingContext context;
    (void)RunIn(behaviour, &context);
  }
  EXPECT_EQ(OpenFds(), fds);
  // Every child was reaped: there is none left to wait for.
  EXPECT_EQ(waitpid(-1, nullptr, WNOHANG), -1);
  EXPECT_EQ(errno, ECHILD);
}

}  // namespace
}  // namespace strata
