#include "server/coordinator/internal/secret.h"

#include <sys/random.h>

#include <cerrno>

#include "absl/status/status.h"

namespace strata {
namespace coordinator_internal {

absl::StatusOr<std::string> NewSecret() {
  std::string secret(kSecretBytes, '\0');
  size_t got = 0;
  while (got < secret.size()) {
    const ssize_t n = getrandom(secret.data() + got, secret.size() - got, 0);
    if (n < 0 && errno != EINTR) {
      return absl::UnavailableError("getrandom failed: no secret");
    }
    if (n > 0) got += n;
  }
  return secret;
}

bool SecretMatches(absl::string_view want, absl::string_view given) {
  if (want.empty() || want.size() != given.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    diff |= static_cast<unsigned char>(want[i] ^ given[i]);
  }
  return diff == 0;
}

}  // namespace coordinator_internal
}  // namespace strata
