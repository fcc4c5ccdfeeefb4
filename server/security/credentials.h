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

// True when a server on `address` (host:port) would speak plaintext on a
// host that is not loopback (127.0.0.0/8, ::1, localhost): what `insecure`
// allows, and what a daemon then reports as strata_insecure 1.
bool PlaintextOffLoopback(absl::string_view address, const TlsOptions& options);

// FAILED_PRECONDITION when PlaintextOffLoopback and `insecure` is not set;
// OK otherwise.
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

// The credentials of one process, built once from its TlsOptions (each
// set of gRPC credentials owns a certificate-file watcher, so they are
// shared, not made per channel) and handed to every server and client the
// process creates: the seam where transport security is chosen. Options
// structs hold a std::shared_ptr<const Credentials>; null means plaintext.
// Immutable after Create: thread-safe.
class Credentials {
 public:
  // Errors of CheckTlsOptions.
  static absl::StatusOr<std::shared_ptr<const Credentials>> Create(
      const TlsOptions& options);

  const TlsOptions& options() const { return options_; }
  bool tls() const { return options_.tls(); }
  // For every channel this process opens.
  const std::shared_ptr<grpc::ChannelCredentials>& channel() const {
    return channel_;
  }
  // ConfigureServer with this process's options and server credentials.
  absl::Status ConfigureServer(absl::string_view address,
                               grpc::ServerBuilder* builder,
                               int* selected_port) const;

 private:
  Credentials() = default;
  TlsOptions options_;
  std::shared_ptr<grpc::ChannelCredentials> channel_;
  std::shared_ptr<grpc::ServerCredentials> server_;
};

// `credentials`' channel credentials, or plaintext ones when null.
std::shared_ptr<grpc::ChannelCredentials> ChannelCredentialsOf(
    const std::shared_ptr<const Credentials>& credentials);
// credentials->ConfigureServer, or a plaintext listening port (loopback or
// not: callers without credentials are tests and in-process servers) when
// null.
absl::Status ConfigureServerWith(
    const std::shared_ptr<const Credentials>& credentials,
    absl::string_view address, grpc::ServerBuilder* builder,
    int* selected_port);

}  // namespace security
}  // namespace strata

#endif  // STRATA_SERVER_SECURITY_CREDENTIALS_H_
