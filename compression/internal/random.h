// Portable, seedable randomness: the same seed gives the same numbers on
// every platform (std::uniform_*_distribution does not promise that).
#ifndef STRATA_COMPRESSION_INTERNAL_RANDOM_H_
#define STRATA_COMPRESSION_INTERNAL_RANDOM_H_

#include <cstdint>
#include <random>

namespace strata::compression::internal {

// splitmix64 finaliser: a bijection on 64-bit integers with good avalanche.
inline uint64_t Mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

namespace random_internal {
// x such that x * a == 1 (mod 2^64), for odd a (Newton's iteration).
constexpr uint64_t InverseMod64(uint64_t a) {
  uint64_t x = a;  // correct to 3 bits for odd a
  for (int i = 0; i < 5; ++i) x *= 2 - a * x;
  return x;
}
// Inverse of x ^= x >> s.
constexpr uint64_t UnXorShift(uint64_t y, int s) {
  uint64_t x = y;
  for (int i = s; i < 64; i += s) x = y ^ (x >> s);
  return x;
}
}  // namespace random_internal

// The inverse of Mix64 (a bijection): UnMix64(Mix64(x)) == x. Lets an index
// that stores only Mix64(key) enumerate its keys.
inline uint64_t UnMix64(uint64_t h) {
  using random_internal::InverseMod64;
  using random_internal::UnXorShift;
  h = UnXorShift(h, 31);
  h *= InverseMod64(0x94d049bb133111ebULL);
  h = UnXorShift(h, 27);
  h *= InverseMod64(0xbf58476d1ce4e5b9ULL);
  h = UnXorShift(h, 30);
  return h - 0x9e3779b97f4a7c15ULL;
}

// A uniform double in [0, 1) from 53 random bits of a 64-bit engine.
inline double UniformDouble(std::mt19937_64& rng) {
  return static_cast<double>(rng() >> 11) * 0x1.0p-53;
}

// A uniform double in the open interval (0, 1), a pure function of
// (seed, i): counter-based, so it does not depend on evaluation order.
inline double HashToUnit(uint64_t seed, uint64_t i) {
  const uint64_t h = Mix64(i ^ Mix64(seed));
  return (static_cast<double>(h >> 11) + 0.5) * 0x1.0p-53;
}

// A standard normal deviate (Box-Muller on two UniformDouble draws).
double StandardNormal(std::mt19937_64& rng);

}  // namespace strata::compression::internal

#endif  // STRATA_COMPRESSION_INTERNAL_RANDOM_H_
