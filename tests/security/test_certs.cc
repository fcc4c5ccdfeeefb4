#include "tests/security/test_certs.h"

#include <grpcpp/security/credentials.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>

#include <cstdlib>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "server/security/testing/test_certs.h"

namespace strata {

void RunShell(const std::string& command) {
  const std::string line = absl::StrCat("bash -c '", command, "' > /dev/null");
  EXPECT_EQ(std::system(line.c_str()), 0) << command;
}

std::string CertsScript() { return security::testing::CertsScript(); }

TestCerts TestCerts::Make(const std::string& name) {
  TestCerts c;
  c.dir = security::testing::MakeCluster(
      name, 1, "alice:admin olga:operator rita:reader");
  EXPECT_FALSE(c.dir.empty());
  c.other_dir = security::testing::FreshCertDir(name + "-other-ca");
  EXPECT_TRUE(security::testing::RunCertsScript("ca " + c.other_dir));
  EXPECT_TRUE(security::testing::RunCertsScript(
      absl::StrCat("issue ", c.other_dir, " admin mallory")));
  // Signed by the cluster CA, but naming no spiffe://strata identity.
  const std::string d = c.dir;
  RunShell(absl::StrCat(
      "set -e; umask 077; openssl req -new -newkey ec -pkeyopt "
      "ec_paramgen_curve:P-256 -nodes -keyout ",
      d, "/nobody.key -out ", d,
      "/nobody.csr -subj /O=Strata/CN=nobody 2>/dev/null; "
      "printf \"subjectAltName=DNS:localhost\\nextendedKeyUsage=clientAuth\\n\""
      " > ",
      d, "/nobody.ext; openssl x509 -req -in ", d, "/nobody.csr -CA ", d,
      "/ca.crt -CAkey ", d, "/ca.key -CAcreateserial -days 1 -out ", d,
      "/nobody.crt -extfile ", d, "/nobody.ext 2>/dev/null"));
  return c;
}

security::TlsOptions TestCerts::Files(const std::string& set_dir,
                                      const std::string& name) {
  return security::testing::CertFiles(set_dir, name);
}

std::shared_ptr<const security::Credentials> TestCerts::Process(
    const std::string& name) const {
  return security::testing::CredentialsOf(dir, name);
}

std::shared_ptr<grpc::ChannelCredentials> TestCerts::Channel(
    const std::string& set_dir, const std::string& name) {
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> c =
      security::ChannelCredentials(Files(set_dir, name));
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *c : nullptr;
}

std::shared_ptr<grpc::ChannelCredentials> TestCerts::Anonymous() const {
  grpc::experimental::TlsChannelCredentialsOptions o;
  o.set_certificate_provider(
      std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
          dir + "/ca.crt", 1));
  o.watch_root_certs();
  return grpc::experimental::TlsCredentials(o);
}

}  // namespace strata
