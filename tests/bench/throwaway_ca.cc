#include "tests/bench/throwaway_ca.h"

#include <stdlib.h>
#include <unistd.h>

#include <cstdlib>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "proto/base/status_macros.h"
#include "server/security/testing/test_certs.h"

namespace strata {
namespace bench {
namespace {

// tools/certs.sh: `certs_sh` when set, else the first of the binary's
// runfiles (bazel run, bazel-bin/...) and the source tree that exists.
absl::StatusOr<std::string> FindCertsScript(const std::string& argv0,
                                            const std::string& certs_sh) {
  if (!certs_sh.empty()) return certs_sh;
  std::vector<std::string> candidates;
  for (const char* env : {"RUNFILES_DIR", "TEST_SRCDIR"}) {
    if (const char* r = std::getenv(env)) {
      candidates.push_back(absl::StrCat(r, "/strata/tools/certs.sh"));
    }
  }
  candidates.push_back(argv0 + ".runfiles/strata/tools/certs.sh");
  candidates.push_back("tools/certs.sh");
  for (const std::string& c : candidates) {
    if (access(c.c_str(), R_OK) == 0) return c;
  }
  return absl::NotFoundError(
      absl::StrCat("tools/certs.sh not found next to ", argv0,
                   " nor in the working directory; pass --certs_sh"));
}

}  // namespace

absl::StatusOr<std::unique_ptr<ThrowawayCa>> ThrowawayCa::Create(
    const std::string& argv0, int shards, const std::string& certs_sh) {
  STRATA_ASSIGN_OR_RETURN(const std::string script,
                          FindCertsScript(argv0, certs_sh));
  char tmpl[] = "/tmp/strata_bench_ca.XXXXXX";
  if (mkdtemp(tmpl) == nullptr) {
    return absl::InternalError("mkdtemp /tmp/strata_bench_ca.XXXXXX failed");
  }
  std::unique_ptr<ThrowawayCa> ca(new ThrowawayCa(tmpl));
  const std::string cmd =
      absl::StrCat("bash '", script, "' cluster '", ca->dir_, "' --shards ",
                   shards, " > /dev/null");
  if (std::system(cmd.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("failed: ", cmd));
  }
  return ca;
}

ThrowawayCa::~ThrowawayCa() {
  if (std::system(absl::StrCat("rm -rf '", dir_, "'").c_str()) != 0) {
    LOG(WARNING) << "could not remove " << dir_;
  }
}

security::TlsOptions ThrowawayCa::Files(const std::string& name) const {
  return security::testing::CertFiles(dir_, name);
}

std::shared_ptr<const security::Credentials> ThrowawayCa::Credentials(
    const std::string& name) const {
  return security::testing::CredentialsOf(dir_, name);
}

std::string ShardCert(int i) { return absl::StrCat("ps-", i); }

}  // namespace bench
}  // namespace strata
