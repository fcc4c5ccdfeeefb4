#include "server/security/security_flags.h"

#include <cstdlib>
#include <string>

#include "absl/flags/flag.h"

ABSL_FLAG(std::string, tls_ca, "",
          "PEM file of the cluster CA that signs every peer's certificate "
          "(tools/certs.sh); with --tls_cert and --tls_key turns on mutual "
          "TLS. Default: $STRATA_TLS_CA. See docs/security.md.");
ABSL_FLAG(std::string, tls_cert, "",
          "PEM certificate (chain) of this process, naming its identity "
          "spiffe://strata/<role>/<name>. Default: $STRATA_TLS_CERT.");
ABSL_FLAG(std::string, tls_key, "",
          "PEM private key of --tls_cert. Default: $STRATA_TLS_KEY.");
ABSL_FLAG(bool, insecure, false,
          "Allow plaintext (no TLS, no authentication, no authorization) on "
          "a non-loopback address. Only where something else protects the "
          "network.");
ABSL_FLAG(int32_t, tls_refresh_s, 60,
          "How often (seconds) the certificate files are re-read, so rotated "
          "certificates take effect without a restart.");

namespace strata {
namespace security {
namespace {

std::string FlagOrEnv(const std::string& flag, const char* env) {
  if (!flag.empty()) return flag;
  const char* v = std::getenv(env);
  return v != nullptr ? v : "";
}

}  // namespace

TlsOptions TlsOptionsFromFlags() {
  TlsOptions o;
  o.ca_file = FlagOrEnv(absl::GetFlag(FLAGS_tls_ca), "STRATA_TLS_CA");
  o.cert_file = FlagOrEnv(absl::GetFlag(FLAGS_tls_cert), "STRATA_TLS_CERT");
  o.key_file = FlagOrEnv(absl::GetFlag(FLAGS_tls_key), "STRATA_TLS_KEY");
  o.insecure = absl::GetFlag(FLAGS_insecure);
  o.refresh_interval = absl::Seconds(absl::GetFlag(FLAGS_tls_refresh_s));
  return o;
}

}  // namespace security
}  // namespace strata
