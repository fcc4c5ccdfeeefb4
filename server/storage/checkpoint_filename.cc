#include "server/storage/checkpoint_filename.h"

#include <algorithm>
#include <map>
#include <set>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "proto/base/status_macros.h"

namespace strata {

std::string CheckpointDirName(uint64_t checkpoint_id) {
  return absl::StrFormat("ckpt-%020u", checkpoint_id);
}

std::string ShardFileName(uint32_t shard_id, uint32_t num_shards) {
  return absl::StrFormat("shard-%05u-of-%05u.ckpt", shard_id, num_shards);
}

namespace {

bool ParseCheckpointDirName(absl::string_view name, uint64_t* id) {
  if (!absl::ConsumePrefix(&name, "ckpt-") || name.size() != 20) return false;
  for (char ch : name) {
    if (ch < '0' || ch > '9') return false;
  }
  return absl::SimpleAtoi(name, id);
}

// The complete file set of checkpoint `id` in `ckpt_dir`.
absl::StatusOr<CheckpointFiles> CompleteSet(Env* env,
                                            const std::string& ckpt_dir,
                                            uint64_t id) {
  STRATA_ASSIGN_OR_RETURN(const std::vector<std::string> names,
                          env->GetChildren(ckpt_dir));
  std::map<uint32_t, std::set<uint32_t>> shards_by_count;
  for (const std::string& name : names) {
    uint32_t shard, count;
    if (ParseShardFileName(name, &shard, &count)) {
      shards_by_count[count].insert(shard);
    }
  }
  std::vector<uint32_t> complete;
  uint32_t best = 0;  // the shard count with the most files, for the error
  size_t best_files = 0;
  for (const auto& [count, shards] : shards_by_count) {
    if (shards.size() == count) complete.push_back(count);
    if (shards.size() > best_files) {
      best = count;
      best_files = shards.size();
    }
  }
  if (complete.size() > 1) {
    return absl::FailedPreconditionError(absl::StrCat(
        "checkpoint ", id, " in ", ckpt_dir, " is complete for ", complete[0],
        " and ", complete[1], " shards; remove one set"));
  }
  if (complete.empty()) {
    std::string missing = "no shard files";
    if (best > 0) {
      uint32_t i = 0;
      while (shards_by_count[best].count(i) > 0) ++i;
      missing = absl::StrCat("missing ", ShardFileName(i, best));
    }
    return absl::NotFoundError(absl::StrCat("checkpoint ", id, " in ", ckpt_dir,
                                            " is incomplete: ", missing));
  }
  CheckpointFiles files;
  files.checkpoint_id = id;
  files.num_shards = complete[0];
  files.dir = ckpt_dir;
  for (uint32_t i = 0; i < files.num_shards; ++i) {
    files.paths.push_back(
        JoinPath(ckpt_dir, ShardFileName(i, files.num_shards)));
  }
  return files;
}

}  // namespace

bool ParseShardFileName(absl::string_view name, uint32_t* shard,
                        uint32_t* num_shards) {
  absl::string_view rest = name;
  if (!absl::ConsumePrefix(&rest, "shard-") ||
      !absl::ConsumeSuffix(&rest, ".ckpt")) {
    return false;
  }
  const size_t of = rest.find("-of-");
  if (of == absl::string_view::npos) return false;
  if (!absl::SimpleAtoi(rest.substr(0, of), shard) ||
      !absl::SimpleAtoi(rest.substr(of + 4), num_shards)) {
    return false;
  }
  // Only canonical names count (no signs, spaces or odd padding).
  return *shard < *num_shards && name == ShardFileName(*shard, *num_shards);
}

absl::StatusOr<std::vector<CheckpointEntry>> ListCheckpoints(
    Env* env, const std::string& dir) {
  STRATA_ASSIGN_OR_RETURN(const std::vector<std::string> names,
                          env->GetChildren(dir));
  std::vector<uint64_t> ids;
  for (const std::string& name : names) {
    uint64_t id;
    if (ParseCheckpointDirName(name, &id)) ids.push_back(id);
  }
  std::sort(ids.rbegin(), ids.rend());
  std::vector<CheckpointEntry> entries;
  entries.reserve(ids.size());
  for (uint64_t id : ids) {
    entries.push_back(
        {id, CompleteSet(env, JoinPath(dir, CheckpointDirName(id)), id)});
  }
  return entries;
}

absl::StatusOr<CheckpointFiles> FindCheckpoint(Env* env, const std::string& dir,
                                               uint64_t checkpoint_id) {
  if (checkpoint_id != 0) {
    const std::string ckpt_dir =
        JoinPath(dir, CheckpointDirName(checkpoint_id));
    if (absl::Status s = env->FileExists(ckpt_dir); !s.ok()) {
      if (!absl::IsNotFound(s)) return s;
      return absl::NotFoundError(
          absl::StrCat("checkpoint ", checkpoint_id, " not found in ", dir));
    }
    return CompleteSet(env, ckpt_dir, checkpoint_id);
  }
  absl::StatusOr<std::vector<CheckpointEntry>> entries =
      ListCheckpoints(env, dir);
  if (!entries.ok()) {
    if (absl::IsNotFound(entries.status())) {
      return absl::NotFoundError(absl::StrCat(
          "no complete checkpoint in ", dir, ": ", entries.status().message()));
    }
    return entries.status();
  }
  for (CheckpointEntry& e : *entries) {
    if (!absl::IsNotFound(e.files.status())) return std::move(e.files);
  }
  return absl::NotFoundError(absl::StrCat("no complete checkpoint in ", dir));
}

}  // namespace strata
