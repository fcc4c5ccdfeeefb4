// Certificates for tests over real mutual TLS: tools/certs.sh run in the
// test's temporary directory (a test target lists "//tools:certs.sh" in its
// data; openssl must be installed).
#ifndef STRATA_SERVER_SECURITY_TESTING_TEST_CERTS_H_
#define STRATA_SERVER_SECURITY_TESTING_TEST_CERTS_H_

#include <memory>
#include <string>

#include "grpcpp/grpcpp.h"
#include "server/security/credentials.h"

namespace strata {
namespace security {
namespace testing {

// tools/certs.sh in the test's runfiles.
std::string CertsScript();

// `args` run as `tools/certs.sh ARGS`, e.g. "cluster DIR --shards 1";
// false (and a logged error) when it fails.
bool RunCertsScript(const std::string& args);

// A fresh directory under the test's temporary directory: DIR/NAME
// (removed first if it exists).
std::string FreshCertDir(const std::string& name);

// certs.sh cluster in FreshCertDir(name) with `shards` shards and `users`
// ("alice:operator bob:admin"); the directory, or "" on failure.
std::string MakeCluster(const std::string& name, int shards,
                        const std::string& users);

// The files of certificate NAME in DIR (DIR/ca.crt, DIR/NAME.crt,
// DIR/NAME.key).
TlsOptions CertFiles(const std::string& dir, const std::string& name);

// Credentials::Create(CertFiles(dir, name)); CHECK-fails on an error (a
// broken test setup).
std::shared_ptr<const Credentials> CredentialsOf(const std::string& dir,
                                                 const std::string& name);

// A channel to `address` presenting certificate NAME of DIR.
std::shared_ptr<grpc::Channel> ChannelAs(const std::string& dir,
                                         const std::string& name,
                                         const std::string& address);

}  // namespace testing
}  // namespace security
}  // namespace strata

#endif  // STRATA_SERVER_SECURITY_TESTING_TEST_CERTS_H_
