#include "server/security/testing/test_certs.h"

#include <cstdlib>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "glog/logging.h"

namespace strata {
namespace security {
namespace testing {
namespace {

std::string TmpDir() {
  const char* t = std::getenv("TEST_TMPDIR");
  return t != nullptr ? t : "/tmp";
}

}  // namespace

std::string CertsScript() {
  const char* r = std::getenv("TEST_SRCDIR");
  return absl::StrCat(r != nullptr ? r : "..", "/strata/tools/certs.sh");
}

bool RunCertsScript(const std::string& args) {
  const std::string cmd =
      absl::StrCat("bash ", CertsScript(), " ", args, " > /dev/null");
  if (std::system(cmd.c_str()) == 0) return true;
  LOG(ERROR) << "failed: " << cmd;
  return false;
}

std::string FreshCertDir(const std::string& name) {
  const std::string dir = absl::StrCat(TmpDir(), "/", name);
  const std::string rm = absl::StrCat("rm -rf '", dir, "'");
  CHECK_EQ(std::system(rm.c_str()), 0) << rm;
  return dir;
}

std::string MakeCluster(const std::string& name, int shards,
                        const std::string& users) {
  const std::string dir = FreshCertDir(name);
  if (!RunCertsScript(absl::StrCat("cluster ", dir, " --shards ", shards,
                                   " --users '", users, "'"))) {
    return "";
  }
  return dir;
}

TlsOptions CertFiles(const std::string& dir, const std::string& name) {
  TlsOptions o;
  o.ca_file = dir + "/ca.crt";
  o.cert_file = dir + "/" + name + ".crt";
  o.key_file = dir + "/" + name + ".key";
  return o;
}

std::shared_ptr<const Credentials> CredentialsOf(const std::string& dir,
                                                 const std::string& name) {
  absl::StatusOr<std::shared_ptr<const Credentials>> c =
      Credentials::Create(CertFiles(dir, name));
  CHECK(c.ok()) << c.status();
  return *std::move(c);
}

std::shared_ptr<grpc::Channel> ChannelAs(const std::string& dir,
                                         const std::string& name,
                                         const std::string& address) {
  return grpc::CreateChannel(address,
                             ChannelCredentialsOf(CredentialsOf(dir, name)));
}

}  // namespace testing
}  // namespace security
}  // namespace strata
