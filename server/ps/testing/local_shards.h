// Test helper: N parameter-server shards in this process, each on its own
// 127.0.0.1 port (real gRPC over loopback), plus a client connected to them.
// Owns the servers and the client; destroying it shuts the shards down.
// Not thread-safe to construct; the client is thread-safe.
#ifndef STRATA_SERVER_PS_TESTING_LOCAL_SHARDS_H_
#define STRATA_SERVER_PS_TESTING_LOCAL_SHARDS_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/client/ps_client.h"
#include "server/ps/ps_server.h"

namespace strata {
namespace testing {

class LocalShards {
 public:
  // Starts `n` shards from `base` (listen, shard_id and num_shards are set
  // here) and connects a client with `client_options`.
  static absl::StatusOr<std::unique_ptr<LocalShards>> Start(
      uint32_t n, PsServerOptions base = {},
      PsClientOptions client_options = {});

  const std::vector<std::string>& addresses() const { return addresses_; }
  PsClient* client() const { return client_.get(); }
  PsServer* server(uint32_t i) const { return servers_[i].get(); }

 private:
  std::vector<std::unique_ptr<PsServer>> servers_;
  std::vector<std::string> addresses_;
  std::unique_ptr<PsClient> client_;  // declared last: destroyed first
};

}  // namespace testing
}  // namespace strata

#endif  // STRATA_SERVER_PS_TESTING_LOCAL_SHARDS_H_
