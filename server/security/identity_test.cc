#include "server/security/identity.h"

#include <grpc/grpc_security_constants.h>
#include <grpcpp/security/auth_context.h>

#include <map>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace strata {
namespace security {
namespace {

TEST(IdentityTest, UrisRoundTripForEveryRole) {
  for (Role role : AllRoles()) {
    const Identity id{role, "ps-0"};
    absl::StatusOr<Identity> back = ParseIdentityUri(IdentityUri(id));
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(*back, id);
    EXPECT_EQ(*ParseRole(RoleName(role)), role);
  }
  EXPECT_EQ(IdentityUri({Role::kAdmin, "alice"}),
            "spiffe://strata/admin/alice");
}

TEST(IdentityTest, AnythingElseIsInvalidArgument) {
  for (const char* uri : {
           "",
           "spiffe://other/admin/alice",
           "https://strata/admin/alice",
           "spiffe://strata/admin",
           "spiffe://strata/admin/",
           "spiffe://strata/root/alice",
           "spiffe://strata/admin/alice/extra",
           "spiffe://strata/admin/al ice",
           "spiffe://strata/admin/"
           "a123456789012345678901234567890123456789012345678901234567890123",
       }) {
    EXPECT_EQ(ParseIdentityUri(uri).status().code(),
              absl::StatusCode::kInvalidArgument)
        << uri;
  }
  EXPECT_EQ(ParseRole("Admin").status().code(),
            absl::StatusCode::kInvalidArgument);
}

// An AuthContext with the given properties (what gRPC hands a server for
// a call); `authenticated` as after verifying a certificate.
class FakeAuthContext final : public grpc::AuthContext {
 public:
  FakeAuthContext(std::multimap<std::string, std::string> props,
                  bool authenticated)
      : props_(std::move(props)), authenticated_(authenticated) {}
  bool IsPeerAuthenticated() const override { return authenticated_; }
  std::vector<grpc::string_ref> GetPeerIdentity() const override {
    return {};
  }
  std::string GetPeerIdentityPropertyName() const override { return ""; }
  std::vector<grpc::string_ref> FindPropertyValues(
      const std::string& name) const override {
    std::vector<grpc::string_ref> out;
    auto [begin, end] = props_.equal_range(name);
    for (auto it = begin; it != end; ++it) out.emplace_back(it->second);
    return out;
  }
  grpc::AuthPropertyIterator begin() const override { return Iter(); }
  grpc::AuthPropertyIterator end() const override { return Iter(); }
  void AddProperty(const std::string& key,
                   const grpc::string_ref& value) override {
    props_.emplace(key, std::string(value.data(), value.size()));
  }
  bool SetPeerIdentityPropertyName(const std::string&) override {
    return false;
  }

 private:
  struct Iter : grpc::AuthPropertyIterator {};
  std::multimap<std::string, std::string> props_;
  bool authenticated_;
};

FakeAuthContext Tls(std::vector<std::string> uris, bool authenticated) {
  std::multimap<std::string, std::string> props = {
      {GRPC_TRANSPORT_SECURITY_TYPE_PROPERTY_NAME,
       GRPC_SSL_TRANSPORT_SECURITY_TYPE}};
  for (std::string& u : uris) {
    props.emplace(GRPC_PEER_URI_PROPERTY_NAME, std::move(u));
  }
  return FakeAuthContext(std::move(props), authenticated);
}

TEST(CallerIdentityTest, PlaintextCallsHaveNoIdentityAndNoError) {
  absl::StatusOr<std::optional<Identity>> none = CallerIdentity(nullptr);
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_FALSE(none->has_value());
  const FakeAuthContext insecure(
      {{GRPC_TRANSPORT_SECURITY_TYPE_PROPERTY_NAME, "insecure"}}, false);
  absl::StatusOr<std::optional<Identity>> plain = CallerIdentity(&insecure);
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_FALSE(plain->has_value());
  EXPECT_EQ(CallerUri(*plain), "");
}

TEST(CallerIdentityTest, ATlsCallerIsItsCertificatesIdentity) {
  const FakeAuthContext alice =
      Tls({"spiffe://strata/operator/alice", "https://example.com"}, true);
  absl::StatusOr<std::optional<Identity>> id = CallerIdentity(&alice);
  ASSERT_TRUE(id.ok()) << id.status();
  ASSERT_TRUE(id->has_value());
  EXPECT_EQ(**id, (Identity{Role::kOperator, "alice"}));
  EXPECT_EQ(CallerUri(*id), "spiffe://strata/operator/alice");
}

TEST(CallerIdentityTest, ATlsCallerWithoutAnIdentityIsUnauthenticated) {
  const FakeAuthContext anonymous = Tls({}, false);
  EXPECT_EQ(CallerIdentity(&anonymous).status().code(),
            absl::StatusCode::kUnauthenticated);
  const FakeAuthContext no_uri = Tls({}, true);
  EXPECT_EQ(CallerIdentity(&no_uri).status().code(),
            absl::StatusCode::kUnauthenticated);
  const FakeAuthContext two = Tls(
      {"spiffe://strata/admin/a", "spiffe://strata/admin/b"}, true);
  EXPECT_EQ(CallerIdentity(&two).status().code(),
            absl::StatusCode::kUnauthenticated);
  const FakeAuthContext bad = Tls({"spiffe://strata/root/x"}, true);
  EXPECT_EQ(CallerIdentity(&bad).status().code(),
            absl::StatusCode::kUnauthenticated);
}

}  // namespace
}  // namespace security
}  // namespace strata
