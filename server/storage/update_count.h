// How many updates a shard applied, kept across a process kill, so that a
// restarted shard can say how many updates the checkpoint it loaded lacks
// (docs/failures.md, "Shard restart").
#ifndef STRATA_SERVER_STORAGE_UPDATE_COUNT_H_
#define STRATA_SERVER_STORAGE_UPDATE_COUNT_H_

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "server/util/env.h"

namespace strata {

// Cuts (checkpoint id, count) the count file remembers, newest last. More
// than retention keeps (--keep_checkpoints + 2), so every checkpoint a
// restart may load has its cut.
inline constexpr size_t kMaxUpdateCuts = 64;

// The name of shard `shard_id` of `num_shards`'s count file in its
// --data_dir ("updates-shard-<i>-of-<N>.txt"; shards may share the
// directory).
std::string UpdateCountFileName(uint32_t shard_id, uint32_t num_shards);

// The running count of updates a shard applied (a sparse push counts its
// rows, a dense push 1), the count at each checkpoint's cut, and the file
// that keeps both. The file is text, rewritten whole by Persist as
// <path>.tmp then renamed over <path>, without fsync: a killed process
// loses nothing the kernel holds; a machine crash may lose the last writes.
//
//   strata-update-count 1
//   applied <n>
//   cut <checkpoint id> <n>     (one line per cut, oldest first)
//
// At start-up, after the checkpoint load, Recover reads the file: the
// updates lost are its count less the loaded checkpoint's cut, accurate to
// the updates applied since the last Persist (the persist interval).
//
// Thread-safe: Add is lock-free; the rest serialise on a mutex. The env is
// not owned and must outlive this.
class UpdateCount {
 public:
  // `path` empty: nothing is read or written (no --data_dir).
  UpdateCount(Env* env, std::string path) : env_(env), path_(std::move(path)) {}

  void Add(uint64_t n) { applied_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t applied() const { return applied_.load(std::memory_order_relaxed); }
  // Remembers `count` (applied() when the checkpoint's cut was taken) as
  // checkpoint `checkpoint_id`'s cut, dropping the oldest beyond
  // kMaxUpdateCuts.
  void RecordCut(uint64_t checkpoint_id, uint64_t count);

  // Start-up, after loading checkpoint `loaded` (nullopt: the shard starts
  // empty). Reads the file; the updates lost are its count less the
  // loaded checkpoint's cut (all of it when none was loaded). Unknown
  // (nullopt) without a file or when the file has no cut for `loaded`.
  // The count restarts from that cut (0 when none was loaded), so a later
  // restart does not count these losses again; the file's cuts are kept.
  // DATA_LOSS for a file that does not parse; the env's read error.
  absl::StatusOr<std::optional<uint64_t>> Recover(
      std::optional<uint64_t> loaded);

  // What the last Recover found (nullopt: unknown or not called).
  std::optional<uint64_t> lost_at_start() const;

  // Writes the file when the count or cuts changed since the last write.
  // The env's error with the path.
  absl::Status Persist();

 private:
  Env* const env_;
  const std::string path_;
  std::atomic<uint64_t> applied_{0};
  mutable absl::Mutex mu_;
  std::vector<std::pair<uint64_t, uint64_t>> cuts_ ABSL_GUARDED_BY(mu_);
  uint64_t cuts_version_ ABSL_GUARDED_BY(mu_) = 0;  // + 1 per change
  std::optional<uint64_t> lost_at_start_ ABSL_GUARDED_BY(mu_);
  // What the file holds: the count and cuts_version_ of the last write.
  std::optional<std::pair<uint64_t, uint64_t>> written_ ABSL_GUARDED_BY(mu_);
  // Serialises Persist (a slow write does not block RecordCut).
  absl::Mutex io_mu_ ABSL_ACQUIRED_BEFORE(mu_);
};

}  // namespace strata

#endif  // STRATA_SERVER_STORAGE_UPDATE_COUNT_H_
