#include "tests/security/test_certs.h"

#include <grpcpp/security/credentials.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>

#include <cstdlib>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace strata {

void RunShell(const std::string& command) {
  const std::string line = absl::StrCat("bash -c '", command, "' > /dev/null");
  EXPECT_EQ(std::system(line.c_str()), 0) << command;
}

std::string CertsScript() {
  const char* r = std::getenv("TEST_SRCDIR");
  return absl::StrCat(r != nullptr ? r : "..", "/strata/tools/certs.sh");
}

TestCerts TestCerts::Make(const std::string& name) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  TestCerts c;
  c.dir = absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/", name);
  c.other_dir = c.dir + "-other-ca";
  const std::string script = CertsScript();
  RunShell(absl::StrCat("rm -rf ", c.dir, " ", c.other_dir));
  RunShell(absl::StrCat(
      "bash ", script, " cluster ", c.dir,
      " --shards 1 --users \"alice:admin olga:operator rita:reader\""));
  RunShell(absl::StrCat("bash ", script, " ca ", c.other_dir, " && bash ",
                        script, " issue ", c.other_dir, " admin mallory"));
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
  security::TlsOptions o;
  o.ca_file = set_dir + "/ca.crt";
  o.cert_file = set_dir + "/" + name + ".crt";
  o.key_file = set_dir + "/" + name + ".key";
  return o;
}

std::shared_ptr<const security::Credentials> TestCerts::Process(
    const std::string& name) const {
  absl::StatusOr<std::shared_ptr<const security::Credentials>> c =
      security::Credentials::Create(Files(dir, name));
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *c : nullptr;
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
