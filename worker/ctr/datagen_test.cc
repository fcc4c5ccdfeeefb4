#include "worker/ctr/datagen.h"

#include <map>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "worker/ctr/criteo.h"
#include "worker/ctr/metrics.h"

namespace strata {
namespace ctr {
namespace {

CtrGeneratorOptions Small() {
  CtrGeneratorOptions o;
  o.max_vocab = 5000;
  o.groups = 20;
  o.seed = 7;
  return o;
}

TEST(CtrGeneratorTest, RowsParseAndArePureFunctionsOfSeedStreamAndIndex) {
  CtrGenerator g(Small()), same(Small());
  CtrGeneratorOptions other = Small();
  other.seed = 8;
  CtrGenerator h(other);
  std::string a, b, c, d;
  for (uint64_t i = 0; i < 200; ++i) {
    a.clear();
    b.clear();
    g.AppendRow(kTrainStream, i, &a);
    same.AppendRow(kTrainStream, i, &b);
    EXPECT_EQ(a, b);
    ASSERT_EQ(a.back(), '\n');
    CtrExample ex;
    ASSERT_TRUE(ParseCriteoLine(a.substr(0, a.size() - 1), &ex).ok()) << a;
    g.AppendRow(kEvalStream, i, &c);
    h.AppendRow(kTrainStream, i, &d);
  }
  std::string all;
  for (uint64_t i = 0; i < 200; ++i) g.AppendRow(kTrainStream, i, &all);
  EXPECT_NE(all, c);  // the held-out stream differs
  EXPECT_NE(all, d);  // another seed differs
}

TEST(CtrGeneratorTest, FrequenciesAreSkewedAndVocabulariesShrinkByField) {
  CtrGenerator g(Small());
  EXPECT_EQ(g.vocab(0), 5000u);
  EXPECT_LT(g.vocab(25), g.vocab(1));
  EXPECT_EQ(g.groups(0), 20);
  std::map<std::string, int> counts;
  std::string line;
  for (uint64_t i = 0; i < 20000; ++i) {
    line.clear();
    g.AppendRow(kTrainStream, i, &line);
    const size_t start = [&] {
      size_t p = 0;
      for (int t = 0; t < 14; ++t) p = line.find('\t', p) + 1;
      return p;
    }();
    counts[line.substr(start, line.find('\t', start) - start)]++;
  }
  int top = 0;
  for (const auto& [v, n] : counts) top = std::max(top, n);
  // Zipf(1.1) over 5000 values: the top value takes ~10% of the rows, and
  // far fewer distinct values appear than rows.
  EXPECT_GT(top, 1000);
  EXPECT_LT(counts.size(), 5000u);
}

TEST(CtrGeneratorTest, PlantedProbabilitiesPredictTheLabels) {
  CtrGenerator g(Small());
  std::vector<float> probs, labels;
  std::string line;
  for (uint64_t i = 0; i < 20000; ++i) {
    line.clear();
    probs.push_back(static_cast<float>(g.AppendRow(kTrainStream, i, &line)));
    labels.push_back(line[0] == '1' ? 1.0f : 0.0f);
  }
  const double auc = *Auc(probs, labels);
  EXPECT_GT(auc, 0.7);   // the signal is learnable
  EXPECT_LT(auc, 0.95);  // and noisy, like real clicks
  double ctr = 0;
  for (float y : labels) ctr += y;
  ctr /= labels.size();
  EXPECT_GT(ctr, 0.05);
  EXPECT_LT(ctr, 0.6);
}

}  // namespace
}  // namespace ctr
}  // namespace strata
