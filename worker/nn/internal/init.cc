#include "worker/nn/internal/init.h"

#include <cmath>
#include <random>

namespace strata {
namespace nn {
namespace internal {
namespace {

// Uniform in [0, 1) from 24 random bits: identical on every platform.
double Uniform01(std::mt19937_64& rng) {
  return static_cast<double>(rng() >> 40) / static_cast<double>(1 << 24);
}

}  // namespace

std::vector<float> HeNormal(int64_t n, int64_t fan_in, uint64_t seed) {
  std::mt19937_64 rng(seed);
  const double stddev = std::sqrt(2.0 / static_cast<double>(fan_in));
  std::vector<float> out(n);
  for (int64_t i = 0; i < n; ++i) {  // Box-Muller, one value per pair.
    const double u1 = 1.0 - Uniform01(rng);
    const double u2 = Uniform01(rng);
    out[i] = static_cast<float>(stddev * std::sqrt(-2.0 * std::log(u1)) *
                                std::cos(2.0 * M_PI * u2));
  }
  return out;
}

std::vector<float> XavierUniform(int64_t n, int64_t fan_in, int64_t fan_out,
                                 uint64_t seed) {
  std::mt19937_64 rng(seed);
  const double a = std::sqrt(6.0 / static_cast<double>(fan_in + fan_out));
  std::vector<float> out(n);
  for (int64_t i = 0; i < n; ++i) {
    out[i] = static_cast<float>(a * (2.0 * Uniform01(rng) - 1.0));
  }
  return out;
}

uint64_t MixSeed(uint64_t seed, absl::string_view s) {
  uint64_t h = 1469598103934665603ULL ^ seed;
  for (char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ULL;
  }
  return h;
}

}  // namespace internal
}  // namespace nn
}  // namespace strata
