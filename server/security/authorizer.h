// Enforces the policy table (policy.h) on every call of a TLS server,
// before the call reaches its service: gRPC hands each call's method and
// the caller's verified certificate to an AuthMetadataProcessor. (gRPC's
// own authorization-policy engine is not in Debian's gRPC 1.51: its
// policy providers are not built; see docs/security.md.)
#ifndef STRATA_SERVER_SECURITY_AUTHORIZER_H_
#define STRATA_SERVER_SECURITY_AUTHORIZER_H_

#include <memory>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace grpc {
class AuthContext;
class AuthMetadataProcessor;
}  // namespace grpc

namespace strata {
namespace security {

// The decision for one call of `method` (gRPC's full method name) by the
// peer of `auth`: OK; UNAUTHENTICATED when the method needs a certificate
// and the caller has none (or one without a Strata identity);
// PERMISSION_DENIED naming the caller, its role and the method when the
// role may not call it, or the method has no rule.
absl::Status Authorize(absl::string_view method, const grpc::AuthContext& auth);

// A processor applying Authorize to every call (non-blocking: it runs on
// gRPC's thread, a table lookup). Thread-safe, stateless.
std::shared_ptr<grpc::AuthMetadataProcessor> PolicyEnforcer();

}  // namespace security
}  // namespace strata

#endif  // STRATA_SERVER_SECURITY_AUTHORIZER_H_
