#include "server/storage/initializer.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "gtest/gtest.h"

namespace strata {
namespace {

InitializerConfig Uniform(float low, float high, uint64_t seed) {
  InitializerConfig c;
  c.set_type(InitializerConfig::UNIFORM);
  c.set_low(low);
  c.set_high(high);
  c.set_seed(seed);
  return c;
}

InitializerConfig Normal(float mean, float stddev, uint64_t seed) {
  InitializerConfig c;
  c.set_type(InitializerConfig::NORMAL);
  c.set_mean(mean);
  c.set_stddev(stddev);
  c.set_seed(seed);
  return c;
}

TEST(InitializerTest, ValidateAcceptsWellFormedConfigs) {
  EXPECT_TRUE(ValidateInitializer(InitializerConfig()).ok());
  EXPECT_TRUE(ValidateInitializer(Uniform(-1, 1, 0)).ok());
  EXPECT_TRUE(ValidateInitializer(Normal(0, 0, 0)).ok());
  EXPECT_TRUE(ValidateInitializer(Normal(3, 0.1f, 9)).ok());
}

TEST(InitializerTest, ValidateRejectsBadConfigs) {
  EXPECT_EQ(ValidateInitializer(Uniform(1, 1, 0)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateInitializer(Uniform(2, 1, 0)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateInitializer(Normal(0, -0.5f, 0)).code(),
            absl::StatusCode::kInvalidArgument);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(ValidateInitializer(Uniform(nan, 1, 0)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateInitializer(Uniform(0, inf, 0)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateInitializer(Normal(inf, 1, 0)).code(),
            absl::StatusCode::kInvalidArgument);
  InitializerConfig zeros_with_nan;
  zeros_with_nan.set_stddev(nan);
  EXPECT_EQ(ValidateInitializer(zeros_with_nan).code(),
            absl::StatusCode::kInvalidArgument);
  InitializerConfig unknown;
  unknown.set_type(static_cast<InitializerConfig::Type>(7));
  EXPECT_EQ(ValidateInitializer(unknown).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(InitializerTest, ZerosWritesZeros) {
  std::vector<float> row(5, 7.0f);
  InitializeRow(InitializerConfig(), 99, 5, row.data());
  EXPECT_EQ(row, std::vector<float>(5, 0.0f));
}

// Reference values computed by an independent Python implementation of the
// formula in initializer.h; they pin the initialisation contract.
TEST(InitializerTest, MatchesTheDocumentedFormula) {
  float row[3];
  InitializeRow(Uniform(-1, 1, 0), 0, 3, row);
  EXPECT_FLOAT_EQ(row[0], 0.9422041773796082f);
  EXPECT_FLOAT_EQ(row[1], 0.805202066898346f);
  EXPECT_FLOAT_EQ(row[2], -0.36981961131095886f);
  InitializeRow(Uniform(-1, 1, 42), 123456789, 3, row);
  EXPECT_FLOAT_EQ(row[0], -0.386412113904953f);
  EXPECT_FLOAT_EQ(row[1], 0.1971767246723175f);
  EXPECT_FLOAT_EQ(row[2], -0.6305699348449707f);
  InitializeRow(Normal(0.5f, 2, 0), 0, 3, row);
  EXPECT_FLOAT_EQ(row[0], 0.4157293736934662f);
  EXPECT_FLOAT_EQ(row[1], 0.004180316347628832f);
  EXPECT_FLOAT_EQ(row[2], 2.57731032371521f);
  InitializeRow(Normal(0.5f, 2, 42), 123456789, 3, row);
  EXPECT_FLOAT_EQ(row[0], 3.571958065032959f);
  EXPECT_FLOAT_EQ(row[1], 1.9390231370925903f);
  EXPECT_FLOAT_EQ(row[2], -0.8835651278495789f);
}

std::vector<uint32_t> Bits(const float* v, int n) {
  std::vector<uint32_t> bits(n);
  std::memcpy(bits.data(), v, n * sizeof(float));
  return bits;
}

// Bit-exact values computed from the initializer before its hashes moved to
// proto/base/hash.h. Part of the checkpoint contract: never update them.
TEST(InitializerTest, MatchesGoldenBitsExactly) {
  float row[4];
  InitializeRow(Uniform(-0.5f, 0.5f, 7), 12345, 4, row);
  EXPECT_EQ(Bits(row, 4), (std::vector<uint32_t>{0xbefa6b89, 0xbe82f688,
                                                 0xbed72864, 0x3da12ede}));
  InitializeRow(Normal(0, 1, 7), 12345, 4, row);
  EXPECT_EQ(Bits(row, 4), (std::vector<uint32_t>{0x3ff5329e, 0xbfbfa9d1,
                                                 0x400059ab, 0xbdcbe9e7}));
  InitializeDense(Uniform(-0.5f, 0.5f, 7), "fc1.weight", 4, row);
  EXPECT_EQ(Bits(row, 4), (std::vector<uint32_t>{0xbe4adc25, 0x3ea2fb34,
                                                 0x3e744184, 0xbd0df879}));
  EXPECT_EQ(DenseStreamKey("fc1.weight"), 0x0fc5ab63896269edULL);
}

TEST(InitializerTest, ValuesArePureFunctionOfSeedKeyAndColumn) {
  const InitializerConfig config = Normal(0, 1, 7);
  std::vector<float> forward, backward;
  float row[16];
  for (uint64_t key = 0; key < 100; ++key) {
    InitializeRow(config, key, 16, row);
    forward.insert(forward.end(), row, row + 16);
  }
  for (uint64_t key = 100; key-- > 0;) {
    InitializeRow(config, key, 16, row);
    backward.insert(backward.begin(), row, row + 16);
  }
  EXPECT_EQ(forward, backward);
  // Column c does not depend on the row width.
  float narrow[4];
  InitializeRow(config, 5, 4, narrow);
  for (int c = 0; c < 4; ++c) EXPECT_EQ(narrow[c], forward[5 * 16 + c]);
}

TEST(InitializerTest, SeedsKeysAndColumnsGiveDifferentValues) {
  float a[4], b[4], c[4];
  InitializeRow(Uniform(0, 1, 1), 10, 4, a);
  InitializeRow(Uniform(0, 1, 2), 10, 4, b);
  InitializeRow(Uniform(0, 1, 1), 11, 4, c);
  for (int i = 0; i < 4; ++i) {
    EXPECT_NE(a[i], b[i]);
    EXPECT_NE(a[i], c[i]);
  }
  EXPECT_NE(a[0], a[1]);
  // seed ^ key collisions must not alias: (seed 1, key 0) vs (seed 0, key 1).
  InitializeRow(Uniform(0, 1, 1), 0, 4, a);
  InitializeRow(Uniform(0, 1, 0), 1, 4, b);
  EXPECT_NE(a[0], b[0]);
}

TEST(InitializerTest, UniformCoversTheHalfOpenRange) {
  constexpr int kN = 200000;
  std::vector<float> v(kN);
  InitializeStream(Uniform(-0.25f, 0.75f, 3), 1, kN, v.data());
  const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
  EXPECT_GE(*lo, -0.25f);
  EXPECT_LT(*hi, 0.75f);
  EXPECT_LT(*lo, -0.24f);
  EXPECT_GT(*hi, 0.74f);
  double sum = 0;
  for (float x : v) sum += x;
  EXPECT_NEAR(sum / kN, 0.25, 0.005);
}

TEST(InitializerTest, UniformNeverReturnsHighForTinyRanges) {
  const float low = 1.0f;
  const float high = std::nextafter(low, 2.0f);
  std::vector<float> v(10000);
  InitializeStream(Uniform(low, high, 0), 0, v.size(), v.data());
  for (float x : v) EXPECT_EQ(x, low);
}

TEST(InitializerTest, NormalHasRequestedMeanAndStddev) {
  constexpr int kN = 200000;
  std::vector<float> v(kN);
  InitializeStream(Normal(2, 0.5f, 11), 77, kN, v.data());
  double sum = 0, sq = 0;
  for (float x : v) {
    ASSERT_TRUE(std::isfinite(x));
    sum += x;
    sq += static_cast<double>(x) * x;
  }
  const double mean = sum / kN;
  const double var = sq / kN - mean * mean;
  EXPECT_NEAR(mean, 2.0, 0.01);
  EXPECT_NEAR(std::sqrt(var), 0.5, 0.005);
}

TEST(InitializerTest, NormalWithZeroStddevIsTheMean) {
  float row[8];
  InitializeRow(Normal(1.5f, 0, 0), 3, 8, row);
  for (float x : row) EXPECT_EQ(x, 1.5f);
}

TEST(InitializerTest, DenseTensorsUseAPerNameStream) {
  const InitializerConfig config = Uniform(-1, 1, 0);
  std::vector<float> a(64), b(64), s(64);
  InitializeDense(config, "fc1.weight", 64, a.data());
  InitializeDense(config, "fc2.weight", 64, b.data());
  InitializeStream(config, DenseStreamKey("fc1.weight"), 64, s.data());
  EXPECT_EQ(a, s);
  EXPECT_NE(a, b);
  EXPECT_NE(DenseStreamKey("a"), DenseStreamKey("b"));
  EXPECT_EQ(DenseStreamKey(""), 0xcbf29ce484222325ULL);
}

}  // namespace
}  // namespace strata
