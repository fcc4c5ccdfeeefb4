#include "server/router/router.h"

#include "glog/logging.h"
#include "proto/base/hash.h"

namespace strata {

HashRouter::HashRouter(uint32_t num_shards) : num_shards_(num_shards) {
  CHECK_GE(num_shards, 1u) << "a router needs at least one shard";
}

uint32_t HashRouter::ShardForKey(uint64_t key) const {
  const uint64_t h = SplitMix64(key) >> 32;
  return static_cast<uint32_t>((h * num_shards_) >> 32);
}

uint32_t HashRouter::ShardForName(absl::string_view name) const {
  return ShardForKey(Fnv1a64(name));
}

std::unique_ptr<ShardRouter> MakeHashRouter(uint32_t num_shards) {
  return std::make_unique<HashRouter>(num_shards);
}

}  // namespace strata
