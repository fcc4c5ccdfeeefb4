#include "server/util/signals.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <thread>

#include "glog/logging.h"

namespace strata {
namespace {

int pipe_fds[2] = {-1, -1};

void OnSignal(int sig) {
  const int saved = errno;
  const unsigned char b = static_cast<unsigned char>(sig);
  // A full pipe means a shutdown is already pending: dropping is fine.
  ssize_t ignored = write(pipe_fds[1], &b, 1);
  (void)ignored;
  errno = saved;
}

}  // namespace

void InstallTerminationHandlers() {
  CHECK_EQ(pipe_fds[0], -1) << "InstallTerminationHandlers called twice";
  PCHECK(pipe2(pipe_fds, O_CLOEXEC) == 0);
  PCHECK(fcntl(pipe_fds[1], F_SETFL, O_NONBLOCK) == 0);
  struct sigaction action = {};
  action.sa_handler = OnSignal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  PCHECK(sigaction(SIGINT, &action, nullptr) == 0);
  PCHECK(sigaction(SIGTERM, &action, nullptr) == 0);
}

int WaitForTerminationSignal() {
  CHECK_NE(pipe_fds[0], -1) << "call InstallTerminationHandlers first";
  unsigned char b = 0;
  while (true) {
    const ssize_t n = read(pipe_fds[0], &b, 1);
    if (n == 1) break;
    if (n < 0 && errno == EINTR) continue;
    PLOG(FATAL) << "reading the signal pipe";
  }
  LOG(INFO) << "received signal " << static_cast<int>(b) << ", shutting down";
  return b;
}

void OnTerminationSignal(std::function<void(int)> fn) {
  std::thread([fn = std::move(fn)] { fn(WaitForTerminationSignal()); })
      .detach();
}

}  // namespace strata
