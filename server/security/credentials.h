// Transport security of every Strata server and client (docs/security.md):
// mutual TLS through gRPC's own credentials, certificates re-read from
// their files while running (rotation without restart), and the
// authorization policy (policy.h) installed on every server.
#ifndef STRATA_SERVER_SECURITY_CREDENTIALS_H_
#define STRATA_SERVER_SECURITY_CREDENTIALS_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace grpc {
class ChannelCredentials;
class ServerBuilder;
class ServerCredentials;
}  // namespace grpc

namespace strata {
namespace security {

// How a daemon or client secures its connections: all three files (mutual
// TLS), or none (plaintext: no identities, so no authorization; refused on
// a non-loopback listen address unless `insecure`). A plain value type.
struct TlsOptions {
  std::string ca_file;    // PEM: the cluster CA that signs every peer
  std::string cert_file;  // PEM: this process's certificate (chain)
  std::string key_file;   // PEM: its private key
  // Plaintext on a non-loopback address is allowed (a warning at start-up
  // and strata_insecure 1 on /metrics). For networks where something else
  // already encrypts and authenticates (a service mesh).
  bool insecure = false;
  // How often the files are checked for new contents. Shorter picks up a
  // rotated certificate sooner at the cost of a stat and read per check.
  absl::Duration refresh_interval = absl::Seconds(60);

  bool tls() const { return !cert_file.empty(); }
};

// OK for a usable set: none of the files, or all three readable and PEM;
// INVALID_ARGUMENT naming the flag (--tls_ca, --tls_cert, --tls_key)
// otherwise.
absl::Status CheckTlsOptions(const TlsOptions& options);

// FAILED_PRECONDITION when a server would listen on `address` (host:port)
// in plaintext while the host is not loopback (127.0.0.0/8, ::1,
// localhost) and `insecure` is not set; OK otherwise.
absl::Status CheckListenAddress(absl::string_view address,
                                const TlsOptions& options);

// Server credentials: TLS verifying the client certificate signed by the
// CA when one is presented (a certificate from elsewhere fails the
// handshake); a caller without one connects but is anonymous, which the
// policy admits only to health checks (Kubernetes' gRPC probes carry no
// certificate). Every call is checked against the policy table
// (authorizer.h) before it reaches a service. Insecure ones for plaintext
// (no identities, no checks). Errors of CheckTlsOptions.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentials(
    const TlsOptions& options);

// Channel credentials: TLS presenting this process's certificate and
// verifying the server's against the CA and the target's host name or IP,
// or insecure ones for plaintext.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ChannelCredentials(
    const TlsOptions& options);

// Configures a server about to listen on `address`: CheckListenAddress,
// then the listening port with ServerCredentials. `selected_port` as
// ServerBuilder::AddListeningPort.
absl::Status ConfigureServer(const TlsOptions& options,
                             absl::string_view address,
                             grpc::ServerBuilder* builder, int* selected_port);

}  // namespace security
}  // namespace strata

#endif  // STRATA_SERVER_SECURITY_CREDENTIALS_H_
