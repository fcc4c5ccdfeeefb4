// The one home of Strata's non-cryptographic hash functions. Their outputs
// are part of the checkpoint contract (key routing, parameter
// initialisation) and of reproducibility (Saec's key order, synthetic CTR
// data, NN weight seeds), so they never change: proto/base/hash_test.cc pins
// golden values. Plain C++ (Abseil's string_view only): no protobuf, no gRPC.
//
//   SplitMix64(x)         the splitmix64 generator's output for state x
//   SplitMix64Inverse(h)  its inverse (SplitMix64 is a bijection)
//   Fnv1a64(s)            64-bit FNV-1a of a byte string
//   Fnv1a64(s, basis)     the same loop from another starting state
//
// All functions are pure and thread-safe.
#ifndef STRATA_PROTO_BASE_HASH_H_
#define STRATA_PROTO_BASE_HASH_H_

#include <cstdint>

#include "absl/strings/string_view.h"

namespace strata {

// 2^64 / phi, rounded to odd: splitmix64's state increment. Multiples of it
// (a Weyl sequence) spread consecutive counters over all 64 bits.
inline constexpr uint64_t kGoldenGamma = 0x9e3779b97f4a7c15ULL;

namespace hash_internal {
// The multipliers of the splitmix64 finaliser (Stafford's Mix13).
inline constexpr uint64_t kSplitMix64Mul1 = 0xbf58476d1ce4e5b9ULL;
inline constexpr uint64_t kSplitMix64Mul2 = 0x94d049bb133111ebULL;
}  // namespace hash_internal

// splitmix64 (Steele, Lea, Flood 2014): adds kGoldenGamma to `x`, then
// applies the splitmix64 finaliser. A bijection on 64-bit integers with full
// avalanche, so consecutive or field-prefixed inputs map to unrelated
// outputs. Inline: it is on the routing and initialisation hot paths.
constexpr uint64_t SplitMix64(uint64_t x) {
  x += kGoldenGamma;
  x = (x ^ (x >> 30)) * hash_internal::kSplitMix64Mul1;
  x = (x ^ (x >> 27)) * hash_internal::kSplitMix64Mul2;
  return x ^ (x >> 31);
}

// The inverse of SplitMix64: SplitMix64Inverse(SplitMix64(x)) == x. Lets an
// index that stores only SplitMix64(key) enumerate its keys.
uint64_t SplitMix64Inverse(uint64_t h);

// FNV-1a 64's offset basis: the state before the first byte.
inline constexpr uint64_t kFnv1a64OffsetBasis = 0xcbf29ce484222325ULL;

// 64-bit FNV-1a of the bytes of `s`, starting from state `basis`. With the
// default basis it is the standard FNV-1a 64 (Fnv1a64("") ==
// 0xcbf29ce484222325, Fnv1a64("a") == 0xaf63dc4c8601ec8c); another basis
// gives another, equally well-mixed family of string hashes.
uint64_t Fnv1a64(absl::string_view s, uint64_t basis = kFnv1a64OffsetBasis);

}  // namespace strata

#endif  // STRATA_PROTO_BASE_HASH_H_
