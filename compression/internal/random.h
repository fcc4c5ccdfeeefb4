// Portable, seedable randomness: the same seed gives the same numbers on
// every platform (std::uniform_*_distribution does not promise that).
#ifndef STRATA_COMPRESSION_INTERNAL_RANDOM_H_
#define STRATA_COMPRESSION_INTERNAL_RANDOM_H_

#include <cstdint>
#include <random>

#include "proto/base/hash.h"

namespace strata::compression::internal {

// A uniform double in [0, 1) from 53 random bits of a 64-bit engine.
inline double UniformDouble(std::mt19937_64& rng) {
  return static_cast<double>(rng() >> 11) * 0x1.0p-53;
}

// A uniform double in the open interval (0, 1), a pure function of
// (seed, i): counter-based, so it does not depend on evaluation order.
inline double HashToUnit(uint64_t seed, uint64_t i) {
  const uint64_t h = SplitMix64(i ^ SplitMix64(seed));
  return (static_cast<double>(h >> 11) + 0.5) * 0x1.0p-53;
}

// A standard normal deviate (Box-Muller on two UniformDouble draws).
double StandardNormal(std::mt19937_64& rng);

}  // namespace strata::compression::internal

#endif  // STRATA_COMPRESSION_INTERNAL_RANDOM_H_
