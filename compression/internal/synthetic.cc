#include "compression/internal/synthetic.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "compression/internal/random.h"

namespace strata::compression::internal {

SyntheticField MakeSyntheticField(const SyntheticSpec& spec) {
  SyntheticField f;
  f.dim = spec.dim;
  const size_t n = static_cast<size_t>(spec.n);
  const size_t dim = static_cast<size_t>(spec.dim);
  std::mt19937_64 rng(spec.seed);
  f.centres.resize(static_cast<size_t>(spec.groups) * dim);
  for (float& v : f.centres) {
    v = static_cast<float>(spec.centre_stddev * StandardNormal(rng));
  }
  f.group.resize(n);
  f.vectors.resize(n * dim);
  f.keys.resize(n);
  for (size_t i = 0; i < n; ++i) {
    f.group[i] = static_cast<uint32_t>(UniformDouble(rng) * spec.groups);
    const float* c = &f.centres[static_cast<size_t>(f.group[i]) * dim];
    for (size_t t = 0; t < dim; ++t) {
      f.vectors[i * dim + t] =
          c[t] + static_cast<float>(spec.noise_stddev * StandardNormal(rng));
    }
    // SplitMix64 is bijective, so the keys are distinct.
    f.keys[i] = SplitMix64(i ^ SplitMix64(spec.seed));
  }
  // Random ranking (Fisher-Yates), then Zipf frequencies by rank.
  std::vector<size_t> rank(n);
  for (size_t i = 0; i < n; ++i) rank[i] = i;
  for (size_t i = n; i > 1; --i) {
    std::swap(rank[i - 1], rank[static_cast<size_t>(UniformDouble(rng) * i)]);
  }
  f.frequencies.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const double r = static_cast<double>(rank[i] + 1);
    f.frequencies[i] = std::max<uint64_t>(
        1, static_cast<uint64_t>(spec.max_frequency *
                                 std::pow(r, -spec.zipf_exponent)));
  }
  return f;
}

double AdjustedRandIndex(const std::vector<uint32_t>& a,
                         const std::vector<uint32_t>& b) {
  const size_t n = a.size();
  absl::flat_hash_map<uint64_t, int64_t> joint;
  absl::flat_hash_map<uint32_t, int64_t> ca, cb;
  for (size_t i = 0; i < n; ++i) {
    ++joint[(static_cast<uint64_t>(a[i]) << 32) | b[i]];
    ++ca[a[i]];
    ++cb[b[i]];
  }
  auto pairs = [](int64_t x) { return 0.5 * double(x) * double(x - 1); };
  double sum_joint = 0, sum_a = 0, sum_b = 0;
  for (const auto& [k, v] : joint) sum_joint += pairs(v);
  for (const auto& [k, v] : ca) sum_a += pairs(v);
  for (const auto& [k, v] : cb) sum_b += pairs(v);
  const double expected = sum_a * sum_b / pairs(static_cast<int64_t>(n));
  const double max_index = 0.5 * (sum_a + sum_b);
  if (max_index == expected) return 1.0;
  return (sum_joint - expected) / (max_index - expected);
}

}  // namespace strata::compression::internal
