#include "server/security/identity.h"

#include <grpc/grpc_security_constants.h>
#include <grpcpp/security/auth_context.h>
#include <grpcpp/server_context.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "proto/base/names.h"

namespace strata {
namespace security {
namespace {

constexpr size_t kMaxIdentityNameBytes = 63;

struct RoleEntry {
  Role role;
  absl::string_view name;
};
constexpr RoleEntry kRoles[] = {
    {Role::kAdmin, "admin"},   {Role::kOperator, "operator"},
    {Role::kReader, "reader"}, {Role::kCoordinator, "coordinator"},
    {Role::kShard, "shard"},   {Role::kWorker, "worker"},
};

}  // namespace

const std::vector<Role>& AllRoles() {
  static const auto* roles = [] {
    auto* v = new std::vector<Role>;
    for (const RoleEntry& e : kRoles) v->push_back(e.role);
    return v;
  }();
  return *roles;
}

absl::string_view RoleName(Role role) {
  for (const RoleEntry& e : kRoles) {
    if (e.role == role) return e.name;
  }
  return "unknown";
}

absl::StatusOr<Role> ParseRole(absl::string_view name) {
  for (const RoleEntry& e : kRoles) {
    if (e.name == name) return e.role;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown role '", absl::CHexEscape(name),
                   "' (admin, operator, reader, coordinator, shard, worker)"));
}

std::string IdentityUri(const Identity& identity) {
  return absl::StrCat(kIdentityUriPrefix, RoleName(identity.role), "/",
                      identity.name);
}

absl::StatusOr<Identity> ParseIdentityUri(absl::string_view uri) {
  if (!absl::ConsumePrefix(&uri, kIdentityUriPrefix)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "not a Strata identity (", kIdentityUriPrefix, "<role>/<name>)"));
  }
  const std::vector<absl::string_view> parts = absl::StrSplit(uri, '/');
  if (parts.size() != 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("a Strata identity is ", kIdentityUriPrefix,
                     "<role>/<name>, got ", parts.size(), " path parts"));
  }
  Identity id;
  absl::StatusOr<Role> role = ParseRole(parts[0]);
  if (!role.ok()) return role.status();
  id.role = *role;
  // parts[1] holds no '/' (split above).
  if (absl::Status s =
          CheckName("identity name", parts[1], kMaxIdentityNameBytes);
      !s.ok()) {
    return s;
  }
  id.name = std::string(parts[1]);
  return id;
}

absl::StatusOr<Identity> PeerIdentity(const grpc::AuthContext& auth) {
  if (!auth.IsPeerAuthenticated()) {
    return absl::UnauthenticatedError("the caller presented no certificate");
  }
  std::vector<std::string> uris;
  for (const grpc::string_ref& v :
       auth.FindPropertyValues(GRPC_PEER_URI_PROPERTY_NAME)) {
    const absl::string_view s(v.data(), v.size());
    if (absl::StartsWith(s, kIdentityUriPrefix)) uris.emplace_back(s);
  }
  if (uris.size() != 1) {
    return absl::UnauthenticatedError(absl::StrCat(
        "the caller's certificate must name exactly one ", kIdentityUriPrefix,
        "<role>/<name> URI; it has ", uris.size()));
  }
  absl::StatusOr<Identity> id = ParseIdentityUri(uris[0]);
  if (!id.ok()) return absl::UnauthenticatedError(id.status().message());
  return id;
}

absl::StatusOr<std::optional<Identity>> CallerIdentity(
    const grpc::AuthContext* auth) {
  if (auth == nullptr) return std::nullopt;
  const std::vector<grpc::string_ref> type =
      auth->FindPropertyValues(GRPC_TRANSPORT_SECURITY_TYPE_PROPERTY_NAME);
  const bool tls = std::any_of(type.begin(), type.end(), [](auto v) {
    const absl::string_view s(v.data(), v.size());
    return s == GRPC_SSL_TRANSPORT_SECURITY_TYPE ||
           s == GRPC_TLS_TRANSPORT_SECURITY_TYPE;
  });
  if (!tls) return std::nullopt;
  absl::StatusOr<Identity> id = PeerIdentity(*auth);
  if (!id.ok()) return id.status();
  return std::optional<Identity>(*std::move(id));
}

absl::StatusOr<std::optional<Identity>> CallerIdentity(
    const grpc::ServerContext& context) {
  const std::shared_ptr<const grpc::AuthContext> auth =
      context.auth_context();
  return CallerIdentity(auth.get());
}

std::string CallerUri(const std::optional<Identity>& caller) {
  return caller.has_value() ? IdentityUri(*caller) : std::string();
}

}  // namespace security
}  // namespace strata
