#include "proto/base/hash.h"

#include <cstdint>
#include <string>

#include "gtest/gtest.h"

namespace strata {
namespace {

// Every expected value below was computed from the implementations this
// library replaced (HashRouter::Mix, the initializer's Mix, ctr::Mix64,
// compression's Mix64/UnMix64, DenseStreamKey, nn MixSeed) before they were
// removed. They are part of the checkpoint contract: never update them.

static_assert(SplitMix64(0) == 0xe220a8397b1dcdafULL,
              "SplitMix64 is usable in constant expressions");

TEST(SplitMix64Test, MatchesGoldenValues) {
  EXPECT_EQ(SplitMix64(0), 0xe220a8397b1dcdafULL);
  EXPECT_EQ(SplitMix64(1), 0x910a2dec89025cc1ULL);
  EXPECT_EQ(SplitMix64(2), 0x975835de1c9756ceULL);
  EXPECT_EQ(SplitMix64(0xdeadbeefULL), 0x4adfb90f68c9eb9bULL);
  EXPECT_EQ(SplitMix64(kGoldenGamma), 0x6e789e6aa1b965f4ULL);
  EXPECT_EQ(SplitMix64(~uint64_t{0}), 0xe4d971771b652c20ULL);
}

TEST(SplitMix64Test, IsTheReferenceGeneratorsOutput) {
  // Vigna's splitmix64.c: `z = (state += gamma)`, then the finaliser. Its
  // published first outputs from state 0 are SplitMix64 of 0, gamma, 2 gamma.
  uint64_t state = 0;
  for (uint64_t expected :
       {0xe220a8397b1dcdafULL, 0x6e789e6aa1b965f4ULL, 0x06c45d188009454fULL}) {
    EXPECT_EQ(SplitMix64(state), expected);
    state += kGoldenGamma;
  }
}

TEST(SplitMix64InverseTest, InvertsSplitMix64) {
  EXPECT_EQ(SplitMix64Inverse(0xe220a8397b1dcdafULL), 0u);
  EXPECT_EQ(SplitMix64Inverse(0x4adfb90f68c9eb9bULL), 0xdeadbeefULL);
  EXPECT_EQ(SplitMix64Inverse(SplitMix64(~uint64_t{0})), ~uint64_t{0});
  uint64_t x = 12345;
  for (int i = 0; i < 100000; ++i) {
    ASSERT_EQ(SplitMix64Inverse(SplitMix64(x)), x);
    ASSERT_EQ(SplitMix64(SplitMix64Inverse(x)), x);
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
  }
}

TEST(Fnv1a64Test, MatchesThePublishedTestVectors) {
  EXPECT_EQ(Fnv1a64(""), 0xcbf29ce484222325ULL);
  EXPECT_EQ(Fnv1a64("a"), 0xaf63dc4c8601ec8cULL);
  EXPECT_EQ(Fnv1a64("foobar"), 0x85944171f73967e8ULL);
}

TEST(Fnv1a64Test, MatchesGoldenValues) {
  EXPECT_EQ(Fnv1a64("fc1.weight"), 0x0fc5ab63896269edULL);
  EXPECT_EQ(Fnv1a64("conv1/weight"), 0x50d4e9ddfac94733ULL);
  // Bytes are hashed unsigned: a high byte is not sign-extended.
  EXPECT_EQ(Fnv1a64(std::string("\xff", 1)),
            (kFnv1a64OffsetBasis ^ 0xffu) * 0x100000001b3ULL);
}

TEST(Fnv1a64Test, StartsFromTheGivenBasis) {
  EXPECT_EQ(Fnv1a64("", 42), 42u);
  EXPECT_EQ(Fnv1a64("a", kFnv1a64OffsetBasis), Fnv1a64("a"));
  EXPECT_EQ(Fnv1a64("a", 0x14650fb0739d0383ULL), 0x44bd8ad473cd9906ULL);
  EXPECT_EQ(Fnv1a64("foobar", 0x14650fb0739d0382ULL), 0x0f902e43a61d1d33ULL);
  EXPECT_NE(Fnv1a64("a", 1), Fnv1a64("a", 2));
}

}  // namespace
}  // namespace strata
