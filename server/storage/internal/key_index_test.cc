#include "server/storage/internal/key_index.h"

#include <algorithm>
#include <cstdint>
#include <vector>

#include "gtest/gtest.h"

namespace strata {
namespace internal {
namespace {

constexpr uint64_t kSeed = 0x5eed;

uint64_t Slot(uint64_t key) { return SlotHash(KeyHash(key), kSeed); }

TEST(KeyIndexTest, EmptyIndexFindsNothing) {
  const KeyIndex index(kSeed);
  EXPECT_EQ(index.Find(7, Slot(7)), KeyIndex::kNoRow);
  EXPECT_EQ(index.size(), 0u);
  EXPECT_EQ(index.capacity(), 0u);
}

TEST(KeyIndexTest, InsertsOnceAndFindsEveryKeyAcrossGrowth) {
  KeyIndex index(kSeed);
  constexpr uint32_t kKeys = 100000;
  for (uint32_t r = 0; r < kKeys; ++r) {
    const uint64_t key = uint64_t{r} * 7919 + (uint64_t{1} << 40);
    const auto [row, inserted] = index.FindOrInsert(key, Slot(key), r);
    EXPECT_TRUE(inserted);
    EXPECT_EQ(row, r);
  }
  EXPECT_EQ(index.size(), kKeys);
  // At most 3/4 full, a power of two.
  EXPECT_GE(index.capacity() * 3, index.size() * 4);
  EXPECT_EQ(index.capacity() & (index.capacity() - 1), 0u);
  for (uint32_t r = 0; r < kKeys; ++r) {
    const uint64_t key = uint64_t{r} * 7919 + (uint64_t{1} << 40);
    ASSERT_EQ(index.Find(key, Slot(key)), r);
    const auto [row, inserted] = index.FindOrInsert(key, Slot(key), 0);
    EXPECT_FALSE(inserted);
    EXPECT_EQ(row, r);
  }
  EXPECT_EQ(index.Find(3, Slot(3)), KeyIndex::kNoRow);
  EXPECT_FALSE(index.contains(3, Slot(3)));
}

TEST(KeyIndexTest, KeysCrowdingOneRegionAllStayFindable) {
  // Keys whose slot hashes share their top 8 bits: long probe chains that
  // wrap around the end of the slot array.
  std::vector<uint64_t> keys;
  for (uint64_t k = 0; keys.size() < 1000; ++k) {
    if ((Slot(k) >> 56) == 0xff) keys.push_back(k);
  }
  KeyIndex index(kSeed);
  for (uint32_t r = 0; r < keys.size(); ++r) {
    index.FindOrInsert(keys[r], Slot(keys[r]), r);
  }
  for (uint32_t r = 0; r < keys.size(); ++r) {
    EXPECT_EQ(index.Find(keys[r], Slot(keys[r])), r);
  }
}

TEST(KeyIndexTest, KeyZeroAndAllOnesAreOrdinaryKeys) {
  KeyIndex index(kSeed);
  index.FindOrInsert(0, Slot(0), 5);
  index.FindOrInsert(~uint64_t{0}, Slot(~uint64_t{0}), 6);
  EXPECT_EQ(index.Find(0, Slot(0)), 5u);
  EXPECT_EQ(index.Find(~uint64_t{0}, Slot(~uint64_t{0})), 6u);
}

TEST(KeyPlaceTest, StripesSpreadEvenly) {
  constexpr uint32_t kStripes = 10;
  std::vector<int> count(kStripes);
  for (uint64_t key = 0; key < 100000; ++key) {
    const uint64_t h = KeyHash(key);
    const uint32_t stripe = StripeOfHash(h, kStripes);
    ASSERT_LT(stripe, kStripes);
    ++count[stripe];
  }
  for (int c : count) EXPECT_NEAR(c, 10000, 500);
}

TEST(KeyPlaceTest, StripeIgnoresTheSeedAndSlotHashDependsOnIt) {
  const uint64_t h = KeyHash(12345);
  EXPECT_EQ(StripeOfHash(h, 64), StripeOfHash(h, 64));
  EXPECT_NE(SlotHash(h, 1), SlotHash(h, 2));
}

}  // namespace
}  // namespace internal
}  // namespace strata
