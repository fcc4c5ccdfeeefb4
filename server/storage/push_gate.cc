#include "server/storage/push_gate.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace strata {

PushGate::Pass::~Pass() {
  if (gate_ == nullptr) return;
  absl::MutexLock lock(&gate_->mu_);
  --gate_->in_flight_;
}

absl::StatusOr<PushGate::Pass> PushGate::Enter(absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  // A Resume or a renewed lease changes closed_until_; waking at the
  // current lease's end re-reads it.
  while (ClosedLocked()) {
    const absl::Time until = closed_until_;
    const auto changed = [this, until]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
      return closed_until_ != until;
    };
    if (mu_.AwaitWithDeadline(absl::Condition(&changed),
                              std::min(until, deadline))) {
      continue;
    }
    if (absl::Now() >= deadline && ClosedLocked()) {
      return absl::UnavailableError(
          "the shard holds pushes for a consistent checkpoint; retry");
    }
  }
  ++in_flight_;
  return Pass(this);
}

absl::StatusOr<int> PushGate::Pause(absl::Duration lease) {
  if (lease <= absl::ZeroDuration() || lease > kMaxPushPauseLease) {
    return absl::InvalidArgumentError(absl::StrCat(
        "push pause lease ", absl::FormatDuration(lease), " is outside (0, ",
        absl::FormatDuration(kMaxPushPauseLease), "]"));
  }
  absl::MutexLock lock(&mu_);
  const absl::Time until = absl::Now() + lease;
  closed_until_ = until;
  const int before = in_flight_;
  const auto drained = [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    return in_flight_ == 0;
  };
  if (!mu_.AwaitWithDeadline(absl::Condition(&drained), until)) {
    return absl::DeadlineExceededError(
        absl::StrCat(in_flight_, " pushes still in flight after ",
                     absl::FormatDuration(lease)));
  }
  return before;
}

void PushGate::Resume() {
  absl::MutexLock lock(&mu_);
  closed_until_ = absl::InfinitePast();
}

bool PushGate::paused() const {
  absl::MutexLock lock(&mu_);
  return ClosedLocked();
}

int PushGate::in_flight() const {
  absl::MutexLock lock(&mu_);
  return in_flight_;
}

}  // namespace strata
