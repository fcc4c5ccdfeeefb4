#include "worker/ctr/datagen.h"

#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "worker/ctr/criteo.h"
#include "worker/ctr/evaluation.h"

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

// Rows computed from the generator before its hashes moved to
// proto/base/hash.h: a data spec must always yield the same rows. Never
// update them.
TEST(CtrGeneratorTest, AVocabularyShareDrawsFromASubsetThatGrowsWithIt) {
  CtrGeneratorOptions o;
  o.max_vocab = 2000;
  o.vocab_share = 0.5;
  const CtrGenerator half(o);
  o.vocab_share = 1.0;
  const CtrGenerator full(o);
  std::set<uint64_t> seen_half, seen_full;
  for (uint64_t i = 0; i < 4000; ++i) {
    for (auto [g, seen] : {std::pair{&half, &seen_half}, {&full, &seen_full}}) {
      std::string line;
      g->AppendRow(kTrainStream, i, &line);
      CtrExample ex;
      ASSERT_TRUE(ParseCriteoLine(line.substr(0, line.size() - 1), &ex).ok());
      seen->insert(ex.keys[kNumIntFields]);  // the largest categorical field
    }
  }
  // Fewer distinct values (frequent ones are seen either way), and values
  // the full vocabulary has.
  EXPECT_LT(seen_half.size(), seen_full.size() * 0.9);
  EXPECT_GT(seen_half.size(), seen_full.size() * 0.3);
  size_t shared = 0;
  for (uint64_t k : seen_half) shared += seen_full.count(k);
  EXPECT_GT(shared, seen_half.size() * 0.5);  // rare values may be unseen
}

TEST(CtrGeneratorTest, RowsMatchGoldenValues) {
  CtrGeneratorOptions o;
  o.seed = 3;
  o.max_vocab = 1000;
  o.groups = 10;
  CtrGenerator g(o);
  std::string row;
  EXPECT_DOUBLE_EQ(g.AppendRow(kTrainStream, 0, &row), 0.075162545602570935);
  EXPECT_EQ(row,
            "0\t0\t14\t35\t1331\t1060\t1\t88\t3\t2308\t42\t5\t1\t6\td921c666\t"
            "aa891bf6\tb653ce98\t9955c332\t6a939eed\t870ddf0f\t098e1168\t"
            "0ae04ca1\t2ebd54ad\tc3257707\tf0e4d1d0\t3b653006\t5b872e44\t"
            "e61bede7\t0932d922\te3577baa\tc0765b14\t0464ae4b\t6c2997bb\t\t"
            "fc22e3f1\t97cfb976\t36c4c0d8\t0b5e3871\t1cea69e8\tf8bcd121\n");
  row.clear();
  EXPECT_DOUBLE_EQ(g.AppendRow(kTrainStream, 1, &row), 0.037978587588363928);
  EXPECT_EQ(row,
            "0\t0\t5\t255\t15\t58841\t8\t55\t10\t5642\t2\t5\t4\t99\tdb018fed\t"
            "31091a4e\t8e694ace\tb6a57226\t2e3f8193\t2fb18c80\t098e1168\t"
            "45118d41\tfa9dca9e\t21faca75\t51082d2b\t23f55d86\t7598b979\t"
            "5a01ce5b\t1e873931\t1f704f0c\t54ebecaa\t0464ae4b\tb7848b6f\t"
            "5ed64c5f\t463c0928\tb0ee467c\ta2cf0e10\tc46185c3\t24660617\t"
            "09895802\n");
  row.clear();
  EXPECT_DOUBLE_EQ(g.AppendRow(kEvalStream, 7, &row), 0.76092886383016056);
  EXPECT_EQ(row,
            "1\t0\t29\t290\t8\t7\t1\t13\t\t73\t8\t0\t99\t141\tdb018fed\t"
            "593533ba\t609be7ac\tb6e1a039\t9ffb432a\t8fb86ada\t0251e6d5\t"
            "1e61355f\t1c6b14b9\tc3257707\t572ea90c\td7d9cf04\t1933f7dc\t"
            "045d0acc\t8e528a53\t2a07775e\tc0765b14\t822f9821\tf966a1a0\t"
            "cd5adf26\t72c85dd1\t54c505e8\tc33e7526\t0b5e3871\t1cea69e8\t\n");
  EXPECT_EQ(g.GroupOf(2, 5), 9);
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
