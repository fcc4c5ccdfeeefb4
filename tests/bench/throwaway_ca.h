// A throwaway cluster CA for benchmarks that measure mutual TLS
// (docs/benchmarks.md, "Cost of mutual TLS"): the certificates of a local
// cluster made by tools/certs.sh (a data dependency of the binary) in a
// fresh directory under /tmp. Owns the directory and removes it on
// destruction. Immutable after Create: thread-safe.
#ifndef STRATA_TESTS_BENCH_THROWAWAY_CA_H_
#define STRATA_TESTS_BENCH_THROWAWAY_CA_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "server/security/credentials.h"

namespace strata {
namespace bench {

class ThrowawayCa {
 public:
  // Runs `certs.sh cluster DIR --shards N`: the CA and the certificates
  // "coordinator", ShardCert(0..N-1) (role shard), "worker" and "admin".
  // `argv0` (main's argv[0]) finds the script in the binary's runfiles;
  // `certs_sh`, when not empty, overrides it. NOT_FOUND without the script,
  // INTERNAL when it fails.
  static absl::StatusOr<std::unique_ptr<ThrowawayCa>> Create(
      const std::string& argv0, int shards, const std::string& certs_sh = "");
  ~ThrowawayCa();
  ThrowawayCa(const ThrowawayCa&) = delete;
  ThrowawayCa& operator=(const ThrowawayCa&) = delete;

  // The CA and the certificate and key of `name` (one Create made).
  security::TlsOptions Files(const std::string& name) const;
  // Credentials::Create(Files(name)), CHECK-failing on error (the files
  // were just made).
  std::shared_ptr<const security::Credentials> Credentials(
      const std::string& name) const;

 private:
  explicit ThrowawayCa(std::string dir) : dir_(std::move(dir)) {}
  const std::string dir_;
};

// The certificate name of shard `i` in a `certs.sh cluster` directory.
std::string ShardCert(int i);

}  // namespace bench
}  // namespace strata

#endif  // STRATA_TESTS_BENCH_THROWAWAY_CA_H_
