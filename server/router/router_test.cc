#include "server/router/router.h"

#include <vector>

#include "gtest/gtest.h"

namespace strata {
namespace {

TEST(ShardRouterTest, RoutesEveryKeyToExactlyOneShardInRange) {
  for (uint32_t n : {1u, 2u, 3u, 7u, 64u}) {
    HashRouter router(n);
    for (uint64_t key = 0; key < 20000; ++key) {
      const uint32_t s = router.ShardForKey(key);
      EXPECT_LT(s, n);
      EXPECT_EQ(s, router.ShardForKey(key)) << "routing must be stable";
    }
  }
}

TEST(ShardRouterTest, SpreadsSequentialKeysEvenly) {
  constexpr uint32_t kShards = 4;
  constexpr int kKeys = 400000;
  HashRouter router(kShards);
  std::vector<int> counts(kShards, 0);
  for (uint64_t key = 0; key < kKeys; ++key) ++counts[router.ShardForKey(key)];
  for (int c : counts) {
    EXPECT_NEAR(c, kKeys / kShards, kKeys / kShards * 0.02);
  }
}

TEST(ShardRouterTest, SpreadsFieldPrefixedKeysEvenly) {
  // Keys that differ only in their low bits under a common high-bit field id.
  HashRouter router(2);
  int shard0 = 0;
  constexpr int kKeys = 100000;
  for (uint64_t i = 0; i < kKeys; ++i) {
    shard0 += router.ShardForKey((uint64_t{17} << 56) | i) == 0;
  }
  EXPECT_NEAR(shard0, kKeys / 2, kKeys * 0.02);
}

TEST(ShardRouterTest, SingleShardOwnsEverything) {
  HashRouter router(1);
  EXPECT_EQ(router.ShardForKey(~uint64_t{0}), 0u);
  EXPECT_EQ(router.ShardForName("conv1.weight"), 0u);
}

TEST(ShardRouterTest, NamesRouteDeterministically) {
  HashRouter router(8);
  EXPECT_EQ(router.ShardForName("fc1.weight"), router.ShardForName("fc1.weight"));
  std::vector<int> counts(8, 0);
  for (int i = 0; i < 8000; ++i) {
    ++counts[router.ShardForName("tensor" + std::to_string(i))];
  }
  for (int c : counts) EXPECT_GT(c, 800);
}

// Routing is part of the checkpoint contract: these shards were computed
// from the router before it moved onto proto/base/hash.h. Never update them.
TEST(ShardRouterTest, KeysRouteToTheirGoldenShards) {
  const uint64_t keys[] = {
      0, 1, 2, 3, 4, 5, 6, 7, 1000003, (uint64_t{17} << 56) | 5, ~uint64_t{0}};
  const uint32_t three[] = {2, 1, 1, 0, 1, 1, 2, 1, 1, 0, 2};
  const uint32_t eight[] = {7, 4, 4, 0, 3, 3, 5, 3, 2, 1, 7};
  HashRouter router3(3), router8(8);
  for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); ++i) {
    EXPECT_EQ(router3.ShardForKey(keys[i]), three[i]) << "key " << keys[i];
    EXPECT_EQ(router8.ShardForKey(keys[i]), eight[i]) << "key " << keys[i];
  }
}

TEST(ShardRouterTest, NamesRouteToTheirGoldenShards) {
  const char* names[] = {"fc1.weight", "fc1.bias", "conv1.weight", "embedding",
                         ""};
  const uint32_t three[] = {1, 1, 1, 2, 2};
  const uint32_t eight[] = {3, 3, 4, 6, 6};
  HashRouter router3(3), router8(8);
  for (size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(router3.ShardForName(names[i]), three[i]) << names[i];
    EXPECT_EQ(router8.ShardForName(names[i]), eight[i]) << names[i];
  }
}

TEST(ShardRouterTest, HashedKeyRoutesAsTheKey) {
  const HashRouter router(7);
  for (uint64_t key : {uint64_t{0}, uint64_t{1}, uint64_t{1} << 33,
                       ~uint64_t{0}, uint64_t{0x9e3779b97f4a7c15}}) {
    EXPECT_EQ(router.ShardForHashedKey(key, KeyHash(key)),
              router.ShardForKey(key))
        << "key " << key;
  }
  EXPECT_EQ(KeyHash(12345), SplitMix64(12345));
}

// A router that does not route by KeyHash: the default ShardForHashedKey
// ignores the hash.
class ModRouter final : public ShardRouter {
 public:
  uint32_t num_shards() const override { return 3; }
  uint32_t ShardForKey(uint64_t key) const override { return key % 3; }
  uint32_t ShardForName(absl::string_view) const override { return 0; }
};

TEST(ShardRouterTest, DefaultHashedKeyRoutingIgnoresTheHash) {
  const ModRouter router;
  EXPECT_EQ(router.ShardForHashedKey(5, 0), 2u);
  EXPECT_EQ(router.ShardForHashedKey(6, ~uint64_t{0}), 0u);
}

}  // namespace
}  // namespace strata
