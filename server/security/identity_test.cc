#include "server/security/identity.h"

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

}  // namespace
}  // namespace security
}  // namespace strata
