// The authorization policy: which role may call which RPC of every Strata
// service (docs/security.md prints this table). The one place the rule
// lives: every server enforces it before a call reaches a service
// (authorizer.h), and the services' finer checks (a node acts only for
// itself, an operator cancels only its own jobs) build on the identity it
// admits. Plain C++ (no gRPC).
#ifndef STRATA_SERVER_SECURITY_POLICY_H_
#define STRATA_SERVER_SECURITY_POLICY_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "server/security/identity.h"

namespace strata {
namespace security {

// Who may call one RPC. A plain value type.
struct MethodPolicy {
  // gRPC's full method name: "/strata.AdminService/DropTable".
  absl::string_view method;
  enum class Callers {
    kRoles,          // only callers whose identity has one of `roles`
    kAuthenticated,  // any caller with a verified Strata certificate
    kAnyone,         // no certificate needed (health checks)
  };
  Callers callers = Callers::kRoles;
  std::vector<Role> roles;
};

// Every RPC a Strata daemon serves, with its callers, in service order.
// An RPC not listed is refused to everyone (PERMISSION_DENIED).
const std::vector<MethodPolicy>& PolicyTable();

// The rule of `method` (a full method name), or nullptr when none.
const MethodPolicy* FindPolicy(absl::string_view method);

// True when `role` may call `method` by the table.
bool Allowed(absl::string_view method, Role role);

// The table as Markdown: one row per RPC, one column per role.
std::string PolicyMarkdown();

}  // namespace security
}  // namespace strata

#endif  // STRATA_SERVER_SECURITY_POLICY_H_
