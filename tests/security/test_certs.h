// Certificates for the security tests of this package, made by
// tools/certs.sh (data: //tools:certs.sh) and openssl under $TEST_TMPDIR:
// a cluster CA with one certificate per role and one without a Strata
// identity, and a second CA with an admin certificate.
#ifndef STRATA_TESTS_SECURITY_TEST_CERTS_H_
#define STRATA_TESTS_SECURITY_TEST_CERTS_H_

#include <memory>
#include <string>

#include "server/security/credentials.h"

namespace grpc {
class ChannelCredentials;
}  // namespace grpc

namespace strata {

// Runs `command` with bash (its stdout discarded); a test failure when it
// fails.
void RunShell(const std::string& command);

// tools/certs.sh in the test's runfiles.
std::string CertsScript();

// The files of one set. A plain value type; the files live until the test's
// temporary directory goes.
struct TestCerts {
  // dir: a cluster CA (ca.crt) and, signed by it, coordinator, ps-0 (shard),
  // worker, alice (admin), olga (operator), rita (reader) and nobody (no
  // spiffe://strata URI). other_dir: another CA and mallory (admin).
  std::string dir;
  std::string other_dir;

  // Makes a fresh set under $TEST_TMPDIR/<name>.
  static TestCerts Make(const std::string& name = "certs");

  // The --tls_* options of `name` in `set_dir` (its CA, .crt, .key).
  static security::TlsOptions Files(const std::string& set_dir,
                                    const std::string& name);
  // A process's credentials with `name`'s certificate of `dir`.
  std::shared_ptr<const security::Credentials> Process(
      const std::string& name) const;
  // Client credentials presenting `name`'s certificate of `set_dir`.
  static std::shared_ptr<grpc::ChannelCredentials> Channel(
      const std::string& set_dir, const std::string& name);
  // Client credentials that verify the server against `dir`'s CA but
  // present no certificate.
  std::shared_ptr<grpc::ChannelCredentials> Anonymous() const;
};

}  // namespace strata

#endif  // STRATA_TESTS_SECURITY_TEST_CERTS_H_
