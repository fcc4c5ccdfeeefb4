// Wall-clock timing for the statistics the library records (per-iteration
// and per-phase seconds). A monotonic clock, independent of the system time.
#ifndef STRATA_COMPRESSION_INTERNAL_TIMER_H_
#define STRATA_COMPRESSION_INTERNAL_TIMER_H_

#include <chrono>

namespace strata::compression::internal {

using Clock = std::chrono::steady_clock;

inline double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace strata::compression::internal

#endif  // STRATA_COMPRESSION_INTERNAL_TIMER_H_
