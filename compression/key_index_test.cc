#include "compression/key_index.h"

#include <map>
#include <random>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "gtest/gtest.h"

namespace strata::compression {
namespace {

KeyIndexOptions Layout(IndexLayout layout) {
  KeyIndexOptions o;
  o.layout = layout;
  return o;
}

std::vector<uint64_t> RandomKeys(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  absl::flat_hash_set<uint64_t> seen;
  std::vector<uint64_t> keys;
  while (keys.size() < n) {
    const uint64_t k = rng();
    if (seen.insert(k).second) keys.push_back(k);
  }
  return keys;
}

TEST(KeyIndexTest, FindsEveryStoredKeyAndNoUnseenKey) {
  for (IndexLayout layout :
       {IndexLayout::kCompact, IndexLayout::kFlatHashMap}) {
    for (size_t n : {0u, 1u, 2u, 15u, 16u, 17u, 1000u, 70000u}) {
      for (bool sequential : {false, true}) {
        std::vector<uint64_t> keys = RandomKeys(n, n);
        if (sequential) {
          for (size_t i = 0; i < n; ++i) keys[i] = i;
        }
        std::vector<uint32_t> values(n);
        for (size_t i = 0; i < n; ++i)
          values[i] = static_cast<uint32_t>(i % 301);
        auto index = KeyIndex::Build(keys, values, 300, Layout(layout));
        ASSERT_TRUE(index.ok()) << index.status();
        ASSERT_EQ((*index)->size(), n);
        for (size_t i = 0; i < n; ++i) {
          ASSERT_EQ((*index)->Find(keys[i]), values[i])
              << IndexLayoutName(layout) << " n=" << n << " i=" << i;
        }
        const absl::flat_hash_set<uint64_t> stored(keys.begin(), keys.end());
        for (uint64_t probe : RandomKeys(2000, 999 + n)) {
          if (!stored.contains(probe)) {
            ASSERT_FALSE((*index)->Find(probe).has_value());
          }
        }
        if (!stored.contains(n)) {
          EXPECT_FALSE((*index)->Find(n).has_value());
        }
      }
    }
  }
}

TEST(KeyIndexTest, CompactBytesMatchTheDocumentedFormula) {
  // n = 100000: floor(log2 n) = 16, bucket bits b = 12, remainders 52 bits;
  // values up to 999 need 10 bits.
  const size_t n = 100000;
  const std::vector<uint64_t> keys = RandomKeys(n, 1);
  const std::vector<uint32_t> values(n, 999);
  auto index =
      KeyIndex::Build(keys, values, 999, Layout(IndexLayout::kCompact));
  ASSERT_TRUE(index.ok());
  const size_t expected = 4 * ((1u << 12) + 1) + 8 * ((n * 52 + 63) / 64) +
                          8 * ((n * 10 + 63) / 64);
  EXPECT_EQ((*index)->bytes(), expected);
  EXPECT_EQ(KeyIndex::PredictBytes(n, 999, Layout(IndexLayout::kCompact)),
            expected);
}

TEST(KeyIndexTest, FlatBytesAreCapacityTimesSlotPlusControlByte) {
  const size_t n = 100000;
  absl::flat_hash_map<uint64_t, uint32_t> reference;
  reference.reserve(n);
  const size_t expected = reference.capacity() * (16 + 1);
  const std::vector<uint64_t> keys = RandomKeys(n, 2);
  auto index = KeyIndex::Build(keys, std::vector<uint32_t>(n, 0), 0,
                               Layout(IndexLayout::kFlatHashMap));
  ASSERT_TRUE(index.ok());
  EXPECT_EQ((*index)->bytes(), expected);
  EXPECT_EQ(KeyIndex::PredictBytes(n, 0, Layout(IndexLayout::kFlatHashMap)),
            expected);
  EXPECT_GE(expected, n * 17);
}

TEST(KeyIndexTest, CompactIsAtLeastTwiceSmallerThanFlat) {
  for (size_t n : {1000u, 100000u, 1000000u}) {
    const size_t compact =
        KeyIndex::PredictBytes(n, 9999, Layout(IndexLayout::kCompact));
    const size_t flat =
        KeyIndex::PredictBytes(n, 9999, Layout(IndexLayout::kFlatHashMap));
    EXPECT_LT(2 * compact, flat) << n;
    EXPECT_LT(compact, n * 10) << n;  // 8.0-9.3 B/key
  }
}

TEST(KeyIndexTest, DuplicateKeyIsInvalidArgumentNamingKeyAndRows) {
  for (IndexLayout layout :
       {IndexLayout::kCompact, IndexLayout::kFlatHashMap}) {
    const std::vector<uint64_t> keys = {5, 77, 9, 77};
    auto index =
        KeyIndex::Build(keys, std::vector<uint32_t>(4, 0), 0, Layout(layout));
    ASSERT_EQ(index.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(index.status().message(), "duplicate key 77 at rows 1 and 3");
  }
}

TEST(KeyIndexTest, RejectsValueAboveMaxAndSizeMismatch) {
  const std::vector<uint64_t> keys = {1, 2};
  EXPECT_EQ(
      KeyIndex::Build(keys, std::vector<uint32_t>{0, 8}, 7, {}).status().code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      KeyIndex::Build(keys, std::vector<uint32_t>{0}, 7, {}).status().code(),
      absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace strata::compression

namespace strata::compression {
namespace {

TEST(KeyIndexTest, ForEachVisitsEveryEntryExactlyOnceInBothLayouts) {
  std::mt19937_64 rng(11);
  for (IndexLayout layout :
       {IndexLayout::kCompact, IndexLayout::kFlatHashMap}) {
    for (size_t n : {size_t{1}, size_t{17}, size_t{5000}}) {
      std::vector<uint64_t> keys(n);
      std::vector<uint32_t> values(n);
      for (size_t i = 0; i < n; ++i) {
        keys[i] = rng() ^ (uint64_t{i} << 56);  // top bits vary too
        values[i] = static_cast<uint32_t>(i % 1000);
      }
      KeyIndexOptions o;
      o.layout = layout;
      auto index = KeyIndex::Build(keys, values, 999, o);
      ASSERT_TRUE(index.ok()) << index.status();
      std::map<uint64_t, uint32_t> seen;
      (*index)->ForEach([&](uint64_t k, uint32_t v) {
        EXPECT_TRUE(seen.emplace(k, v).second) << "key visited twice: " << k;
      });
      ASSERT_EQ(seen.size(), n);
      for (size_t i = 0; i < n; ++i) EXPECT_EQ(seen.at(keys[i]), values[i]);
    }
  }
}

}  // namespace
}  // namespace strata::compression
