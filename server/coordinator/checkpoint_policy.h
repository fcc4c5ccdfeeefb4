// Periodic checkpoints as a cluster policy: the coordinator takes a
// consistent checkpoint of the parameter-server shards every
// --checkpoint_every_s (PsAdminClient::ConsistentCheckpoint: pushes paused
// on every shard, one id, pushes resumed); the shards keep the newest
// --keep_checkpoints of them (docs/checkpoint.md, "Retention"). It also
// takes the checkpoints an admin asks for (ClusterAdminService.Checkpoint):
// the cluster, not the client, picks every checkpoint id.
#ifndef STRATA_SERVER_COORDINATOR_CHECKPOINT_POLICY_H_
#define STRATA_SERVER_COORDINATOR_CHECKPOINT_POLICY_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "proto/ps.pb.h"
#include "server/security/credentials.h"
#include "server/util/clock.h"

namespace strata {

// Decides when to checkpoint and does it through a Checkpointer. A failed
// checkpoint (shards incomplete or down, a shard without --data_dir) is
// logged and counted; the next one is due an interval later.
//
// Ids: each checkpoint's id is max(the clock's Unix ms, the last id + 1),
// so ids only grow, and with an IdRecorder (the coordinator's state store)
// each is recorded before it is used, so a restarted coordinator (Restore)
// never hands one out again, even if its clock went back.
//
// Thread-safe. Owns its thread (when started); does not own the clock,
// which must outlive it.
class CheckpointPolicy {
 public:
  struct Options {
    // Between checkpoints (coordinator --checkpoint_every_s). Zero: off.
    // Shorter loses less training to a shard restart, at the cost of the
    // disk traffic of a full checkpoint and a pause of every push while the
    // shards write.
    absl::Duration every = absl::ZeroDuration();
    // Deadline of each admin RPC to a shard (a checkpoint's is 10 times
    // that; PsAdminClientOptions).
    absl::Duration rpc_timeout = absl::Seconds(30);
    // Run MaybeCheckpoint on a background thread (when `every` > 0). Tests
    // turn it off and call MaybeCheckpoint with a fake clock.
    bool background_thread = true;
  };
  // What a checkpoint wrote: the shards' addresses and answers, by shard id.
  struct Written {
    uint64_t checkpoint_id = 0;
    std::vector<std::string> addresses;
    std::vector<CheckpointResponse> shards;
  };
  // Writes one consistent checkpoint with this id on every shard (the
  // first shard error when one fails).
  using Checkpointer =
      std::function<absl::StatusOr<Written>(uint64_t checkpoint_id)>;
  // Records an id durably before it is used; an error refuses the
  // checkpoint.
  using IdRecorder = std::function<absl::Status(uint64_t checkpoint_id)>;
  // The current shard addresses by shard id (NodeRegistry::PsAddresses).
  using ShardAddresses =
      std::function<absl::StatusOr<std::vector<std::string>>()>;

  // The Checkpointer of a cluster: ConsistentCheckpoint over `shards`.
  // `credentials`: of the channels to the shards; null: plaintext.
  static Checkpointer ConsistentCheckpointer(
      ShardAddresses shards, absl::Duration rpc_timeout,
      std::shared_ptr<const security::Credentials> credentials = nullptr);

  // The first checkpoint is due `every` after construction. `record` may
  // be null (ids in memory only).
  CheckpointPolicy(Options options, Clock* clock, Checkpointer checkpointer,
                   IdRecorder record = nullptr);
  // Stops the thread (waits for a checkpoint in progress).
  ~CheckpointPolicy();
  CheckpointPolicy(const CheckpointPolicy&) = delete;
  CheckpointPolicy& operator=(const CheckpointPolicy&) = delete;

  // The last id an earlier coordinator recorded: later ids are above it.
  void Restore(uint64_t last_id);

  // When a checkpoint is due, takes it (CheckpointNow) and returns its
  // status; nullopt when none is due or the policy is off.
  std::optional<absl::Status> MaybeCheckpoint();

  // Takes a checkpoint now under the next id (serialised with the periodic
  // ones; on or off). The recorder's and the checkpointer's errors.
  absl::StatusOr<Written> CheckpointNow();

  struct Counters {
    uint64_t written = 0;
    uint64_t failed = 0;
    uint64_t last_written_id = 0;  // 0: none yet
  };
  Counters counters() const;

 private:
  void Loop();
  absl::StatusOr<Written> CheckpointLocked(absl::string_view what)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(run_mu_);

  const Options options_;
  Clock* const clock_;
  const Checkpointer checkpointer_;
  const IdRecorder record_;
  mutable absl::Mutex mu_;
  uint64_t last_id_ ABSL_GUARDED_BY(mu_) = 0;  // the last id handed out
  absl::Time next_due_ ABSL_GUARDED_BY(mu_);
  Counters counters_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  // Serialises checkpoints (the thread and direct callers).
  absl::Mutex run_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  std::thread thread_;
};

}  // namespace strata

#endif  // STRATA_SERVER_COORDINATOR_CHECKPOINT_POLICY_H_
