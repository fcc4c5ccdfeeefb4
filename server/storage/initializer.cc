#include "server/storage/initializer.h"

#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "proto/base/hash.h"

namespace strata {
namespace {

// Uniform double in the open interval (0, 1) from the top 53 bits.
inline double ToUnit(uint64_t h) {
  return (static_cast<double>(h >> 11) + 0.5) * 0x1.0p-53;
}

inline double Uniform(uint64_t row, uint64_t col, uint64_t j) {
  return ToUnit(SplitMix64(row + (2 * col + j + 1) * kGoldenGamma));
}

}  // namespace

absl::Status ValidateInitializer(const InitializerConfig& config) {
  const float fields[] = {config.low(), config.high(), config.mean(),
                          config.stddev()};
  for (float f : fields) {
    if (!std::isfinite(f)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "initializer fields must be finite: ", config.ShortDebugString()));
    }
  }
  switch (config.type()) {
    case InitializerConfig::ZEROS:
      return absl::OkStatus();
    case InitializerConfig::UNIFORM:
      if (!(config.low() < config.high())) {
        return absl::InvalidArgumentError(absl::StrCat(
            "UNIFORM initializer needs low < high, got low=", config.low(),
            " high=", config.high()));
      }
      return absl::OkStatus();
    case InitializerConfig::NORMAL:
      if (config.stddev() < 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            "NORMAL initializer needs stddev >= 0, got ", config.stddev()));
      }
      return absl::OkStatus();
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("unknown initializer type ", config.type()));
  }
}

void InitializeStream(const InitializerConfig& config, uint64_t key,
                      uint64_t count, float* out) {
  const uint64_t row = SplitMix64(key ^ SplitMix64(config.seed()));
  switch (config.type()) {
    case InitializerConfig::UNIFORM: {
      const double low = config.low();
      const double span = static_cast<double>(config.high()) - low;
      const float high = config.high();
      // Largest float strictly below `high`: rounding must not reach it.
      const float below =
          std::nextafter(high, -std::numeric_limits<float>::infinity());
      for (uint64_t c = 0; c < count; ++c) {
        const float v = static_cast<float>(low + span * Uniform(row, c, 0));
        out[c] = v < high ? v : below;
      }
      return;
    }
    case InitializerConfig::NORMAL: {
      const double mean = config.mean();
      const double stddev = config.stddev();
      constexpr double kTwoPi = 6.283185307179586476925286766559;
      for (uint64_t c = 0; c < count; ++c) {
        const double r = std::sqrt(-2.0 * std::log(Uniform(row, c, 0)));
        const double z = r * std::cos(kTwoPi * Uniform(row, c, 1));
        out[c] = static_cast<float>(mean + stddev * z);
      }
      return;
    }
    default:  // ZEROS
      for (uint64_t c = 0; c < count; ++c) out[c] = 0.0f;
      return;
  }
}

void InitializeRow(const InitializerConfig& config, uint64_t key, uint32_t dim,
                   float* out) {
  InitializeStream(config, key, dim, out);
}

uint64_t DenseStreamKey(absl::string_view name) { return Fnv1a64(name); }

void InitializeDense(const InitializerConfig& config, absl::string_view name,
                     uint64_t size, float* out) {
  InitializeStream(config, DenseStreamKey(name), size, out);
}

}  // namespace strata
