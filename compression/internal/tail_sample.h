// Samples of a field's tail for Saec's clustered set (see SaecOptions::
// TailSampling). Plain functions; no state, thread-safe. Deterministic: the
// sample depends only on (tail, weights, count, seed).
#ifndef STRATA_COMPRESSION_INTERNAL_TAIL_SAMPLE_H_
#define STRATA_COMPRESSION_INTERNAL_TAIL_SAMPLE_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "absl/types/span.h"

namespace strata::compression::internal {

// A sample of tail rows (ascending) with their Horvitz-Thompson weights
// (value / P(sampled)), and the rest of the tail in the given order.
struct TailSample {
  std::vector<uint32_t> rows;
  std::vector<double> weights;
  std::vector<uint32_t> rest;
};

// min(count, |tail|) rows drawn uniformly without replacement (counter-based
// hash of (seed, row)), each weighted value[row] * |tail| / |sample|.
TailSample SampleTailUniform(absl::Span<const uint32_t> tail, size_t count,
                             absl::Span<const double> value, uint64_t seed);

// Exactly `count` rows drawn with probability proportional to f[row] by
// systematic sampling over the tail in the given order (one random start
// from the seed): rows with f >= F / count are taken with certainty
// (weight f, repeatedly, F and count shrinking), every other sampled row
// weighs F' / count' (its f / P(sampled)), so the weights sum to the tail's
// mass exactly. nullopt when count == 0 or fewer than `count` tail rows have
// f > 0.
std::optional<TailSample> SampleTailByFrequency(absl::Span<const uint32_t> tail,
                                                size_t count,
                                                absl::Span<const double> f,
                                                uint64_t seed);

}  // namespace strata::compression::internal

#endif  // STRATA_COMPRESSION_INTERNAL_TAIL_SAMPLE_H_
