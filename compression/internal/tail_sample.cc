#include "compression/internal/tail_sample.h"

#include <algorithm>
#include <utility>

#include "compression/internal/random.h"
#include "proto/base/hash.h"

namespace strata::compression::internal {
namespace {

// Marks for rows of `tail` (indexed by row).
std::vector<char> RowMarks(absl::Span<const uint32_t> tail) {
  return std::vector<char>(
      tail.empty() ? 0 : *std::max_element(tail.begin(), tail.end()) + 1, 0);
}

// Fills sample.rest with the unmarked rows of tail, keeping their order.
void CollectRest(absl::Span<const uint32_t> tail,
                 const std::vector<char>& sampled, TailSample& sample) {
  sample.rest.reserve(tail.size() - sample.rows.size());
  for (uint32_t row : tail) {
    if (!sampled[row]) sample.rest.push_back(row);
  }
}

}  // namespace

TailSample SampleTailUniform(absl::Span<const uint32_t> tail, size_t count,
                             absl::Span<const double> value, uint64_t seed) {
  count = std::min(count, tail.size());
  std::vector<std::pair<uint64_t, uint32_t>> keyed(tail.size());
  const uint64_t salt = SplitMix64(seed ^ 0x7461696cULL);  // "tail"
  for (size_t i = 0; i < tail.size(); ++i) {
    keyed[i] = {SplitMix64(tail[i] ^ salt), tail[i]};
  }
  std::nth_element(keyed.begin(), keyed.begin() + count, keyed.end());
  TailSample sample;
  sample.rows.resize(count);
  for (size_t i = 0; i < count; ++i) sample.rows[i] = keyed[i].second;
  std::sort(sample.rows.begin(), sample.rows.end());
  const double scale =
      count == 0 ? 1.0 : static_cast<double>(tail.size()) / count;
  std::vector<char> sampled = RowMarks(tail);
  for (uint32_t row : sample.rows) {
    sampled[row] = 1;
    sample.weights.push_back(value[row] * scale);
  }
  CollectRest(tail, sampled, sample);
  return sample;
}

std::optional<TailSample> SampleTailByFrequency(absl::Span<const uint32_t> tail,
                                                size_t count,
                                                absl::Span<const double> f,
                                                uint64_t seed) {
  const size_t positive = std::count_if(
      tail.begin(), tail.end(), [&](uint32_t row) { return f[row] > 0; });
  if (positive < count || count == 0) return std::nullopt;
  TailSample sample;
  std::vector<char> sampled = RowMarks(tail);
  double mass = 0.0;
  for (uint32_t row : tail) mass += f[row];
  size_t left = count;
  for (bool changed = true; changed && left > 0;) {  // certainty rows
    changed = false;
    for (uint32_t row : tail) {
      if (left == 0 || sampled[row] || f[row] < mass / left) continue;
      sampled[row] = 1;
      sample.rows.push_back(row);
      sample.weights.push_back(f[row]);
      mass -= f[row];
      --left;
      changed = true;
    }
  }
  const double step = left > 0 ? mass / left : 0.0;
  double next = HashToUnit(seed ^ 0x70707300ULL, 0) * step;  // "pps"
  double acc = 0.0;
  size_t unsampled_positive = 0;
  for (uint32_t row : tail) unsampled_positive += !sampled[row] && f[row] > 0;
  for (uint32_t row : tail) {
    if (left == 0) break;
    if (sampled[row] || f[row] <= 0) continue;
    acc += f[row];
    --unsampled_positive;
    // Rounding may leave the last point just past the summed mass: the last
    // rows absorb it, so the size is exact.
    if (next < acc || unsampled_positive < left) {
      sampled[row] = 1;
      sample.rows.push_back(row);
      sample.weights.push_back(step);
      next += step;
      --left;
    }
  }
  std::vector<size_t> by_row(sample.rows.size());
  for (size_t i = 0; i < by_row.size(); ++i) by_row[i] = i;
  std::sort(by_row.begin(), by_row.end(), [&](size_t a, size_t b) {
    return sample.rows[a] < sample.rows[b];
  });
  TailSample sorted;
  for (size_t i : by_row) {
    sorted.rows.push_back(sample.rows[i]);
    sorted.weights.push_back(sample.weights[i]);
  }
  CollectRest(tail, sampled, sorted);
  return sorted;
}

}  // namespace strata::compression::internal
