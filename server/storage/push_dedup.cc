#include "server/storage/push_dedup.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace strata {
namespace {

// Sequence s lives at bit s % kPushWindow of a window's ring bitmaps.
bool Test(const std::array<uint64_t, kPushWindowWords>& bits, uint64_t s) {
  return (bits[(s / 64) % kPushWindowWords] >> (s % 64)) & 1;
}
void Set(std::array<uint64_t, kPushWindowWords>& bits, uint64_t s, bool on) {
  uint64_t& word = bits[(s / 64) % kPushWindowWords];
  const uint64_t mask = uint64_t{1} << (s % 64);
  word = on ? (word | mask) : (word & ~mask);
}

}  // namespace

// One client's sequences. `applied` and `transient` are rings over the
// kPushWindow sequences ending at `highest`; a transient id is applied but
// left out of checkpoints.
struct PushDedup::Window {
  uint64_t client_id = 0;
  uint64_t highest = 0;
  Bits applied{};
  Bits transient{};
  // Sequences being applied, and calls waiting on one of them: a window
  // with either is pinned (never forgotten).
  absl::InlinedVector<uint64_t, 2> in_flight;
  int waiting = 0;
  std::list<Window*>::iterator recency;

  bool pinned() const { return !in_flight.empty() || waiting > 0; }
  bool InFlight(uint64_t s) const {
    return std::find(in_flight.begin(), in_flight.end(), s) != in_flight.end();
  }
  // Moves `highest` up to s, clearing the sequences it passes.
  void Advance(uint64_t s) {
    if (s - highest >= kPushWindow) {
      applied.fill(0);
      transient.fill(0);
    } else {
      for (uint64_t q = highest + 1; q <= s; ++q) {
        Set(applied, q, false);
        Set(transient, q, false);
      }
    }
    highest = s;
  }
  void Reset() {
    highest = 0;
    applied.fill(0);
    transient.fill(0);
  }
};

PushDedup::PushDedup(Options options) : options_(options) {}

PushDedup::~PushDedup() = default;

PushDedup::Window* PushDedup::Touch(uint64_t client_id) {
  auto it = windows_.find(client_id);
  if (it != windows_.end()) {
    Window* w = it->second.get();
    recency_.splice(recency_.begin(), recency_, w->recency);
    return w;
  }
  // Forget the least recently seen unpinned windows; pinned ones are used
  // by calls in progress, so those may exceed the bound for a while.
  while (windows_.size() >= options_.max_clients) {
    auto r = std::find_if(recency_.rbegin(), recency_.rend(),
                          [](const Window* w) { return !w->pinned(); });
    if (r == recency_.rend()) break;
    Forget(*r);
    ++counters_.forgotten;
  }
  auto w = std::make_unique<Window>();
  w->client_id = client_id;
  recency_.push_front(w.get());
  w->recency = recency_.begin();
  Window* raw = w.get();
  windows_.emplace(client_id, std::move(w));
  return raw;
}

void PushDedup::Forget(Window* w) {
  recency_.erase(w->recency);
  windows_.erase(w->client_id);
}

void PushDedup::AwaitNotInFlight(Window* w, uint64_t sequence) {
  if (!w->InFlight(sequence)) return;
  ++w->waiting;
  ++waiters_;
  while (w->InFlight(sequence)) finished_.Wait(&mu_);
  --waiters_;
  --w->waiting;
}

absl::StatusOr<PushDedup::Outcome> PushDedup::Claim(Window* w,
                                                    uint64_t sequence) {
  if (sequence + kPushWindow <= w->highest) {
    ++counters_.too_old;
    return absl::AbortedError(absl::StrCat(
        "push of client ", w->client_id, " with sequence ", sequence,
        " is older than the shard remembers (the client's last ", kPushWindow,
        " sequences, up to ", w->highest,
        "); it may have been applied, so it is refused"));
  }
  if (sequence <= w->highest && Test(w->applied, sequence)) {
    ++counters_.duplicates;
    return Outcome::kDuplicate;
  }
  if (sequence > w->highest) w->Advance(sequence);
  w->in_flight.push_back(sequence);
  return Outcome::kApplied;
}

void PushDedup::Finish(Window* w, uint64_t sequence, bool applied,
                       bool durable) {
  absl::MutexLock lock(&mu_);
  w->in_flight.erase(
      std::find(w->in_flight.begin(), w->in_flight.end(), sequence));
  // A Restore may have moved the window past the sequence meanwhile.
  if (applied && sequence <= w->highest &&
      sequence + kPushWindow > w->highest) {
    Set(w->applied, sequence, true);
    Set(w->transient, sequence, !durable);
  }
  if (waiters_ > 0) finished_.SignalAll();
}

absl::StatusOr<PushDedup::Outcome> PushDedup::ApplyOnce(
    PushId id, bool durable, absl::FunctionRef<absl::Status()> apply) {
  if (id.client_id == 0) {
    if (id.sequence != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "push request has sequence ", id.sequence, " but no client_id"));
    }
    absl::Status s = apply();
    if (!s.ok()) return s;
    return Outcome::kApplied;
  }
  if (id.sequence == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("push request of client ", id.client_id,
                     " has sequence 0; sequences start at 1"));
  }
  Window* w;
  {
    absl::MutexLock lock(&mu_);
    w = Touch(id.client_id);
    AwaitNotInFlight(w, id.sequence);
    absl::StatusOr<Outcome> claim = Claim(w, id.sequence);
    if (!claim.ok() || *claim == Outcome::kDuplicate) return claim;
  }
  // Pinned by the claim: `w` stays valid until Finish.
  const absl::Status s = apply();
  Finish(w, id.sequence, s.ok(), durable);
  if (!s.ok()) return s;
  return Outcome::kApplied;
}

std::vector<PushWindowState> PushDedup::Snapshot() {
  absl::MutexLock lock(&mu_);
  // The calls in progress now, their windows pinned while we wait.
  std::vector<std::pair<Window*, uint64_t>> pending;
  for (Window* w : recency_) {
    for (uint64_t s : w->in_flight) pending.emplace_back(w, s);
  }
  for (auto& [w, s] : pending) ++w->waiting;
  ++waiters_;
  for (auto& [w, s] : pending) {
    while (w->InFlight(s)) finished_.Wait(&mu_);
  }
  --waiters_;
  for (auto& [w, s] : pending) --w->waiting;
  std::vector<PushWindowState> out;
  out.reserve(windows_.size());
  for (const Window* w : recency_) {
    if (w->highest == 0) continue;
    PushWindowState state;
    state.client_id = w->client_id;
    state.highest = w->highest;
    state.applied.assign(kPushWindowWords, 0);
    for (uint64_t o = 0; o < kPushWindow && o < w->highest; ++o) {
      const uint64_t s = w->highest - o;
      if (Test(w->applied, s) && !Test(w->transient, s)) {
        state.applied[o / 64] |= uint64_t{1} << (o % 64);
      }
    }
    out.push_back(std::move(state));
  }
  return out;
}

void PushDedup::Restore(absl::Span<const PushWindowState> windows) {
  absl::MutexLock lock(&mu_);
  for (auto it = recency_.begin(); it != recency_.end();) {
    Window* w = *it++;
    if (w->pinned()) {
      w->Reset();
    } else {
      Forget(w);
    }
  }
  // Oldest first, so the first state ends up the most recently seen.
  const size_t n = std::min(windows.size(), options_.max_clients);
  for (size_t i = n; i-- > 0;) {
    const PushWindowState& state = windows[i];
    if (state.client_id == 0 || state.highest == 0) continue;
    Window* w = Touch(state.client_id);
    w->Reset();
    w->highest = state.highest;
    const uint64_t bits = std::min<uint64_t>(
        {kPushWindow, state.applied.size() * 64, state.highest});
    for (uint64_t o = 0; o < bits; ++o) {
      if ((state.applied[o / 64] >> (o % 64)) & 1) {
        Set(w->applied, state.highest - o, true);
      }
    }
  }
}

PushDedup::Counters PushDedup::counters() const {
  absl::MutexLock lock(&mu_);
  Counters c = counters_;
  c.clients = windows_.size();
  return c;
}

}  // namespace strata
