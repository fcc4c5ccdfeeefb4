// Start-up of the worker daemon (//worker/testing:crash_worker, the real
// daemon with test tasks): a bad --data_root stops it with exit status 2
// before it dials the coordinator.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace strata {
namespace {

constexpr char kWorker[] = "worker/testing/crash_worker";

// Runs the daemon with `args` (the coordinator address is unreachable) and
// returns its exit status, or -1 if it still runs after `wait` (it is then
// killed) or did not exit normally.
int ExitStatus(std::vector<std::string> args,
               absl::Duration wait = absl::Seconds(30)) {
  args.insert(args.begin(), {kWorker, "--coordinator=127.0.0.1:1"});
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    execv(kWorker, argv.data());
    _exit(127);
  }
  if (pid < 0) return -1;
  const absl::Time deadline = absl::Now() + wait;
  int status = 0;
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (absl::Now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return -1;
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(WorkerDaemonTest, AnExistingDataRootLetsItStart) {
  EXPECT_EQ(
      ExitStatus({"--data_root=" + ::testing::TempDir()}, absl::Seconds(2)), -1)
      << "still dialling the coordinator";
}

TEST(WorkerDaemonTest, AMissingDataRootIsAStartUpError) {
  EXPECT_EQ(ExitStatus({"--data_root=/nonexistent/strata-data"}), 2);
}

TEST(WorkerDaemonTest, ARelativeDataRootIsAStartUpError) {
  EXPECT_EQ(ExitStatus({"--data_root=data"}), 2);
}

TEST(WorkerDaemonTest, OneBadRootOfSeveralIsAStartUpError) {
  EXPECT_EQ(ExitStatus({"--data_root=/tmp,/nonexistent/strata-data"}), 2);
}

}  // namespace
}  // namespace strata
