#include "server/storage/checkpoint_retention.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "glog/logging.h"
#include "proto/base/status_macros.h"
#include "server/storage/checkpoint_filename.h"

namespace strata {
namespace {

// Whether `name` (a shard file or its .tmp) is one `options`' shard deletes.
bool Answers(absl::string_view name, const RetentionOptions& options) {
  absl::ConsumeSuffix(&name, ".tmp");
  uint32_t shard, count;
  if (!ParseShardFileName(name, &shard, &count)) return false;
  if (count == options.num_shards) return shard == options.shard_id;
  return shard % options.num_shards == options.shard_id;
}

// Deletes this shard's files of one checkpoint directory, then the directory
// if that left it empty. Returns how many files went and the first error.
absl::StatusOr<int> PruneOne(Env* env, const std::string& ckpt_dir,
                             const RetentionOptions& options) {
  STRATA_ASSIGN_OR_RETURN(const std::vector<std::string> names,
                          env->GetChildren(ckpt_dir));
  int deleted = 0;
  absl::Status first;
  for (const std::string& name : names) {
    if (!Answers(name, options)) continue;
    const absl::Status s = env->DeleteFile(JoinPath(ckpt_dir, name));
    if (s.ok()) ++deleted;
    if (!s.ok() && first.ok()) first = s;
  }
  STRATA_RETURN_IF_ERROR(first);
  absl::StatusOr<std::vector<std::string>> left = env->GetChildren(ckpt_dir);
  if (left.ok() && left->empty()) {
    // Another shard may remove it at the same time: not an error.
    env->DeleteDir(ckpt_dir).IgnoreError();
  }
  return deleted;
}

}  // namespace

absl::StatusOr<std::vector<uint64_t>> PruneCheckpoints(
    Env* env, const std::string& dir, const RetentionOptions& options,
    const absl::flat_hash_set<uint64_t>& protect) {
  std::vector<uint64_t> pruned;
  if (options.keep == 0) return pruned;
  STRATA_ASSIGN_OR_RETURN(const std::vector<CheckpointEntry> entries,
                          ListCheckpoints(env, dir));
  uint32_t complete = 0;
  size_t cut = entries.size();  // entries[cut..] are older than the kept ones
  for (size_t i = 0; i < entries.size() && cut == entries.size(); ++i) {
    if (entries[i].files.ok() && ++complete == options.keep) cut = i + 1;
  }
  absl::Status first;
  for (size_t i = entries.size(); i > cut; --i) {
    const uint64_t id = entries[i - 1].checkpoint_id;
    if (protect.contains(id)) continue;
    absl::StatusOr<int> deleted =
        PruneOne(env, JoinPath(dir, CheckpointDirName(id)), options);
    if (!deleted.ok() && first.ok()) first = deleted.status();
    if (deleted.ok() && *deleted > 0) pruned.push_back(id);
  }
  STRATA_RETURN_IF_ERROR(first);
  return pruned;
}

void CheckpointLedger::RecordLoaded(uint64_t checkpoint_id) {
  absl::MutexLock lock(&mu_);
  counters_.loaded_checkpoint_id = checkpoint_id;
}

void CheckpointLedger::RecordUnloadable(uint64_t checkpoint_id) {
  absl::MutexLock lock(&mu_);
  unloadable_.insert(checkpoint_id);
  ++counters_.load_fallbacks;
}

absl::Status CheckpointLedger::CheckWritable(uint64_t checkpoint_id) const {
  absl::MutexLock lock(&mu_);
  if (!unloadable_.contains(checkpoint_id)) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "checkpoint ", checkpoint_id,
      " could not be loaded and is kept for inspection; this shard does not "
      "overwrite it: use another checkpoint id"));
}

absl::StatusOr<std::vector<uint64_t>> CheckpointLedger::Prune(
    Env* env, const std::string& dir, uint64_t written) {
  absl::flat_hash_set<uint64_t> protect;
  {
    absl::MutexLock lock(&mu_);
    protect = unloadable_;
    protect.insert(counters_.loaded_checkpoint_id);
  }
  protect.insert(written);
  absl::StatusOr<std::vector<uint64_t>> pruned =
      PruneCheckpoints(env, dir, options_, protect);
  absl::MutexLock lock(&mu_);
  if (!pruned.ok()) {
    ++counters_.prune_errors;
    LOG(WARNING) << "checkpoint retention (--keep_checkpoints=" << options_.keep
                 << ") in " << dir << " failed: " << pruned.status();
    return pruned;
  }
  counters_.pruned += pruned->size();
  if (!pruned->empty()) {
    LOG(INFO) << "checkpoint retention (--keep_checkpoints=" << options_.keep
              << "): deleted shard " << options_.shard_id
              << "'s files of checkpoints " << absl::StrJoin(*pruned, ", ")
              << " in " << dir;
  }
  return pruned;
}

CheckpointLedger::Counters CheckpointLedger::counters() const {
  absl::MutexLock lock(&mu_);
  return counters_;
}

}  // namespace strata
