#include "compression/internal/tail_sample.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <optional>
#include <vector>

#include "gtest/gtest.h"

namespace strata::compression::internal {
namespace {

// Tail rows 0..n-1 with Zipf-like frequencies f = floor(1e5 / (r + 1)).
std::vector<double> ZipfFrequencies(size_t n) {
  std::vector<double> f(n);
  for (size_t r = 0; r < n; ++r) f[r] = std::floor(1e5 / (r + 1));
  return f;
}

std::vector<uint32_t> AllRows(size_t n) {
  std::vector<uint32_t> rows(n);
  std::iota(rows.begin(), rows.end(), 0u);
  return rows;
}

TEST(TailSampleTest, FrequencySampleHasExactSizeAndExactMass) {
  const std::vector<double> f = ZipfFrequencies(20000);
  const std::vector<uint32_t> tail = AllRows(f.size());
  std::optional<TailSample> s = SampleTailByFrequency(tail, 500, f, 3);
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->rows.size(), 500u);
  EXPECT_EQ(s->rest.size(), 20000u - 500u);
  EXPECT_TRUE(std::is_sorted(s->rows.begin(), s->rows.end()));
  EXPECT_TRUE(std::adjacent_find(s->rows.begin(), s->rows.end()) ==
              s->rows.end());
  const double mass = std::accumulate(f.begin(), f.end(), 0.0);
  const double estimate =
      std::accumulate(s->weights.begin(), s->weights.end(), 0.0);
  EXPECT_NEAR(estimate, mass, 1e-9 * mass);
  // Frequent rows (f >= F / count) are certain and weigh their own f.
  EXPECT_EQ(s->rows[0], 0u);
  EXPECT_EQ(s->weights[0], f[0]);
}

TEST(TailSampleTest, FrequencySampleFavoursFrequentRows) {
  const std::vector<double> f = ZipfFrequencies(20000);
  const std::vector<uint32_t> tail = AllRows(f.size());
  std::optional<TailSample> s = SampleTailByFrequency(tail, 500, f, 3);
  ASSERT_TRUE(s.has_value());
  // Mass share of the sampled rows is far above a uniform sample's 2.5%
  // share of rows.
  const size_t in_top_tenth = std::count_if(
      s->rows.begin(), s->rows.end(), [](uint32_t r) { return r < 2000; });
  EXPECT_GT(in_top_tenth, 250u);
}

TEST(TailSampleTest, FrequencySampleIsDeterministicAndSeeded) {
  const std::vector<double> f = ZipfFrequencies(5000);
  const std::vector<uint32_t> tail = AllRows(f.size());
  std::optional<TailSample> a = SampleTailByFrequency(tail, 300, f, 1);
  std::optional<TailSample> b = SampleTailByFrequency(tail, 300, f, 1);
  std::optional<TailSample> c = SampleTailByFrequency(tail, 300, f, 2);
  ASSERT_TRUE(a && b && c);
  EXPECT_EQ(a->rows, b->rows);
  EXPECT_EQ(a->weights, b->weights);
  EXPECT_NE(a->rows, c->rows);
}

TEST(TailSampleTest, FrequencySampleDeclinesWhenTooFewRowsHaveMass) {
  std::vector<double> f(100, 0.0);
  for (int i = 0; i < 10; ++i) f[i * 10] = 5;
  const std::vector<uint32_t> tail = AllRows(f.size());
  EXPECT_FALSE(SampleTailByFrequency(tail, 11, f, 1).has_value());
  EXPECT_FALSE(SampleTailByFrequency(tail, 0, f, 1).has_value());
  std::optional<TailSample> all = SampleTailByFrequency(tail, 10, f, 1);
  ASSERT_TRUE(all.has_value());
  for (uint32_t r : all->rows) EXPECT_EQ(r % 10, 0u);
}

TEST(TailSampleTest, UniformSampleWeighsByTailShare) {
  const std::vector<double> f = ZipfFrequencies(1000);
  std::vector<uint32_t> tail;
  for (uint32_t r = 100; r < 1000; ++r) tail.push_back(r);
  const TailSample s = SampleTailUniform(tail, 90, f, 5);
  ASSERT_EQ(s.rows.size(), 90u);
  EXPECT_EQ(s.rest.size(), 810u);
  for (size_t i = 0; i < s.rows.size(); ++i) {
    EXPECT_GE(s.rows[i], 100u);
    EXPECT_DOUBLE_EQ(s.weights[i], f[s.rows[i]] * 10.0);
  }
}

}  // namespace
}  // namespace strata::compression::internal
