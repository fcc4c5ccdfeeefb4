#include "compression/internal/random.h"

#include <cmath>

namespace strata::compression::internal {

double StandardNormal(std::mt19937_64& rng) {
  const double u1 = 1.0 - UniformDouble(rng);  // (0, 1]
  const double u2 = UniformDouble(rng);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

}  // namespace strata::compression::internal
