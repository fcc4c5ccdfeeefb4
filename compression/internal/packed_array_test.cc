#include "compression/internal/packed_array.h"

#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace strata::compression::internal {
namespace {

TEST(PackedArrayTest, RoundTripsEveryWidthAcrossWordBoundaries) {
  std::mt19937_64 rng(1);
  for (int width = 1; width <= 64; ++width) {
    const size_t n = 131;
    PackedArray a(n, width);
    EXPECT_EQ(a.bytes(), (n * width + 63) / 64 * 8);
    const uint64_t mask = width == 64 ? ~0ULL : (1ULL << width) - 1;
    std::vector<uint64_t> expect(n);
    for (size_t i = 0; i < n; ++i) {
      expect[i] = rng() & mask;
      a.Set(i, expect[i]);
    }
    // Overwrite every other slot to check that Set clears old bits.
    for (size_t i = 0; i < n; i += 2) {
      expect[i] = ~expect[i] & mask;
      a.Set(i, expect[i]);
    }
    for (size_t i = 0; i < n; ++i) ASSERT_EQ(a.Get(i), expect[i]) << width;
  }
}

TEST(PackedArrayTest, BitWidthCoversMaxValue) {
  EXPECT_EQ(BitWidth(0), 1);
  EXPECT_EQ(BitWidth(1), 1);
  EXPECT_EQ(BitWidth(2), 2);
  EXPECT_EQ(BitWidth(255), 8);
  EXPECT_EQ(BitWidth(256), 9);
  EXPECT_EQ(BitWidth(~0ULL), 64);
}

}  // namespace
}  // namespace strata::compression::internal
