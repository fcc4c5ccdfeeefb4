// Seeded weight initialisers (host side; the caller copies to the backend).
#ifndef STRATA_WORKER_NN_INTERNAL_INIT_H_
#define STRATA_WORKER_NN_INTERNAL_INIT_H_

#include <cstdint>
#include <vector>

#include "absl/strings/string_view.h"

namespace strata {
namespace nn {
namespace internal {

// He (Kaiming) normal: N(0, 2 / fan_in). Suited to ReLU layers.
std::vector<float> HeNormal(int64_t n, int64_t fan_in, uint64_t seed);
// Xavier (Glorot) uniform: U(-a, a), a = sqrt(6 / (fan_in + fan_out)).
std::vector<float> XavierUniform(int64_t n, int64_t fan_in, int64_t fan_out,
                                 uint64_t seed);
// Fnv1a64 of `s` from a basis mixed with `seed` (proto/base/hash.h): a
// platform-independent per-layer seed.
uint64_t MixSeed(uint64_t seed, absl::string_view s);

}  // namespace internal
}  // namespace nn
}  // namespace strata

#endif  // STRATA_WORKER_NN_INTERNAL_INIT_H_
