#include "worker/nn/internal/init.h"

#include <cmath>

#include "gtest/gtest.h"

namespace strata {
namespace nn {
namespace internal {
namespace {

TEST(InitTest, XavierStaysWithinItsBoundAndIsSeeded) {
  std::vector<float> a = XavierUniform(5000, 100, 50, 3);
  EXPECT_EQ(a, XavierUniform(5000, 100, 50, 3));
  EXPECT_NE(a, XavierUniform(5000, 100, 50, 4));
  const double bound = std::sqrt(6.0 / 150);
  double sq = 0;
  for (float v : a) {
    EXPECT_LE(std::abs(v), bound);
    sq += v * v;
  }
  EXPECT_NEAR(sq / a.size(), bound * bound / 3, 0.1 * bound * bound / 3);
}

TEST(InitTest, HeNormalHasVarianceTwoOverFanIn) {
  std::vector<float> a = HeNormal(20000, 50, 9);
  double sum = 0, sq = 0;
  for (float v : a) {
    sum += v;
    sq += v * v;
  }
  EXPECT_NEAR(sum / a.size(), 0.0, 0.01);
  EXPECT_NEAR(sq / a.size(), 2.0 / 50, 0.05 * 2.0 / 50);
}

TEST(InitTest, MixSeedSeparatesNamesAndSeeds) {
  EXPECT_NE(MixSeed(1, "conv1/weight"), MixSeed(1, "conv2/weight"));
  EXPECT_NE(MixSeed(1, "conv1/weight"), MixSeed(2, "conv1/weight"));
  EXPECT_EQ(MixSeed(1, "fc"), MixSeed(1, "fc"));
}

// Every model's initial weights follow from these: computed before MixSeed
// moved onto proto/base/hash.h. Never update them.
TEST(InitTest, MixSeedMatchesGoldenValues) {
  EXPECT_EQ(MixSeed(0, ""), 0x14650fb0739d0383ULL);
  EXPECT_EQ(MixSeed(0, "a"), 0x44bd8ad473cd9906ULL);
  EXPECT_EQ(MixSeed(1, "fc1.weight"), 0xd805135946c309e6ULL);
  EXPECT_EQ(MixSeed(42, "conv1/weight"), 0x20a9f4fe5cd50dc7ULL);
}

}  // namespace
}  // namespace internal
}  // namespace nn
}  // namespace strata
