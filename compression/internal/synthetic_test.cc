#include "compression/internal/synthetic.h"

#include <algorithm>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "gtest/gtest.h"

namespace strata::compression::internal {
namespace {

TEST(SyntheticTest, SameSpecGivesSameFieldWithDistinctKeys) {
  SyntheticSpec spec;
  spec.n = 3000;
  spec.dim = 5;
  spec.groups = 7;
  const SyntheticField a = MakeSyntheticField(spec),
                       b = MakeSyntheticField(spec);
  EXPECT_EQ(a.vectors, b.vectors);
  EXPECT_EQ(a.keys, b.keys);
  EXPECT_EQ(a.frequencies, b.frequencies);
  absl::flat_hash_set<uint64_t> keys(a.keys.begin(), a.keys.end());
  EXPECT_EQ(keys.size(), 3000u);
  for (uint32_t g : a.group) EXPECT_LT(g, 7u);
}

TEST(SyntheticTest, FrequenciesFollowZipfOverRanks) {
  SyntheticSpec spec;
  spec.n = 1000;
  spec.max_frequency = 1e6;
  spec.zipf_exponent = 1.0;
  std::vector<uint64_t> f = MakeSyntheticField(spec).frequencies;
  std::sort(f.rbegin(), f.rend());
  EXPECT_EQ(f[0], 1000000u);
  EXPECT_EQ(f[1], 500000u);
  EXPECT_EQ(f[9], 100000u);
  EXPECT_EQ(f[999], 1000u);
}

TEST(SyntheticTest, AdjustedRandIndexIsOneForRenamedLabelsAndLowForNoise) {
  const std::vector<uint32_t> a = {0, 0, 1, 1, 2, 2};
  const std::vector<uint32_t> renamed = {5, 5, 3, 3, 9, 9};
  EXPECT_DOUBLE_EQ(AdjustedRandIndex(a, renamed), 1.0);
  const std::vector<uint32_t> mixed = {0, 1, 2, 0, 1, 2};
  EXPECT_LT(AdjustedRandIndex(a, mixed), 0.1);
}

}  // namespace
}  // namespace strata::compression::internal
