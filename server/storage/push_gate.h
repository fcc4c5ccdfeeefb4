// Lets a shard hold its pushes while a consistent checkpoint is cut across
// shards (AdminService.PausePushes, PsAdminClient::ConsistentCheckpoint).
#ifndef STRATA_SERVER_STORAGE_PUSH_GATE_H_
#define STRATA_SERVER_STORAGE_PUSH_GATE_H_

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace strata {

// Longest pause one PausePushes may ask for. A caller that dies while the
// shard is paused freezes its pushes for at most this long.
inline constexpr absl::Duration kMaxPushPauseLease = absl::Seconds(60);

// Every push passes the gate (Enter) and holds a Pass while it is applied.
// Pause closes the gate until Resume or the lease's end, and waits for the
// pushes already past it; held pushes go on when the gate opens. A lease
// renewed by another Pause extends the pause.
//
// Thread-safe. Plain object; the store owns one.
class PushGate {
 public:
  // A push in flight, from Enter until destroyed. Movable.
  class Pass {
   public:
    Pass(Pass&& other) : gate_(other.gate_) { other.gate_ = nullptr; }
    Pass& operator=(Pass&&) = delete;
    Pass(const Pass&) = delete;
    ~Pass();

   private:
    friend class PushGate;
    explicit Pass(PushGate* gate) : gate_(gate) {}
    PushGate* gate_;
  };

  // Waits while the gate is closed, then counts the push in flight.
  // UNAVAILABLE (the client retries) if it is still closed at `deadline`.
  absl::StatusOr<Pass> Enter(absl::Time deadline);

  // Closes the gate for `lease` (from now) and waits until the pushes in
  // flight are done; returns how many were in flight when it was called.
  // INVALID_ARGUMENT for a lease outside (0, kMaxPushPauseLease];
  // DEADLINE_EXCEEDED (the gate stays closed) if they are not done within
  // the lease.
  absl::StatusOr<int> Pause(absl::Duration lease);
  // Opens the gate.
  void Resume();

  bool paused() const;
  int in_flight() const;

 private:
  bool ClosedLocked() const ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return absl::Now() < closed_until_;
  }

  mutable absl::Mutex mu_;
  absl::Time closed_until_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace strata

#endif  // STRATA_SERVER_STORAGE_PUSH_GATE_H_
