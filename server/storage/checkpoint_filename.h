// Checkpoint file naming and discovery (the format of one file is in
// checkpoint_format.h).
//
// Layout on disk:
//   <dir>/ckpt-<checkpoint id, 20 digits>/shard-<i, 5 digits>-of-<N, 5
//   digits>.ckpt
// A checkpoint id is complete when shard-i-of-N exists for every i in [0, N).
// The writer (checkpoint_writer.h) writes "<file>.tmp" and renames it into
// place after an fsync, so a crash never leaves a truncated file under its
// final name; leftover .tmp files are ignored here.
#ifndef STRATA_SERVER_STORAGE_CHECKPOINT_FILENAME_H_
#define STRATA_SERVER_STORAGE_CHECKPOINT_FILENAME_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/util/env.h"

namespace strata {

// "ckpt-00000000000000000042".
std::string CheckpointDirName(uint64_t checkpoint_id);
// "shard-00001-of-00003.ckpt".
std::string ShardFileName(uint32_t shard_id, uint32_t num_shards);

// The files of one complete checkpoint.
struct CheckpointFiles {
  uint64_t checkpoint_id = 0;
  uint32_t num_shards = 0;
  std::string dir;                 // <dir>/ckpt-<id>
  std::vector<std::string> paths;  // paths[i] is shard i's file
};

// One ckpt-<id> directory of a checkpoint directory: its files when the id
// is complete, else why it cannot be used: NOT_FOUND when incomplete (naming
// a missing file), FAILED_PRECONDITION when ambiguous (as FindCheckpoint), or
// the env's error.
struct CheckpointEntry {
  uint64_t checkpoint_id = 0;
  absl::StatusOr<CheckpointFiles> files;
};

// Every checkpoint id in `dir` (canonical ckpt-<id> names only), newest
// first, complete or not. The env's error (NOT_FOUND when `dir` does not
// exist) if `dir` cannot be listed. Thread-safe as far as `env` is.
absl::StatusOr<std::vector<CheckpointEntry>> ListCheckpoints(
    Env* env, const std::string& dir);

// Parses a canonical shard file name ("shard-00001-of-00003.ckpt").
bool ParseShardFileName(absl::string_view name, uint32_t* shard_id,
                        uint32_t* num_shards);

// Finds complete checkpoint `checkpoint_id` in `dir`, or the complete one with
// the largest id when checkpoint_id is 0. NOT_FOUND when there is none (or
// `dir` does not exist, or the requested id is incomplete, naming a missing
// file); FAILED_PRECONDITION when one id has complete sets for two different
// shard counts (ambiguous; an operator must remove one). Thread-safe as far
// as `env` is.
absl::StatusOr<CheckpointFiles> FindCheckpoint(Env* env, const std::string& dir,
                                               uint64_t checkpoint_id);

}  // namespace strata

#endif  // STRATA_SERVER_STORAGE_CHECKPOINT_FILENAME_H_
