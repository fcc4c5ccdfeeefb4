#include "server/security/authorizer.h"

#include <grpcpp/security/auth_context.h>
#include <grpcpp/security/auth_metadata_processor.h>

#include <memory>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "server/security/identity.h"
#include "server/security/policy.h"

namespace strata {
namespace security {
namespace {

class Enforcer final : public grpc::AuthMetadataProcessor {
 public:
  bool IsBlocking() const override { return false; }
  grpc::Status Process(const InputMetadata& metadata,
                       grpc::AuthContext* context, OutputMetadata*,
                       OutputMetadata*) override {
    const auto path = metadata.find(":path");
    const absl::string_view method =
        path == metadata.end()
            ? absl::string_view()
            : absl::string_view(path->second.data(), path->second.size());
    const absl::Status s = Authorize(method, *context);
    if (s.ok()) return grpc::Status::OK;
    return grpc::Status(static_cast<grpc::StatusCode>(s.code()),
                        std::string(s.message()));
  }
};

}  // namespace

absl::Status Authorize(absl::string_view method,
                       const grpc::AuthContext& auth) {
  const MethodPolicy* policy = FindPolicy(method);
  if (policy == nullptr) {
    return absl::PermissionDeniedError(
        absl::StrCat("no rule allows calling '",
                     absl::CHexEscape(method.substr(0, 200)), "'"));
  }
  if (policy->callers == MethodPolicy::Callers::kAnyone) {
    return absl::OkStatus();
  }
  absl::StatusOr<Identity> id = PeerIdentity(auth);
  if (!id.ok()) {
    return absl::UnauthenticatedError(absl::StrCat(
        method, " needs a Strata client certificate: ", id.status().message()));
  }
  if (Allowed(method, id->role)) return absl::OkStatus();
  return absl::PermissionDeniedError(absl::StrCat(IdentityUri(*id), " (role ",
                                                  RoleName(id->role),
                                                  ") may not call ", method));
}

std::shared_ptr<grpc::AuthMetadataProcessor> PolicyEnforcer() {
  return std::make_shared<Enforcer>();
}

}  // namespace security
}  // namespace strata
