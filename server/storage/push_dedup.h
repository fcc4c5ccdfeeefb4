// At-most-once pushes: the request ids a shard has applied, per client, so
// that a push retried after a lost response is answered without being
// applied again (docs/protocol.md, "Request ids").
//
// A push carries a request id, (client id, sequence): the client id is a
// random 64-bit number per PsClient, the sequence counts that client's
// requests to this shard from 1. The shard remembers, per client, the
// highest sequence it has seen and which of the kPushWindow sequences ending
// there were applied (a bitmap), for at most max_clients clients (the least
// recently seen is forgotten first).
#ifndef STRATA_SERVER_STORAGE_PUSH_DEDUP_H_
#define STRATA_SERVER_STORAGE_PUSH_DEDUP_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"

namespace strata {

// Sequences remembered per client: a push older than the client's highest
// sequence less this is refused (its fate is unknown).
inline constexpr uint64_t kPushWindow = 4096;
inline constexpr size_t kPushWindowWords = kPushWindow / 64;
// The default most clients one shard remembers (ps_server
// --max_push_clients).
inline constexpr size_t kDefaultMaxPushClients = 4096;

// A push's request id. Plain value.
struct PushId {
  uint64_t client_id = 0;  // 0: the request carries no id (an older client)
  uint64_t sequence = 0;   // from 1, per client and shard
};

// One client's window as a checkpoint holds it. Plain value.
struct PushWindowState {
  uint64_t client_id = 0;
  uint64_t highest = 0;  // the highest sequence seen
  // Bit b of word w set: sequence highest - (64 w + b) was applied.
  std::vector<uint64_t> applied;
};

// Thread-safe. One per shard, owned by its TableStore. The lock is held only
// to look a request up and to record its outcome, never while a push is
// applied; a request whose id is being applied by another call waits for
// that call to finish.
class PushDedup {
 public:
  struct Options {
    // Most clients remembered. Each costs about 1.1 KiB. Past it the least
    // recently seen client is forgotten: a retry of its that arrives later
    // is applied again, as if it carried no id. More costs memory; fewer
    // forgets sooner.
    size_t max_clients = kDefaultMaxPushClients;
  };

  // What ApplyOnce did.
  enum class Outcome { kApplied, kDuplicate };

  struct Counters {
    uint64_t duplicates = 0;  // answered without applying
    uint64_t too_old = 0;     // refused ABORTED
    uint64_t forgotten = 0;   // clients dropped for max_clients
    size_t clients = 0;       // clients remembered now
  };

  explicit PushDedup(Options options);
  ~PushDedup();
  PushDedup(const PushDedup&) = delete;
  PushDedup& operator=(const PushDedup&) = delete;

  // Runs `apply` at most once per id, and records the id when it returns
  // OK. Without an id (client_id 0) it just runs `apply`. With one:
  // kDuplicate, without running it, when the id was applied; `apply`'s
  // error, unrecorded (a retry may apply it), when it fails. A call whose id
  // another call is applying waits for that call and then decides. ABORTED
  // for a sequence kPushWindow or more below the client's highest (it may
  // have been applied; nothing is done); INVALID_ARGUMENT for sequence 0
  // with a client id, or a sequence without one. `durable` false: the effect
  // of `apply` is not in a checkpoint of the tables (a BSP dense push, whose
  // pending step is not saved), so Snapshot leaves the id out.
  absl::StatusOr<Outcome> ApplyOnce(PushId id, bool durable,
                                    absl::FunctionRef<absl::Status()> apply);

  // The windows to checkpoint, most recently seen client first. Call it
  // after the tables are written: it first waits for the pushes being
  // applied when it is called, so every push whose effect (or part of it)
  // the written tables may hold is in the result. Pushes applied while the
  // tables were written are in it too, with or without their effect (see
  // docs/checkpoint.md, "Push windows"). Leaves out non-durable ids.
  std::vector<PushWindowState> Snapshot();

  // Replaces every window with `windows` (a checkpoint's; the first
  // max_clients of them). Calls being applied meanwhile record their ids in
  // the new windows.
  void Restore(absl::Span<const PushWindowState> windows);

  Counters counters() const;

 private:
  using Bits = std::array<uint64_t, kPushWindowWords>;
  struct Window;

  // The client's window, created (and the least recently seen unpinned one
  // forgotten past max_clients) if new; now the most recently seen.
  Window* Touch(uint64_t client_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Pins `w` and waits until no call applies `sequence` of it.
  void AwaitNotInFlight(Window* w, uint64_t sequence)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Reserves `sequence` of `w` for the caller, or says why not.
  absl::StatusOr<Outcome> Claim(Window* w, uint64_t sequence)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Finish(Window* w, uint64_t sequence, bool applied, bool durable)
      ABSL_LOCKS_EXCLUDED(mu_);
  void Forget(Window* w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  mutable absl::Mutex mu_;
  absl::CondVar finished_;  // signalled when a call that others wait on ends
  // By client id; pointers stay valid while a window is pinned.
  absl::flat_hash_map<uint64_t, std::unique_ptr<Window>> windows_
      ABSL_GUARDED_BY(mu_);
  // Most recently seen first.
  std::list<Window*> recency_ ABSL_GUARDED_BY(mu_);
  int waiters_ ABSL_GUARDED_BY(mu_) = 0;
  Counters counters_ ABSL_GUARDED_BY(mu_);
};

}  // namespace strata

#endif  // STRATA_SERVER_STORAGE_PUSH_DEDUP_H_
