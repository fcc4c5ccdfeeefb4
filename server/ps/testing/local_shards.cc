#include "server/ps/testing/local_shards.h"

#include <utility>

#include "proto/base/status_macros.h"

namespace strata {
namespace testing {

absl::StatusOr<std::unique_ptr<LocalShards>> LocalShards::Start(
    uint32_t n, PsServerOptions base, PsClientOptions client_options) {
  auto shards = std::make_unique<LocalShards>();
  for (uint32_t i = 0; i < n; ++i) {
    PsServerOptions o = base;
    o.listen = "127.0.0.1:0";
    o.shard_id = i;
    o.num_shards = n;
    STRATA_ASSIGN_OR_RETURN(std::unique_ptr<PsServer> s, PsServer::Start(o));
    shards->addresses_.push_back(s->address());
    shards->servers_.push_back(std::move(s));
  }
  STRATA_ASSIGN_OR_RETURN(
      shards->client_, PsClient::Connect(shards->addresses_, client_options));
  return shards;
}

}  // namespace testing
}  // namespace strata
