#include "worker/cnn/wire.h"

#include <cmath>
#include <cstring>

#include "absl/base/config.h"
#include "absl/strings/str_cat.h"

namespace strata {
namespace cnn {

static_assert(ABSL_IS_LITTLE_ENDIAN, "the Stanza wire format is little-endian");

uint16_t FloatToHalf(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t abs = x & 0x7fffffffu;
  if (abs >= 0x7f800000u) {  // inf or nan
    return static_cast<uint16_t>(sign | 0x7c00u | (abs > 0x7f800000u ? 0x200u : 0));
  }
  if (abs >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // overflow
  if (abs < 0x38800000u) {  // subnormal half or zero
    if (abs < 0x33000000u) return static_cast<uint16_t>(sign);
    const uint32_t mant = (abs & 0x7fffffu) | 0x800000u;
    const int shift = 126 - static_cast<int>(abs >> 23);  // 14..24
    uint32_t h = mant >> shift;
    const uint32_t rem = mant & ((1u << shift) - 1);
    const uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (h & 1u))) ++h;
    return static_cast<uint16_t>(sign | h);
  }
  uint32_t h = ((abs - 0x38000000u) >> 13);
  const uint32_t rem = abs & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;
  return static_cast<uint16_t>(sign | h);
}

float HalfToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  uint32_t x;
  if (exp == 0x1f) {
    x = sign | 0x7f800000u | (mant << 13);
  } else if (exp != 0) {
    x = sign | ((exp + 112) << 23) | (mant << 13);
  } else if (mant == 0) {
    x = sign;
  } else {  // subnormal: normalise
    exp = 113;
    while ((mant & 0x400u) == 0) {
      mant <<= 1;
      --exp;
    }
    x = sign | (exp << 23) | ((mant & 0x3ffu) << 13);
  }
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}

void PackFloats(absl::Span<const float> values, WireFormat format,
                std::string* out) {
  if (format == FLOAT16) {
    out->resize(values.size() * 2);
    char* p = out->data();
    for (size_t i = 0; i < values.size(); ++i) {
      const uint16_t h = FloatToHalf(values[i]);
      std::memcpy(p + 2 * i, &h, 2);
    }
    return;
  }
  out->assign(reinterpret_cast<const char*>(values.data()),
              values.size() * sizeof(float));
}

absl::Status UnpackFloats(absl::string_view bytes, WireFormat format,
                          absl::Span<float> out) {
  size_t width = 0;
  if (format == FLOAT32) width = 4;
  if (format == FLOAT16) width = 2;
  if (width == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown wire format ", static_cast<int>(format)));
  }
  if (bytes.size() != out.size() * width) {
    return absl::InvalidArgumentError(
        absl::StrCat("payload has ", bytes.size(), " bytes; expected ",
                     out.size(), " x ", width));
  }
  if (width == 4) {
    std::memcpy(out.data(), bytes.data(), bytes.size());
    return absl::OkStatus();
  }
  for (size_t i = 0; i < out.size(); ++i) {
    uint16_t h;
    std::memcpy(&h, bytes.data() + 2 * i, 2);
    out[i] = HalfToFloat(h);
  }
  return absl::OkStatus();
}

absl::Status CheckFinite(absl::Span<const float> values,
                         absl::string_view what) {
  for (size_t i = 0; i < values.size(); ++i) {
    if (!std::isfinite(values[i])) {
      return absl::InvalidArgumentError(absl::StrCat(
          what, " has a non-finite value (", values[i], ") at index ", i));
    }
  }
  return absl::OkStatus();
}

}  // namespace cnn
}  // namespace strata
