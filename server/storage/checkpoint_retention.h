// Retention of old checkpoints, and the checkpoints a shard must not touch
// (docs/checkpoint.md, "Retention" and "Falling back at start-up").
#ifndef STRATA_SERVER_STORAGE_CHECKPOINT_RETENTION_H_
#define STRATA_SERVER_STORAGE_CHECKPOINT_RETENTION_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "server/util/env.h"

namespace strata {

// Complete checkpoints kept by default (ps_server --keep_checkpoints).
inline constexpr uint32_t kDefaultKeepCheckpoints = 5;

struct RetentionOptions {
  // The newest complete checkpoints kept; 0 keeps everything.
  uint32_t keep = kDefaultKeepCheckpoints;
  // The shard that prunes, and the shard count it writes under.
  uint32_t shard_id = 0;
  uint32_t num_shards = 1;
};

// Deletes, in every checkpoint of `dir` older than the `keep`-th newest
// complete one and not in `protect`, the files this shard answers for:
//  - its own shard-<shard_id>-of-<num_shards>.ckpt (and a leftover .tmp);
//  - files written under another shard count M (before a resharding) whose
//    shard index j has j % num_shards == shard_id, so that each such file
//    has exactly one deleter among the current shards;
// then the checkpoint's directory once it is empty (best effort: the other
// shards may not have pruned their files yet). Newer checkpoints, complete
// or not (one may be being written), are never touched, so the `keep`
// newest complete ones stay complete. Nothing happens when keep is 0 or
// fewer than `keep` checkpoints are complete.
// Returns the ids it deleted files from, oldest first. Keeps going past a
// failed deletion, then returns the first error; the env's error if `dir`
// cannot be listed. Thread-safe as far as `env` is.
absl::StatusOr<std::vector<uint64_t>> PruneCheckpoints(
    Env* env, const std::string& dir, const RetentionOptions& options,
    const absl::flat_hash_set<uint64_t>& protect);

// What one shard's store knows about the checkpoints of its directory: the
// one it loaded last (known to load), those it found unloadable (kept for
// the operator: never overwritten nor deleted by this process), and counts
// for /metrics. Thread-safe; the lock is not held during file operations.
class CheckpointLedger {
 public:
  struct Counters {
    uint64_t loaded_checkpoint_id = 0;  // 0: nothing loaded
    uint64_t load_fallbacks = 0;        // checkpoints skipped as unloadable
    uint64_t pruned = 0;        // checkpoints this shard deleted files of
    uint64_t prune_errors = 0;  // retention passes that failed
  };

  explicit CheckpointLedger(const RetentionOptions& options)
      : options_(options) {}

  void RecordLoaded(uint64_t checkpoint_id);
  // Counts a fallback and protects the checkpoint.
  void RecordUnloadable(uint64_t checkpoint_id);
  // FAILED_PRECONDITION when checkpoint_id was recorded unloadable.
  absl::Status CheckWritable(uint64_t checkpoint_id) const;
  // PruneCheckpoints protecting the loaded and the unloadable checkpoints
  // and `written` (0: none), the one the shard has just written, which an
  // id older than the kept ones must not lose to its own retention pass;
  // logs what it deleted (INFO) or why it failed (WARNING) and counts it.
  absl::StatusOr<std::vector<uint64_t>> Prune(Env* env, const std::string& dir,
                                              uint64_t written = 0);
  Counters counters() const;

 private:
  const RetentionOptions options_;
  mutable absl::Mutex mu_;
  absl::flat_hash_set<uint64_t> unloadable_ ABSL_GUARDED_BY(mu_);
  Counters counters_ ABSL_GUARDED_BY(mu_);
};

}  // namespace strata

#endif  // STRATA_SERVER_STORAGE_CHECKPOINT_RETENTION_H_
