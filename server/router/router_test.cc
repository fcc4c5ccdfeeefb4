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

}  // namespace
}  // namespace strata
