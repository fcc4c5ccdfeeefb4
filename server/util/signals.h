// Clean shutdown on SIGINT/SIGTERM for daemons. Call
// InstallTerminationHandlers() first thing in main(); then either
// WaitForTerminationSignal() (blocks) or OnTerminationSignal(fn) (a detached
// thread waits and calls fn once). fn runs on that thread, not in a signal
// handler, so it may lock mutexes and call gRPC Shutdown.
//
// The handler only writes the signal number to a pipe (async-signal-safe),
// so it works whichever thread the kernel delivers the signal to -- also
// threads that libraries start before main() (OpenBLAS's pool), which a
// sigmask-and-sigwait design cannot cover.
#ifndef STRATA_SERVER_UTIL_SIGNALS_H_
#define STRATA_SERVER_UTIL_SIGNALS_H_

#include <functional>

namespace strata {

void InstallTerminationHandlers();
// Blocks until SIGINT or SIGTERM arrives; returns the signal number.
int WaitForTerminationSignal();
void OnTerminationSignal(std::function<void(int signal)> fn);

}  // namespace strata

#endif  // STRATA_SERVER_UTIL_SIGNALS_H_
