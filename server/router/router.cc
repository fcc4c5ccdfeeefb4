#include "server/router/router.h"

#include "glog/logging.h"
#include "proto/base/hash.h"

namespace strata {

HashRouter::HashRouter(uint32_t num_shards) : num_shards_(num_shards) {
  CHECK_GE(num_shards, 1u) << "a router needs at least one shard";
}

uint32_t HashRouter::ShardForName(absl::string_view name) const {
  return ShardForKey(Fnv1a64(name));
}

std::unique_ptr<ShardRouter> MakeHashRouter(uint32_t num_shards) {
  return std::make_unique<HashRouter>(num_shards);
}

}  // namespace strata
