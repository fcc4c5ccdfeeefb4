// Clock seam. Library code that waits, times out or timestamps takes a
// Clock* so tests can drive time by hand (FakeClock) instead of sleeping.
#ifndef STRATA_SERVER_UTIL_CLOCK_H_
#define STRATA_SERVER_UTIL_CLOCK_H_

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace strata {

// Thread-safe. Implementations are owned by whoever creates them; RealClock()
// returns a process-wide singleton that is never destroyed.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;
};

// The system clock (absl::Now()).
Clock* RealClock();

// A manually advanced clock for tests. Thread-safe.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(absl::Time start = absl::UnixEpoch() + absl::Hours(1))
      : now_(start) {}
  absl::Time Now() const override {
    absl::MutexLock lock(&mu_);
    return now_;
  }
  void Advance(absl::Duration d) {
    absl::MutexLock lock(&mu_);
    now_ += d;
  }

 private:
  mutable absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
};

}  // namespace strata

#endif  // STRATA_SERVER_UTIL_CLOCK_H_
