// Wall-clock timing for the statistics the library records (per-iteration
// and per-phase seconds). A monotonic clock, independent of the system time.
#ifndef STRATA_COMPRESSION_INTERNAL_TIMER_H_
#define STRATA_COMPRESSION_INTERNAL_TIMER_H_

#include <chrono>

namespace strata::compression::internal {

// Named apart from strata::Clock (server/util/clock.h), the injectable
// wall clock of the services: this one is never faked.
using SteadyClock = std::chrono::steady_clock;

inline double SecondsSince(SteadyClock::time_point start) {
  return std::chrono::duration<double>(SteadyClock::now() - start).count();
}

}  // namespace strata::compression::internal

#endif  // STRATA_COMPRESSION_INTERNAL_TIMER_H_
