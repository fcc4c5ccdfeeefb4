// Secrets handed out by the coordinator: the per-job secret of every task
// assignment and the per-node secret bound to a node id. Plain helpers of
// the coordinator package.
#ifndef STRATA_SERVER_COORDINATOR_INTERNAL_SECRET_H_
#define STRATA_SERVER_COORDINATOR_INTERNAL_SECRET_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace strata {
namespace coordinator_internal {

// Bytes of every secret (128 bits).
inline constexpr size_t kSecretBytes = 16;

// kSecretBytes from the kernel's CSPRNG (getrandom). UNAVAILABLE when the
// kernel refuses. Never log the result.
absl::StatusOr<std::string> NewSecret();

// Whether `given` equals `want`, in time independent of where they differ;
// false when `want` is empty or the sizes differ.
bool SecretMatches(absl::string_view want, absl::string_view given);

}  // namespace coordinator_internal
}  // namespace strata

#endif  // STRATA_SERVER_COORDINATOR_INTERNAL_SECRET_H_
