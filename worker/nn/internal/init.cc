#include "worker/nn/internal/init.h"

#include <cmath>
#include <random>

#include "proto/base/hash.h"

namespace strata {
namespace nn {
namespace internal {
namespace {

// The FNV-1a starting state of MixSeed, before the seed is mixed in: the
// FNV offset basis 14695981039346656037 with its last digit dropped, as it
// was first typed. Every model's initial weights depend on it, so it stays.
constexpr uint64_t kMixSeedBasis = 1469598103934665603ULL;

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
  return Fnv1a64(s, kMixSeedBasis ^ seed);
}

}  // namespace internal
}  // namespace nn
}  // namespace strata
