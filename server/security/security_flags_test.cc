#include "server/security/security_flags.h"

#include <cstdlib>
#include <string>

#include "absl/flags/declare.h"
#include "absl/flags/flag.h"
#include "gtest/gtest.h"

ABSL_DECLARE_FLAG(std::string, tls_ca);
ABSL_DECLARE_FLAG(std::string, tls_cert);
ABSL_DECLARE_FLAG(std::string, tls_key);

namespace strata {
namespace security {
namespace {

TEST(SecurityFlagsTest, FlagsWinAndEmptyFlagsFallBackToTheEnvironment) {
  setenv("STRATA_TLS_CA", "/env/ca.crt", 1);
  setenv("STRATA_TLS_CERT", "/env/me.crt", 1);
  unsetenv("STRATA_TLS_KEY");
  absl::SetFlag(&FLAGS_tls_ca, "/flag/ca.crt");
  const TlsOptions o = TlsOptionsFromFlags();
  EXPECT_EQ(o.ca_file, "/flag/ca.crt");
  EXPECT_EQ(o.cert_file, "/env/me.crt");
  EXPECT_EQ(o.key_file, "");
  EXPECT_FALSE(o.insecure);
  EXPECT_EQ(o.refresh_interval, absl::Seconds(60));
}

}  // namespace
}  // namespace security
}  // namespace strata
