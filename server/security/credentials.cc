#include "server/security/credentials.h"

#include <grpc/grpc_security_constants.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <grpcpp/server_builder.h>

#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "glog/logging.h"
#include "proto/base/status_macros.h"
#include "server/security/authorizer.h"

namespace strata {
namespace security {
namespace {

// Largest PEM file read to check it (certificate chains are a few KiB).
constexpr std::streamsize kMaxPemBytes = 1 << 20;

absl::Status CheckPemFile(absl::string_view flag, const std::string& path,
                          absl::string_view kind) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", flag, "=", path, ": cannot be read"));
  }
  std::string head(kMaxPemBytes, '\0');
  in.read(&head[0], kMaxPemBytes);
  head.resize(in.gcount());
  if (!absl::StrContains(head, absl::StrCat("-----BEGIN ", kind))) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", flag, "=", path, ": not a PEM file with a ", kind));
  }
  return absl::OkStatus();
}

std::shared_ptr<grpc::experimental::FileWatcherCertificateProvider> Provider(
    const TlsOptions& options) {
  const int64_t secs =
      std::max<int64_t>(1, absl::ToInt64Seconds(options.refresh_interval));
  return std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      options.key_file, options.cert_file, options.ca_file,
      static_cast<unsigned int>(secs));
}

// The host part of host:port, [v6]:port, or a bare host.
absl::string_view HostOf(absl::string_view address) {
  if (absl::ConsumePrefix(&address, "[")) {
    return address.substr(0, address.find(']'));
  }
  const size_t colon = address.rfind(':');
  if (colon != absl::string_view::npos &&
      address.find(':') == colon) {  // one colon: host:port
    return address.substr(0, colon);
  }
  return address;
}

bool IsLoopbackHost(absl::string_view host) {
  if (host == "localhost" || host == "::1") return true;
  const std::vector<absl::string_view> octets = absl::StrSplit(host, '.');
  int first = 0;
  return octets.size() == 4 && absl::SimpleAtoi(octets[0], &first) &&
         first == 127;
}

}  // namespace

absl::Status CheckTlsOptions(const TlsOptions& options) {
  const int given = !options.ca_file.empty() + !options.cert_file.empty() +
                    !options.key_file.empty();
  if (given == 0) return absl::OkStatus();
  if (given != 3) {
    return absl::InvalidArgumentError(
        "mutual TLS needs all of --tls_ca, --tls_cert and --tls_key "
        "(tools/certs.sh makes them)");
  }
  STRATA_RETURN_IF_ERROR(
      CheckPemFile("tls_ca", options.ca_file, "CERTIFICATE"));
  STRATA_RETURN_IF_ERROR(
      CheckPemFile("tls_cert", options.cert_file, "CERTIFICATE"));
  return CheckPemFile("tls_key", options.key_file, "");
}

bool PlaintextOffLoopback(absl::string_view address,
                          const TlsOptions& options) {
  return !options.tls() && !IsLoopbackHost(HostOf(address));
}

absl::Status CheckListenAddress(absl::string_view address,
                                const TlsOptions& options) {
  if (options.insecure || !PlaintextOffLoopback(address, options)) {
    return absl::OkStatus();
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "refusing to listen on ", address,
      " without TLS: anyone who reaches it could administer the cluster. "
      "Give --tls_ca, --tls_cert and --tls_key (tools/certs.sh), listen on "
      "127.0.0.1, or pass --insecure if the network is protected otherwise"));
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentials(
    const TlsOptions& options) {
  STRATA_RETURN_IF_ERROR(CheckTlsOptions(options));
  if (!options.tls()) return grpc::InsecureServerCredentials();
  grpc::experimental::TlsServerCredentialsOptions tls(Provider(options));
  tls.watch_root_certs();
  tls.watch_identity_key_cert_pairs();
  tls.set_cert_request_type(GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
  std::shared_ptr<grpc::ServerCredentials> creds =
      grpc::experimental::TlsServerCredentials(tls);
  creds->SetAuthMetadataProcessor(PolicyEnforcer());
  return creds;
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ChannelCredentials(
    const TlsOptions& options) {
  STRATA_RETURN_IF_ERROR(CheckTlsOptions(options));
  if (!options.tls()) return grpc::InsecureChannelCredentials();
  grpc::experimental::TlsChannelCredentialsOptions tls;
  tls.set_certificate_provider(Provider(options));
  tls.watch_root_certs();
  tls.watch_identity_key_cert_pairs();
  tls.set_verify_server_certs(true);
  return grpc::experimental::TlsCredentials(tls);
}

namespace {

absl::Status AddPort(const TlsOptions& options, absl::string_view address,
                     std::shared_ptr<grpc::ServerCredentials> creds,
                     grpc::ServerBuilder* builder, int* selected_port) {
  STRATA_RETURN_IF_ERROR(CheckListenAddress(address, options));
  builder->AddListeningPort(std::string(address), std::move(creds),
                            selected_port);
  if (!options.tls() && options.insecure) {
    LOG(WARNING) << "serving " << address
                 << " WITHOUT TLS (--insecure): no caller is authenticated, "
                    "anyone who reaches it can call any RPC";
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ConfigureServer(const TlsOptions& options,
                             absl::string_view address,
                             grpc::ServerBuilder* builder, int* selected_port) {
  STRATA_ASSIGN_OR_RETURN(std::shared_ptr<grpc::ServerCredentials> creds,
                          ServerCredentials(options));
  return AddPort(options, address, std::move(creds), builder, selected_port);
}

absl::StatusOr<std::shared_ptr<const Credentials>> Credentials::Create(
    const TlsOptions& options) {
  std::shared_ptr<Credentials> c(new Credentials());
  c->options_ = options;
  STRATA_ASSIGN_OR_RETURN(c->channel_, ChannelCredentials(options));
  STRATA_ASSIGN_OR_RETURN(c->server_, ServerCredentials(options));
  return std::shared_ptr<const Credentials>(std::move(c));
}

absl::Status Credentials::ConfigureServer(absl::string_view address,
                                          grpc::ServerBuilder* builder,
                                          int* selected_port) const {
  return AddPort(options_, address, server_, builder, selected_port);
}

std::shared_ptr<grpc::ChannelCredentials> ChannelCredentialsOf(
    const std::shared_ptr<const Credentials>& credentials) {
  return credentials != nullptr ? credentials->channel()
                                : grpc::InsecureChannelCredentials();
}

absl::Status ConfigureServerWith(
    const std::shared_ptr<const Credentials>& credentials,
    absl::string_view address, grpc::ServerBuilder* builder,
    int* selected_port) {
  if (credentials != nullptr) {
    return credentials->ConfigureServer(address, builder, selected_port);
  }
  builder->AddListeningPort(std::string(address),
                            grpc::InsecureServerCredentials(), selected_port);
  return absl::OkStatus();
}

}  // namespace security
}  // namespace strata
