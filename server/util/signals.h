// Clean shutdown on SIGINT/SIGTERM for daemons. Call
// BlockTerminationSignals() first thing in main(), before any thread starts
// (threads inherit the mask), then OnTerminationSignal(fn): a detached
// thread sigwait()s and calls fn once. fn runs on that thread, not in a
// signal handler, so it may lock mutexes and call gRPC Shutdown.
#ifndef STRATA_SERVER_UTIL_SIGNALS_H_
#define STRATA_SERVER_UTIL_SIGNALS_H_

#include <functional>

namespace strata {

void BlockTerminationSignals();
void OnTerminationSignal(std::function<void(int signal)> fn);
// Blocks the calling thread until SIGINT or SIGTERM; returns the signal.
int WaitForTerminationSignal();

}  // namespace strata

#endif  // STRATA_SERVER_UTIL_SIGNALS_H_
