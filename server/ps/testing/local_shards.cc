#include "server/ps/testing/local_shards.h"

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
    absl::StatusOr<std::unique_ptr<PsServer>> s = PsServer::Start(o);
    if (!s.ok()) return s.status();
    shards->addresses_.push_back((*s)->address());
    shards->servers_.push_back(std::move(*s));
  }
  absl::StatusOr<std::unique_ptr<PsClient>> c =
      PsClient::Connect(shards->addresses_, client_options);
  if (!c.ok()) return c.status();
  shards->client_ = std::move(*c);
  return shards;
}

}  // namespace testing
}  // namespace strata
