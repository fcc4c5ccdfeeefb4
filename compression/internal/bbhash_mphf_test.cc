#include "compression/internal/bbhash_mphf.h"

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "proto/base/hash.h"

namespace strata::compression::internal {
namespace {

// n distinct pseudo-random keys (SplitMix64 is a bijection).
std::vector<uint64_t> DistinctKeys(size_t n, uint64_t seed) {
  std::vector<uint64_t> keys(n);
  for (size_t i = 0; i < n; ++i) keys[i] = SplitMix64((seed << 32) + i);
  return keys;
}

TEST(BBHashMphfTest, MapsEveryKeyToADistinctPositionBelowN) {
  for (size_t n : {1, 2, 63, 64, 65, 1000, 100000}) {
    const std::vector<uint64_t> keys = DistinctKeys(n, n);
    absl::StatusOr<BBHashMphf> f = BBHashMphf::Build(keys);
    ASSERT_TRUE(f.ok()) << f.status();
    std::vector<bool> used(n, false);
    for (uint64_t k : keys) {
      const uint64_t pos = f->Lookup(k);
      ASSERT_LT(pos, n) << "n = " << n;
      EXPECT_FALSE(used[pos]) << "n = " << n;
      used[pos] = true;
    }
    EXPECT_LE(f->bytes(), BBHashMphf::PredictBytes(n) + 64 * 48) << n;
  }
}

TEST(BBHashMphfTest, EmptyFunctionFindsNothing) {
  absl::StatusOr<BBHashMphf> f = BBHashMphf::Build({});
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->Lookup(7), BBHashMphf::kNotFound);
  EXPECT_EQ(f->bytes(), 0u);
  EXPECT_EQ(*f->Serialize(), "");
}

TEST(BBHashMphfTest, SerializeRoundTripsAndIsDeterministic) {
  const std::vector<uint64_t> keys = DistinctKeys(20000, 3);
  absl::StatusOr<BBHashMphf> a = BBHashMphf::Build(keys);
  absl::StatusOr<BBHashMphf> b = BBHashMphf::Build(keys);
  ASSERT_TRUE(a.ok() && b.ok());
  const std::string bytes = *a->Serialize();
  EXPECT_EQ(bytes, *b->Serialize());
  absl::StatusOr<BBHashMphf> c = BBHashMphf::Deserialize(bytes, keys.size());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->bytes(), a->bytes());
  for (uint64_t k : keys) EXPECT_EQ(c->Lookup(k), a->Lookup(k));
}

TEST(BBHashMphfTest, DeserializeRejectsCorruptLayouts) {
  const std::vector<uint64_t> keys = DistinctKeys(5000, 4);
  const std::string bytes = *BBHashMphf::Build(keys)->Serialize();
  const auto code = [&](const std::string& b, uint64_t n) {
    return BBHashMphf::Deserialize(b, n).status().code();
  };
  EXPECT_EQ(code(bytes, keys.size() + 1), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(bytes.substr(0, bytes.size() - 1), keys.size()),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(bytes + "x", keys.size()), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code("", keys.size()), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code("x", 0), absl::StatusCode::kInvalidArgument);
  std::string nan_gamma = bytes;
  const double nan = std::nan("");
  std::memcpy(nan_gamma.data(), &nan, sizeof(nan));
  EXPECT_EQ(code(nan_gamma, keys.size()), absl::StatusCode::kInvalidArgument);
  std::string huge_level = bytes;  // level 0's bit count (after 28 bytes)
  const uint64_t huge = uint64_t{1} << 60;
  std::memcpy(huge_level.data() + 28, &huge, sizeof(huge));
  EXPECT_EQ(code(huge_level, keys.size()), absl::StatusCode::kInvalidArgument);
}

TEST(BBHashMphfTest, FlippedBitsNeverCrashAndStayBelowN) {
  const std::vector<uint64_t> keys = DistinctKeys(3000, 5);
  const std::string bytes = *BBHashMphf::Build(keys)->Serialize();
  std::mt19937_64 rng(6);
  for (int trial = 0; trial < 200; ++trial) {
    std::string b = bytes;
    b[rng() % b.size()] ^= static_cast<char>(1 << (rng() % 8));
    absl::StatusOr<BBHashMphf> f = BBHashMphf::Deserialize(b, keys.size());
    if (!f.ok()) {
      EXPECT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument);
      continue;
    }
    for (size_t i = 0; i < 100; ++i) {
      const uint64_t pos = f->Lookup(keys[i]);
      EXPECT_TRUE(pos < keys.size() || pos == BBHashMphf::kNotFound);
    }
  }
}

}  // namespace
}  // namespace strata::compression::internal
