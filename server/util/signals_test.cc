#include "server/util/signals.h"

#include <signal.h>

#include <atomic>
#include <thread>

#include "gtest/gtest.h"

namespace strata {
namespace {

TEST(SignalsTest, SigtermFromAnotherThreadReachesTheWaiterInsteadOfKilling) {
  InstallTerminationHandlers();
  std::atomic<int> got{0};
  OnTerminationSignal([&](int sig) { got = sig; });
  // Raised on a thread with no special mask, like a library's worker thread.
  std::thread([] { raise(SIGTERM); }).join();
  for (int i = 0; i < 200 && got == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(got.load(), SIGTERM);
}

}  // namespace
}  // namespace strata
