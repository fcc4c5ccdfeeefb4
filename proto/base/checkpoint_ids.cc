#include "proto/base/checkpoint_ids.h"

#include "absl/strings/str_cat.h"

namespace strata {

absl::Status CheckChosenCheckpointId(absl::string_view field, uint64_t id,
                                     absl::Time now) {
  const int64_t now_ms = absl::ToUnixMillis(now);
  const uint64_t bound =
      now_ms < 0 ? kCheckpointIdSkewMs
                 : static_cast<uint64_t>(now_ms) + kCheckpointIdSkewMs;
  if (id <= bound) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      field, " ", id,
      " lies in the future: checkpoint ids are Unix milliseconds, and the "
      "newest checkpoint is the one restarts load; choose one no later than ",
      bound, " (now + ", kCheckpointIdSkewMs / 1000,
      " s), or 0, or take cluster checkpoints with stratactl checkpoint"));
}

}  // namespace strata
