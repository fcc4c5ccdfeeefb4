#include "server/router/router.h"

#include "glog/logging.h"

namespace strata {

HashRouter::HashRouter(uint32_t num_shards) : num_shards_(num_shards) {
  CHECK_GE(num_shards, 1u) << "a router needs at least one shard";
}

uint64_t HashRouter::Mix(uint64_t key) {
  key += 0x9e3779b97f4a7c15ULL;
  key = (key ^ (key >> 30)) * 0xbf58476d1ce4e5b9ULL;
  key = (key ^ (key >> 27)) * 0x94d049bb133111ebULL;
  return key ^ (key >> 31);
}

uint32_t HashRouter::ShardForKey(uint64_t key) const {
  const uint64_t h = Mix(key) >> 32;
  return static_cast<uint32_t>((h * num_shards_) >> 32);
}

uint32_t HashRouter::ShardForName(absl::string_view name) const {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : name) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return ShardForKey(h);
}

std::unique_ptr<ShardRouter> MakeHashRouter(uint32_t num_shards) {
  return std::make_unique<HashRouter>(num_shards);
}

}  // namespace strata
