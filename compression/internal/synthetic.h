// Synthetic embedding fields with planted structure, for tests and
// benchmarks: features belong to latent groups (vector = group centre +
// small Gaussian noise) and their frequencies follow a Zipf law over a
// random ranking, so the clustering has real structure to find and the
// head/tail split of Saec is exercised as in production tables.
#ifndef STRATA_COMPRESSION_INTERNAL_SYNTHETIC_H_
#define STRATA_COMPRESSION_INTERNAL_SYNTHETIC_H_

#include <cstdint>
#include <vector>

namespace strata::compression::internal {

struct SyntheticSpec {
  int64_t n = 10000;
  int dim = 16;
  int64_t groups = 100;
  double centre_stddev = 1.0;  // group centres ~ N(0, centre_stddev^2 I)
  double noise_stddev = 0.05;  // vector = centre + N(0, noise_stddev^2 I)
  // Frequency of the feature of rank r (1-based, random ranking):
  // max(1, floor(max_frequency * r^-zipf_exponent)).
  double zipf_exponent = 1.05;
  double max_frequency = 1e8;
  uint64_t seed = 1;
};

struct SyntheticField {
  int dim = 0;
  std::vector<float> vectors;  // n x dim
  std::vector<uint64_t> keys;  // distinct, pseudo-random
  std::vector<uint64_t> frequencies;
  std::vector<uint32_t> group;  // latent group of each feature
  std::vector<float> centres;   // groups x dim
};

// Deterministic in the spec (seed included).
SyntheticField MakeSyntheticField(const SyntheticSpec& spec);

// Adjusted Rand index between two labelings of the same items (1 = equal up
// to renaming, ~0 = chance).
double AdjustedRandIndex(const std::vector<uint32_t>& a,
                         const std::vector<uint32_t>& b);

}  // namespace strata::compression::internal

#endif  // STRATA_COMPRESSION_INTERNAL_SYNTHETIC_H_
