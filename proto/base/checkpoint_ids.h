// The rule for checkpoint ids a client chooses, shared by job specs
// (ctr_train.checkpoint_id) and the shards (AdminService.Checkpoint).
//
// Checkpoint ids order checkpoints: a restarted shard loads the newest
// (largest) one, and ids picked by the cluster are Unix milliseconds. An id
// from the future would therefore be "newest" until that time and pin every
// restart to it (2^64-1: forever). The coordinator hands out cluster ids
// (stratactl checkpoint, periodic checkpoints); any other caller may name an
// id of its own only if it does not lie in the future.
#ifndef STRATA_PROTO_BASE_CHECKPOINT_IDS_H_
#define STRATA_PROTO_BASE_CHECKPOINT_IDS_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace strata {

// How far past `now` a chosen id may lie: clock skew between the machine
// that chose it (a worker) and the shard that checks it.
inline constexpr int64_t kCheckpointIdSkewMs = 60 * 1000;

// OK for 0 (the receiver picks the id) and for ids up to Unix ms of `now`
// plus kCheckpointIdSkewMs; INVALID_ARGUMENT naming `field` and the bound
// otherwise.
absl::Status CheckChosenCheckpointId(absl::string_view field, uint64_t id,
                                     absl::Time now);

}  // namespace strata

#endif  // STRATA_PROTO_BASE_CHECKPOINT_IDS_H_
