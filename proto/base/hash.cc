#include "proto/base/hash.h"

namespace strata {
namespace {

// x such that x * a == 1 (mod 2^64), for odd a (Newton's iteration: each
// step doubles the number of correct low bits, 3 -> 96).
constexpr uint64_t InverseMod64(uint64_t a) {
  uint64_t x = a;  // correct to 3 bits for odd a
  for (int i = 0; i < 5; ++i) x *= 2 - a * x;
  return x;
}

// The inverse of y = x ^ (x >> s).
constexpr uint64_t UnXorShift(uint64_t y, int s) {
  uint64_t x = y;
  for (int i = s; i < 64; i += s) x = y ^ (x >> s);
  return x;
}

constexpr uint64_t kFnv1a64Prime = 0x100000001b3ULL;

}  // namespace

uint64_t SplitMix64Inverse(uint64_t h) {
  h = UnXorShift(h, 31);
  h *= InverseMod64(hash_internal::kSplitMix64Mul2);
  h = UnXorShift(h, 27);
  h *= InverseMod64(hash_internal::kSplitMix64Mul1);
  h = UnXorShift(h, 30);
  return h - kGoldenGamma;
}

uint64_t Fnv1a64(absl::string_view s, uint64_t basis) {
  uint64_t h = basis;
  for (unsigned char c : s) {
    h ^= c;
    h *= kFnv1a64Prime;
  }
  return h;
}

}  // namespace strata
