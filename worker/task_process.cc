#include "worker/task_process.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <optional>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "glog/logging.h"
#include "proto/base/status_macros.h"
#include "proto/task_process.pb.h"
#include "worker/internal/frame_io.h"

namespace strata {
namespace {

constexpr int kChildFd = 3;

// Closes an fd on scope exit unless released.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { Reset(); }
  int get() const { return fd_; }
  void Reset(int fd = -1) {
    if (fd_ >= 0) close(fd_);
    fd_ = fd;
  }

 private:
  int fd_;
};

struct Child {
  pid_t pid = -1;
  Fd control;  // our end of the socket pair
  Fd output;   // read end of the child's stdout + stderr
};

// Forks and execs `argv`: fd 3 is the child's end of the socket pair, fds 1
// and 2 the output pipe. Between fork and exec only async-signal-safe calls.
absl::StatusOr<std::unique_ptr<Child>> Spawn(std::vector<std::string> argv) {
  int sv[2], out[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    return absl::ResourceExhaustedError(
        absl::StrCat("socketpair for a task process: ", strerror(errno)));
  }
  if (pipe2(out, O_CLOEXEC) != 0) {
    close(sv[0]);
    close(sv[1]);
    return absl::ResourceExhaustedError(
        absl::StrCat("pipe for a task process: ", strerror(errno)));
  }
  std::vector<char*> args;
  for (std::string& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid == 0) {
    // Own process group: a terminal's Ctrl-C goes to the daemon, which
    // cancels its tasks; the child dies with the thread that forked it.
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    dup2(sv[1], kChildFd);  // dup2 clears FD_CLOEXEC on the copy
    dup2(out[1], STDOUT_FILENO);
    dup2(out[1], STDERR_FILENO);
    close_range(kChildFd + 1, ~0U, 0);  // whatever was not close-on-exec
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    signal(SIGPIPE, SIG_DFL);
    execv(args[0], args.data());
    static const char kMsg[] = "task process: exec failed\n";
    (void)!write(STDERR_FILENO, kMsg, sizeof(kMsg) - 1);
    _exit(127);
  }
  close(sv[1]);
  close(out[1]);
  if (pid < 0) {
    const int err = errno;
    close(sv[0]);
    close(out[0]);
    return absl::ResourceExhaustedError(
        absl::StrCat("fork for a task process: ", strerror(err)));
  }
  auto child = std::make_unique<Child>();
  child->pid = pid;
  child->control.Reset(sv[0]);
  child->output.Reset(out[0]);
  return child;
}

// The last non-empty lines of `tail`, joined with " | ".
std::string LastLines(const std::string& tail) {
  std::vector<absl::string_view> lines;
  for (absl::string_view line : absl::StrSplit(tail, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (!line.empty()) lines.push_back(line);
  }
  const size_t keep = std::min<size_t>(lines.size(), 3);
  std::string out;
  for (size_t i = lines.size() - keep; i < lines.size(); ++i) {
    absl::StrAppend(&out, out.empty() ? "" : " | ", lines[i]);
  }
  return out;
}

// Watches one child until it exits: relays reports and output, forwards a
// cancellation, kills the child when it outstays the grace period.
class Watch {
 public:
  Watch(const TaskProcessOptions& options, Child* child, TaskContext* context)
      : options_(options), child_(child), context_(context) {}

  absl::StatusOr<TaskMetrics> Run();
  // After Run: no outcome arrived and the child was not killed by us.
  bool crashed() const { return !outcome_ && !killed_; }

 private:
  void PumpOnce(int timeout_ms);
  void ReadReport();
  void ReadOutput();
  void CheckCancel();
  absl::StatusOr<TaskMetrics> Result(int wait_status) const;

  const TaskProcessOptions& options_;
  Child* const child_;
  TaskContext* const context_;
  bool control_open_ = true;
  bool output_open_ = true;
  std::optional<TaskProcessReport::Outcome> outcome_;
  std::string tail_;
  std::optional<absl::Time> kill_at_;  // set once the cancel is sent
  bool killed_ = false;
};

absl::StatusOr<TaskMetrics> Watch::Run() {
  int wait_status = 0;
  while (true) {
    PumpOnce(100);
    CheckCancel();
    const pid_t done = waitpid(child_->pid, &wait_status, WNOHANG);
    if (done == child_->pid) break;
    if (done < 0 && errno != EINTR) {
      return absl::InternalError(
          absl::StrCat("waiting for the task process: ", strerror(errno)));
    }
  }
  // The child is gone: drain what it wrote before it ended.
  while (control_open_ || output_open_) PumpOnce(0);
  return Result(wait_status);
}

void Watch::PumpOnce(int timeout_ms) {
  pollfd fds[2] = {{control_open_ ? child_->control.get() : -1, POLLIN, 0},
                   {output_open_ ? child_->output.get() : -1, POLLIN, 0}};
  const int n = poll(fds, 2, timeout_ms);
  if (n < 0 && errno == EINTR) return;
  if (n <= 0) {
    // Nothing more to read: after the child exited that means the end.
    if (timeout_ms == 0) control_open_ = output_open_ = false;
    return;
  }
  if (fds[0].revents != 0) ReadReport();
  if (fds[1].revents != 0) ReadOutput();
}

void Watch::ReadReport() {
  TaskProcessReport report;
  absl::Status s = internal::ReadFrame(child_->control.get(),
                                       options_.max_frame_bytes, &report);
  if (!s.ok()) {
    if (!absl::IsOutOfRange(s)) LOG(WARNING) << "task process: " << s;
    control_open_ = false;
    return;
  }
  if (report.has_outcome()) {
    outcome_ = report.outcome();
  } else if (report.has_progress() && !outcome_) {
    const TaskProcessReport::Progress& p = report.progress();
    if (!p.resume().empty()) context_->SaveResume(p.resume());
    // A frame of TaskChild::Context::SaveResume carries no progress.
    if (p.step() == 0 && p.total_steps() == 0 && p.metrics().empty()) return;
    TaskMetrics metrics(p.metrics().begin(), p.metrics().end());
    context_->ReportProgress(p.step(), p.total_steps(), metrics);
  }
}

void Watch::ReadOutput() {
  char buffer[4096];
  const ssize_t n = read(child_->output.get(), buffer, sizeof(buffer));
  if (n < 0 && errno == EINTR) return;
  if (n <= 0) {
    output_open_ = false;
    return;
  }
  fwrite(buffer, 1, n, stderr);
  tail_.append(buffer, n);
  if (tail_.size() > 2 * options_.output_tail_bytes) {
    tail_.erase(0, tail_.size() - options_.output_tail_bytes);
  }
}

void Watch::CheckCancel() {
  if (!kill_at_ && context_->cancelled()) {
    TaskProcessCommand cancel;
    cancel.set_cancel(true);
    // A child that already ended cannot read it; the exit tells.
    (void)internal::WriteFrame(child_->control.get(), cancel,
                               options_.max_frame_bytes);
    kill_at_ = absl::Now() + options_.cancel_grace;
  }
  if (kill_at_ && !killed_ && absl::Now() >= *kill_at_) {
    LOG(WARNING) << "task process " << child_->pid << " did not stop within "
                 << absl::FormatDuration(options_.cancel_grace)
                 << " of its cancellation; killing it";
    kill(child_->pid, SIGKILL);
    killed_ = true;
  }
}

absl::StatusOr<TaskMetrics> Watch::Result(int wait_status) const {
  if (outcome_) {
    if (outcome_->code() == 0) {
      return TaskMetrics(outcome_->metrics().begin(),
                         outcome_->metrics().end());
    }
    const int code = outcome_->code();
    return absl::Status(code > 0 && code <= 16 ? absl::StatusCode(code)
                                               : absl::StatusCode::kUnknown,
                        outcome_->message());
  }
  if (killed_) {
    return absl::CancelledError(absl::StrCat(
        "cancelled; the task process did not stop within ",
        absl::FormatDuration(options_.cancel_grace), " and was killed"));
  }
  std::string how;
  if (WIFSIGNALED(wait_status)) {
    const int sig = WTERMSIG(wait_status);
    how = absl::StrCat("killed by signal ", sig, " (", strsignal(sig), ")");
  } else {
    how = absl::StrCat("exited with status ", WEXITSTATUS(wait_status),
                       " without reporting an outcome");
  }
  const std::string last = LastLines(tail_);
  return absl::InternalError(
      absl::StrCat("task process ", how,
                   last.empty() ? "" : absl::StrCat("; last output: ", last)));
}

}  // namespace

absl::StatusOr<TaskMetrics> ChildProcessTask::Run(
    const TaskAssignment& assignment, TaskContext* context) {
  return RunWithArgs(assignment, context, {});
}

absl::StatusOr<TaskMetrics> ChildProcessTask::RunWithArgs(
    const TaskAssignment& assignment, TaskContext* context,
    const std::vector<std::string>& extra_args) {
  std::vector<std::string> argv = {options_.binary};
  argv.insert(argv.end(), options_.args.begin(), options_.args.end());
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  argv.push_back(absl::StrCat("--task_child_fd=", kChildFd));
  crashed_ = false;
  STRATA_ASSIGN_OR_RETURN(std::unique_ptr<Child> child, Spawn(argv));
  LOG(INFO) << assignment.task_id() << " runs in process " << child->pid;
  TaskProcessCommand assign;
  *assign.mutable_assign() = assignment;
  absl::Status sent = internal::WriteFrame(child->control.get(), assign,
                                           options_.max_frame_bytes);
  if (!sent.ok()) LOG(WARNING) << "sending the assignment: " << sent;
  // Unsent, the child ends without an outcome, and the exit says why.
  Watch watch(options_, child.get(), context);
  absl::StatusOr<TaskMetrics> result = watch.Run();
  crashed_ = watch.crashed();
  return result;
}

TaskRegistry ChildProcessRegistry(const std::vector<JobSpec::JobCase>& cases,
                                  const TaskProcessOptions& options) {
  TaskRegistry registry;
  for (JobSpec::JobCase c : cases) {
    registry.Register(
        c, [options] { return std::make_unique<ChildProcessTask>(options); });
  }
  return registry;
}

// ---------------------------------------------------------------------------
// The child's end.

// Forwards progress to the daemon, at most every 100 ms (and every last
// step): the daemon throttles again before the coordinator. A progress
// checkpoint (SaveResume) goes at once, in a frame of its own; the daemon's
// context keeps the latest and sends it on.
class TaskChild::Context final : public TaskContext {
 public:
  explicit Context(TaskChild* child) : child_(child) {}
  bool cancelled() const override { return child_->cancelled_.load(); }
  void ReportProgress(int64_t step, int64_t total,
                      const TaskMetrics& metrics) override {
    const absl::Time now = absl::Now();
    if (step < total && now - last_ < absl::Milliseconds(100)) return;
    last_ = now;
    TaskProcessReport report;
    TaskProcessReport::Progress* p = report.mutable_progress();
    p->set_step(step);
    p->set_total_steps(total);
    for (const auto& [k, v] : metrics) (*p->mutable_metrics())[k] = v;
    (void)child_->Send(report);  // a gone daemon shows as cancelled()
  }
  void SaveResume(std::string record) override {
    TaskProcessReport report;
    report.mutable_progress()->set_resume(std::move(record));
    (void)child_->Send(report);
  }

 private:
  TaskChild* const child_;
  absl::Time last_ = absl::InfinitePast();
};

absl::StatusOr<std::unique_ptr<TaskChild>> TaskChild::Open(
    int fd, size_t max_frame_bytes) {
  TaskProcessCommand first;
  STRATA_RETURN_IF_ERROR(internal::ReadFrame(fd, max_frame_bytes, &first));
  if (!first.has_assign()) {
    return absl::DataLossError("the daemon's first message is no assignment");
  }
  std::unique_ptr<TaskChild> child(
      new TaskChild(fd, max_frame_bytes, first.assign()));
  TaskChild* raw = child.get();
  child->reader_ = std::thread([raw] { raw->ReadCommands(); });
  return child;
}

TaskChild::TaskChild(int fd, size_t max_frame_bytes, TaskAssignment assignment)
    : fd_(fd),
      max_frame_bytes_(max_frame_bytes),
      assignment_(std::move(assignment)) {}

TaskChild::~TaskChild() {
  // Unblocks the reader, which then sees the end of the stream.
  shutdown(fd_, SHUT_RDWR);
  if (reader_.joinable()) reader_.join();
  close(fd_);
}

void TaskChild::ReadCommands() {
  while (true) {
    TaskProcessCommand command;
    if (!internal::ReadFrame(fd_, max_frame_bytes_, &command).ok() ||
        command.cancel()) {
      // Cancelled, or the daemon is gone: either way, stop the task.
      cancelled_ = true;
      return;
    }
  }
}

absl::Status TaskChild::Send(const google::protobuf::MessageLite& report) {
  absl::MutexLock lock(&write_mu_);
  return internal::WriteFrame(fd_, report, max_frame_bytes_);
}

int TaskChild::Run(const TaskRegistry& registry) {
  absl::StatusOr<std::unique_ptr<Task>> task =
      registry.Create(assignment_.spec());
  if (!task.ok()) return ReportOutcome(task.status());
  Context context(this);
  return ReportOutcome((*task)->Run(assignment_, &context));
}

int TaskChild::Fail(const absl::Status& status) {
  return ReportOutcome(status.ok() ? absl::InternalError("failed") : status);
}

int TaskChild::ReportOutcome(const absl::StatusOr<TaskMetrics>& result) {
  TaskProcessReport report;
  TaskProcessReport::Outcome* o = report.mutable_outcome();
  o->set_code(static_cast<int>(result.status().code()));
  if (result.ok()) {
    for (const auto& [k, v] : *result) (*o->mutable_metrics())[k] = v;
  } else {
    o->set_message(std::string(result.status().message()));
  }
  absl::Status s = Send(report);
  if (!s.ok()) {
    LOG(ERROR) << "could not report the task's outcome: " << s;
    return 1;
  }
  return 0;
}

}  // namespace strata
