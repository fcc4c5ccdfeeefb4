#include "server/client/shard_rpc.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace strata {

std::string ShardLabel(uint32_t shard) {
  return absl::StrCat("ps shard ", shard);
}

bool LooksUnreachable(const grpc::Status& status) {
  if (status.error_code() != grpc::StatusCode::UNAVAILABLE) return false;
  static const char* const kTransportHints[] = {
      "failed to connect",
      "Connection refused",
      "connect failed",
      "DNS resolution failed",
      "Socket closed",
      "Broken pipe",
      "Connection reset",
      "keepalive",
      "No route to host",
      "empty address list",
      "connections to all backends failing"};
  const std::string message = absl::AsciiStrToLower(status.error_message());
  for (const char* hint : kTransportHints) {
    if (absl::StrContains(message, absl::AsciiStrToLower(hint))) return true;
  }
  return false;
}

absl::Status DescribeRpcFailure(const grpc::Status& status,
                                absl::string_view method,
                                absl::string_view label,
                                absl::string_view address,
                                absl::Duration deadline) {
  const absl::StatusCode code =
      static_cast<absl::StatusCode>(status.error_code());
  if (LooksUnreachable(status)) {
    return absl::Status(code,
                        absl::StrCat(label, " ", address,
                                     " unreachable: ", status.error_message()));
  }
  if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    return absl::Status(
        code, absl::StrCat(method, " on ", label, " ", address,
                           ": no reply within ", absl::FormatDuration(deadline),
                           " (", status.error_message(), ")"));
  }
  return absl::Status(code, absl::StrCat(method, " on ", label, " ", address,
                                         ": ", status.error_message()));
}

}  // namespace strata
