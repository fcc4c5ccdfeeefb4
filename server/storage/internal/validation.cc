#include "server/storage/internal/validation.h"

#include <cmath>

#include "absl/strings/str_cat.h"

namespace strata {
namespace internal {

absl::Status CheckFinite(absl::Span<const float> v, absl::string_view what) {
  for (size_t i = 0; i < v.size(); ++i) {
    if (!std::isfinite(v[i])) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " ", i, " is not finite (", v[i], ")"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckBatchSize(size_t n, size_t max_keys,
                            absl::string_view table) {
  if (n == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("empty batch for table ", table));
  }
  if (n > max_keys) {
    return absl::InvalidArgumentError(absl::StrCat(
        "batch of ", n, " keys for table ", table, " exceeds the limit of ",
        max_keys));
  }
  return absl::OkStatus();
}

absl::Status CheckOwner(uint64_t key, const ShardRouter* router,
                        uint32_t shard_id, absl::string_view table) {
  if (router == nullptr) return absl::OkStatus();
  const uint32_t owner = router->ShardForKey(key);
  if (owner != shard_id) {
    return absl::FailedPreconditionError(
        absl::StrCat("key ", key, " belongs to shard ", owner, ", not shard ",
                     shard_id, " (table ", table, ")"));
  }
  return absl::OkStatus();
}

absl::Status CheckGradients(absl::Span<const float> grads, size_t n,
                            uint32_t dim, absl::string_view table) {
  if (grads.size() != n * dim) {
    return absl::InvalidArgumentError(
        absl::StrCat("table ", table, ": got ", grads.size(),
                     " gradient floats for ", n, " keys of dim ", dim,
                     " (expected ", n * dim, ")"));
  }
  if (absl::Status s = CheckFinite(grads, "gradient"); !s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("table ", table, ": ", s.message()));
  }
  return absl::OkStatus();
}

}  // namespace internal
}  // namespace strata
