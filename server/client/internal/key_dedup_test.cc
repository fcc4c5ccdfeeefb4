#include "server/client/internal/key_dedup.h"

#include <random>
#include <unordered_map>

#include "gtest/gtest.h"

namespace strata {
namespace internal {
namespace {

TEST(KeyDedupTest, AssignsDenseIndicesInOrderOfFirstAppearance) {
  KeyDedup d;
  d.Reset(8);
  bool ins = false;
  EXPECT_EQ(d.Insert(42, &ins), 0u);
  EXPECT_TRUE(ins);
  EXPECT_EQ(d.Insert(7, &ins), 1u);
  EXPECT_EQ(d.Insert(42, &ins), 0u);
  EXPECT_FALSE(ins);
  EXPECT_EQ(d.Insert(0, &ins), 2u);
  EXPECT_EQ(d.size(), 3u);
}

TEST(KeyDedupTest, ResetForgetsThePreviousBatch) {
  KeyDedup d;
  d.Reset(4);
  bool ins = false;
  d.Insert(1, &ins);
  d.Insert(2, &ins);
  d.Reset(4);
  EXPECT_EQ(d.Insert(2, &ins), 0u);
  EXPECT_TRUE(ins);
  EXPECT_EQ(d.size(), 1u);
}

TEST(KeyDedupTest, MatchesAReferenceMapOnRandomBatchesWithCollisions) {
  KeyDedup d;
  std::mt19937_64 rng(3);
  for (int batch = 0; batch < 50; ++batch) {
    const size_t n = 1 + rng() % 5000;
    d.Reset(n);
    std::unordered_map<uint64_t, uint32_t> ref;
    for (size_t i = 0; i < n; ++i) {
      // Small key space forces duplicates; multiples of 2^32 stress the hash.
      const uint64_t key = (rng() % 700) << (batch % 2 ? 32 : 0);
      bool ins = false;
      const uint32_t got = d.Insert(key, &ins);
      auto [it, fresh] = ref.try_emplace(key, uint32_t(ref.size()));
      ASSERT_EQ(ins, fresh);
      ASSERT_EQ(got, it->second);
    }
    ASSERT_EQ(d.size(), ref.size());
  }
}

}  // namespace
}  // namespace internal
}  // namespace strata
