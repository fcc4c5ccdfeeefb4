// What every client of Strata's servers shares: the per-call settings of
// the parameter-server clients (deadline, retries, message size) and the one
// way a failed RPC is described, so an error always names the method, the
// server and its address ("Checkpoint on ps shard 1 127.0.0.1:5000: disk
// full"). Used by PsClient, PsAdminClient and stratactl's coordinator calls.
#ifndef STRATA_SERVER_CLIENT_SHARD_RPC_H_
#define STRATA_SERVER_CLIENT_SHARD_RPC_H_

#include <cstdint>
#include <limits>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "proto/rpc_util.h"
#include "server/security/credentials.h"

namespace strata {

// Settings shared by the data-plane and the admin client. Plain values.
struct ShardRpcOptions {
  // Deadline of each RPC. Long enough for a 1M-key batch on a loaded
  // machine; slower calls (BSP dense pulls, checkpoints, compression) have
  // deadlines of their own in the client options.
  absl::Duration rpc_timeout = absl::Seconds(30);
  // UNAVAILABLE (a shard down, restarting, or unreachable) and CANCELLED
  // (calls caught in a shard's shutdown) are retried for up to retry_for
  // from a call's first failure, with the same request (a
  // push keeps its request id, so it is never applied twice). Backoff
  // doubles from retry_backoff up to max_retry_backoff, which also caps the
  // channel's reconnect backoff, so a shard that is back is reached within
  // about max_retry_backoff. The trade-off: a shard restart (reload of a
  // checkpoint: seconds to tens of seconds) is ridden out instead of
  // failing the job, but a call to a dead shard fails only after retry_for
  // (60 s; it was 1.5 s before retries rode out restarts). max_retries caps
  // the number of retries as well (0: none; stratactl's choice).
  absl::Duration retry_for = absl::Seconds(60);
  absl::Duration retry_backoff = absl::Milliseconds(100);
  absl::Duration max_retry_backoff = absl::Seconds(2);
  int max_retries = std::numeric_limits<int>::max();
  // gRPC message-size limit, both directions.
  int max_message_bytes = kDefaultMaxMessageBytes;
  // Transport security of the channels to the shards (docs/security.md);
  // null: plaintext.
  std::shared_ptr<const security::Credentials> credentials;
};

// "ps shard 3": how errors and stratactl name a shard.
std::string ShardLabel(uint32_t shard);

// True when `status` (UNAVAILABLE) reads like a transport failure -- refused
// connection, failed name resolution, dropped socket -- rather than a server
// that answered UNAVAILABLE on purpose.
bool LooksUnreachable(const grpc::Status& status);

// The absl::Status for a failed call of `method` on the server `label`
// ("coordinator", "ps shard 1") at `address`, keeping the gRPC code:
//   "<label> <address> unreachable: <detail>"        (transport failure)
//   "<method> on <label> <address>: no reply within <deadline> (<detail>)"
//   "<method> on <label> <address>: <server's message>"   (anything else)
absl::Status DescribeRpcFailure(const grpc::Status& status,
                                absl::string_view method,
                                absl::string_view label,
                                absl::string_view address,
                                absl::Duration deadline);

}  // namespace strata

#endif  // STRATA_SERVER_CLIENT_SHARD_RPC_H_
