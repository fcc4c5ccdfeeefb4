#include "compression/key_index.h"

#include <cstring>
#include <map>
#include <random>
#include <string>
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

KeyIndexOptions Mph(int fingerprint_bits) {
  KeyIndexOptions o;
  o.layout = IndexLayout::kMph;
  o.fingerprint_bits = fingerprint_bits;
  return o;
}

std::vector<uint32_t> Values(size_t n, uint32_t modulo) {
  std::vector<uint32_t> values(n);
  for (size_t i = 0; i < n; ++i) values[i] = static_cast<uint32_t>(i % modulo);
  return values;
}

TEST(MphKeyIndexTest, FindsEveryStoredKeyExactlyForEveryWidth) {
  for (int f : {0, 1, 8, 16, 32}) {
    for (size_t n : {0u, 1u, 2u, 17u, 1000u, 70000u}) {
      const std::vector<uint64_t> keys = RandomKeys(n, n + f);
      const std::vector<uint32_t> values = Values(n, 64);
      auto index = KeyIndex::Build(keys, values, 63, Mph(f));
      ASSERT_TRUE(index.ok()) << index.status();
      ASSERT_EQ((*index)->size(), n);
      EXPECT_EQ((*index)->layout(), IndexLayout::kMph);
      EXPECT_FALSE((*index)->enumerable());
      for (size_t i = 0; i < n; ++i) {
        ASSERT_EQ((*index)->Find(keys[i]), values[i])
            << "f=" << f << " i=" << i;
      }
    }
  }
}

TEST(MphKeyIndexTest, EmptyAndOneKeyFields) {
  auto empty = KeyIndex::Build({}, {}, 0, Mph(8));
  ASSERT_TRUE(empty.ok());
  EXPECT_FALSE((*empty)->Find(0).has_value());
  EXPECT_FALSE((*empty)->Find(~uint64_t{0}).has_value());
  const std::vector<uint64_t> one = {42};
  auto single = KeyIndex::Build(one, std::vector<uint32_t>{5}, 9, Mph(16));
  ASSERT_TRUE(single.ok());
  EXPECT_EQ((*single)->Find(42), 5u);
  int false_hits = 0;
  for (uint64_t probe = 0; probe < 100000; ++probe) {
    if (probe != 42 && (*single)->Find(probe).has_value()) ++false_hits;
  }
  EXPECT_LE(false_hits, 10);  // 2^-16 of 100k is 1.5
}

// Unseen keys are recognised but for a fraction 2^-f: over 1M probes at
// f = 8, expected <= 3906 false hits (fewer: some never reach a position).
TEST(MphKeyIndexTest, UnseenKeyFalsePositiveRateIsAtMostTwoToMinusF) {
  const size_t n = 100000;
  const std::vector<uint64_t> keys = RandomKeys(n, 21);
  auto index = KeyIndex::Build(keys, Values(n, 64), 63, Mph(8));
  ASSERT_TRUE(index.ok());
  const absl::flat_hash_set<uint64_t> stored(keys.begin(), keys.end());
  std::mt19937_64 rng(22);
  size_t probes = 0, hits = 0;
  while (probes < 1000000) {
    const uint64_t k = rng();
    if (stored.contains(k)) continue;
    ++probes;
    if ((*index)->Find(k).has_value()) ++hits;
  }
  const double rate = static_cast<double>(hits) / probes;
  EXPECT_LT(rate, 1.0 / 256 * 1.1);  // 2^-8 plus ~6 standard deviations
  EXPECT_GT(rate, 1.0 / 256 * 0.5);  // the fingerprint is what rejects
}

TEST(MphKeyIndexTest, DuplicateKeyAndBadFingerprintWidthAreInvalidArgument) {
  const std::vector<uint64_t> keys = {5, 77, 9, 77};
  auto dup = KeyIndex::Build(keys, std::vector<uint32_t>(4, 0), 0, Mph(8));
  ASSERT_EQ(dup.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(dup.status().message(), "duplicate key 77 at rows 1 and 3");
  const std::vector<uint64_t> two = {1, 2};
  for (int f : {-1, 33}) {
    EXPECT_EQ(KeyIndex::Build(two, std::vector<uint32_t>{0, 1}, 1, Mph(f))
                  .status()
                  .code(),
              absl::StatusCode::kInvalidArgument)
        << f;
  }
}

TEST(MphKeyIndexTest, DeterministicAndSerializeRoundTrips) {
  const size_t n = 30000;
  const std::vector<uint64_t> keys = RandomKeys(n, 31);
  const std::vector<uint32_t> values = Values(n, 1000);
  auto a = KeyIndex::Build(keys, values, 999, Mph(8));
  auto b = KeyIndex::Build(keys, values, 999, Mph(8));
  ASSERT_TRUE(a.ok() && b.ok());
  const std::string bytes = *(*a)->Serialize();
  EXPECT_EQ(bytes, *(*b)->Serialize());
  auto c = KeyIndex::Deserialize(bytes, n, 999);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ((*c)->bytes(), (*a)->bytes());
  for (size_t i = 0; i < n; ++i) ASSERT_EQ((*c)->Find(keys[i]), values[i]);
  for (uint64_t probe : RandomKeys(1000, 32)) {
    EXPECT_EQ((*c)->Find(probe), (*a)->Find(probe));
  }
}

TEST(MphKeyIndexTest, DeserializeRejectsCorruptBytesWithInvalidArgument) {
  const size_t n = 2000;
  const std::vector<uint64_t> keys = RandomKeys(n, 41);
  const std::string bytes =
      *(*KeyIndex::Build(keys, Values(n, 10), 9, Mph(8)))->Serialize();
  const auto code = [](absl::string_view b, uint64_t n, uint32_t max) {
    return KeyIndex::Deserialize(b, n, max).status().code();
  };
  using absl::StatusCode;
  EXPECT_EQ(code(bytes, n, 9), StatusCode::kOk);
  EXPECT_EQ(code(bytes, n + 1, 9), StatusCode::kInvalidArgument);
  EXPECT_EQ(code(bytes, n, 99), StatusCode::kInvalidArgument);  // width
  EXPECT_EQ(code(bytes.substr(0, bytes.size() - 8), n, 9),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(code(bytes.substr(0, 10), n, 9), StatusCode::kInvalidArgument);
  std::string wide = bytes;
  wide[0] = 33;  // fingerprint bits
  EXPECT_EQ(code(wide, n, 9), StatusCode::kInvalidArgument);
  // Values are 4 bits here; max_value 8 leaves 9..15 out of range.
  EXPECT_EQ(code(bytes, n, 8), StatusCode::kInvalidArgument);
  // A key count far beyond the bytes is refused before any allocation.
  std::string huge = bytes;
  const uint64_t many = uint64_t{1} << 40;
  std::memcpy(huge.data() + 8, &many, 8);
  EXPECT_EQ(code(huge, many, 9), StatusCode::kInvalidArgument);
}

TEST(MphKeyIndexTest, EnumerableLayoutsRefuseSerialize) {
  auto compact = KeyIndex::Build({}, {}, 0, Layout(IndexLayout::kCompact));
  ASSERT_TRUE(compact.ok());
  EXPECT_EQ((*compact)->Serialize().status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE((*compact)->enumerable());
}

TEST(MphKeyIndexTest, BytesMatchPredictionAndStayFarBelowCompact) {
  const size_t n = 1000000;
  const std::vector<uint64_t> keys = RandomKeys(n, 51);
  auto index = KeyIndex::Build(keys, Values(n, 64), 63, Mph(8));
  ASSERT_TRUE(index.ok());
  const size_t predicted = KeyIndex::PredictBytes(n, 63, Mph(8));
  EXPECT_GE((*index)->bytes(), predicted);
  EXPECT_LE((*index)->bytes(), predicted + 1000 * 48);  // the final map
  // MPH ~0.46 + values 0.75 + fingerprints 1.0 B/key.
  EXPECT_LT((*index)->bytes(), n * 2.5);
  EXPECT_LT(3 * (*index)->bytes(),
            KeyIndex::PredictBytes(n, 63, Layout(IndexLayout::kCompact)));
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
