// Who is calling: the identity a Strata certificate carries, and its role
// (docs/security.md). A certificate names its holder with one URI subject
// alternative name, spiffe://strata/<role>/<name> (tools/certs.sh issues
// them; cert-manager can too, with uris:), e.g.
// spiffe://strata/shard/ps-0 or spiffe://strata/admin/alice.
#ifndef STRATA_SERVER_SECURITY_IDENTITY_H_
#define STRATA_SERVER_SECURITY_IDENTITY_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace grpc {
class AuthContext;
class ServerContext;
}  // namespace grpc

namespace strata {
namespace security {

// What a caller may do (the policy table, policy.h, says which RPCs each
// role may call). Humans are admin, operator or reader; daemons are
// coordinator, shard or worker (FC nodes are workers).
enum class Role {
  kAdmin,
  kOperator,
  kReader,
  kCoordinator,
  kShard,
  kWorker,
};

// Every role, in enum order.
const std::vector<Role>& AllRoles();
// "admin", "operator", ... as in identity URIs.
absl::string_view RoleName(Role role);
// INVALID_ARGUMENT for a name that is no role.
absl::StatusOr<Role> ParseRole(absl::string_view name);

// A caller. A plain value type.
struct Identity {
  Role role = Role::kReader;
  // The holder's name: a user, a shard ("ps-0"), a worker. A name of
  // proto/base/names.h, at most 63 bytes, without '/'.
  std::string name;
  friend bool operator==(const Identity& a, const Identity& b) {
    return a.role == b.role && a.name == b.name;
  }
};

inline constexpr absl::string_view kIdentityUriPrefix = "spiffe://strata/";

// spiffe://strata/<role>/<name>.
std::string IdentityUri(const Identity& identity);
// The inverse of IdentityUri; INVALID_ARGUMENT naming what is wrong for
// anything else.
absl::StatusOr<Identity> ParseIdentityUri(absl::string_view uri);

// The identity of a verified peer: its certificate's one strata URI SAN.
// UNAUTHENTICATED when the connection carries no verified certificate, or
// the certificate has no strata URI or more than one.
absl::StatusOr<Identity> PeerIdentity(const grpc::AuthContext& auth);

// The caller of a server call, for the checks bound to identities (a node
// acts only for itself, a job's owner, who may pick a checkpoint id):
// nullopt when the call came over plaintext (no TLS peer: no identities,
// so such checks are skipped, as for tests and in-process servers); the
// identity of its verified certificate over TLS; UNAUTHENTICATED (as
// PeerIdentity) over TLS without one. Services learn callers only here.
absl::StatusOr<std::optional<Identity>> CallerIdentity(
    const grpc::AuthContext* auth);
absl::StatusOr<std::optional<Identity>> CallerIdentity(
    const grpc::ServerContext& context);

// IdentityUri of the caller, or "" for nullopt (plaintext): what records
// (a node's registrant, a job's owner) keep.
std::string CallerUri(const std::optional<Identity>& caller);

}  // namespace security
}  // namespace strata

#endif  // STRATA_SERVER_SECURITY_IDENTITY_H_
