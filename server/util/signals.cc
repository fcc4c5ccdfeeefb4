#include "server/util/signals.h"

#include <pthread.h>
#include <signal.h>

#include <thread>

#include "glog/logging.h"

namespace strata {
namespace {
sigset_t TerminationSet() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}
}  // namespace

void BlockTerminationSignals() {
  sigset_t set = TerminationSet();
  CHECK_EQ(pthread_sigmask(SIG_BLOCK, &set, nullptr), 0);
}

int WaitForTerminationSignal() {
  sigset_t set = TerminationSet();
  int sig = 0;
  while (sigwait(&set, &sig) != 0) {
  }
  LOG(INFO) << "received signal " << sig << ", shutting down";
  return sig;
}

void OnTerminationSignal(std::function<void(int)> fn) {
  std::thread([fn = std::move(fn)] { fn(WaitForTerminationSignal()); })
      .detach();
}

}  // namespace strata
