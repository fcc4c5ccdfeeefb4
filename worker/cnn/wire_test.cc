#include "worker/cnn/wire.h"

#include <cmath>
#include <limits>
#include <vector>

#include "gtest/gtest.h"

namespace strata {
namespace cnn {
namespace {

TEST(WireTest, Float32RoundTripsBitExactly) {
  const std::vector<float> v = {0.f, -1.5f, 3.25e-20f, 1e30f, -7.125f};
  std::string bytes;
  PackFloats(v, FLOAT32, &bytes);
  EXPECT_EQ(bytes.size(), v.size() * 4);
  std::vector<float> out(v.size());
  ASSERT_TRUE(UnpackFloats(bytes, FLOAT32, absl::MakeSpan(out)).ok());
  EXPECT_EQ(out, v);
}

TEST(WireTest, HalfKnownValuesAndRounding) {
  EXPECT_EQ(FloatToHalf(1.0f), 0x3c00);
  EXPECT_EQ(FloatToHalf(-2.0f), 0xc000);
  EXPECT_EQ(FloatToHalf(65504.f), 0x7bff);
  EXPECT_EQ(FloatToHalf(1e6f), 0x7c00);               // overflow -> inf
  EXPECT_EQ(FloatToHalf(5.9604645e-8f), 0x0001);      // smallest subnormal
  EXPECT_EQ(FloatToHalf(1.0f + 1.0f / 2048), 0x3c00);  // tie -> even
  EXPECT_EQ(FloatToHalf(1.0f + 3.0f / 2048), 0x3c02);  // tie -> even (up)
  for (uint32_t h = 0; h < 0x7c00; ++h) {  // every finite positive half
    EXPECT_EQ(FloatToHalf(HalfToFloat(static_cast<uint16_t>(h))), h);
  }
}

TEST(WireTest, HalfRelativeErrorIsBelowTwoToMinusEleven) {
  std::vector<float> v;
  for (int i = -2000; i <= 2000; ++i) v.push_back(i * 0.0137f);
  std::string bytes;
  PackFloats(v, FLOAT16, &bytes);
  EXPECT_EQ(bytes.size(), v.size() * 2);
  std::vector<float> out(v.size());
  ASSERT_TRUE(UnpackFloats(bytes, FLOAT16, absl::MakeSpan(out)).ok());
  for (size_t i = 0; i < v.size(); ++i) {
    EXPECT_LE(std::abs(out[i] - v[i]), std::abs(v[i]) / 2048 + 1e-7) << v[i];
  }
}

TEST(WireTest, WrongSizeIsInvalidArgument) {
  std::vector<float> out(3);
  EXPECT_EQ(UnpackFloats(std::string(10, 'x'), FLOAT32, absl::MakeSpan(out))
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(UnpackFloats(std::string(6, 'x'), static_cast<WireFormat>(9),
                         absl::MakeSpan(out))
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(WireTest, CheckFiniteNamesTheFirstNonFiniteValue) {
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_TRUE(CheckFinite({0.f, -1e30f, 65504.f}, "x").ok());
  const absl::Status nan =
      CheckFinite({1.f, std::nanf(""), inf}, "activations");
  EXPECT_EQ(nan.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(nan.message(),
            "activations has a non-finite value (nan) at index 1");
  EXPECT_EQ(CheckFinite({-inf}, "g").message(),
            "g has a non-finite value (-inf) at index 0");
}

}  // namespace
}  // namespace cnn
}  // namespace strata
