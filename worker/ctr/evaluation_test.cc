#include "worker/ctr/evaluation.h"

#include <cmath>

#include "gtest/gtest.h"

namespace strata {
namespace ctr {
namespace {

TEST(AucTest, MatchesAHandCountedExample) {
  // Positives 0.35, 0.8; negatives 0.1, 0.4. Pairs won: (0.35>0.1),
  // (0.8>0.1), (0.8>0.4); lost: (0.35<0.4). AUC = 3/4.
  EXPECT_DOUBLE_EQ(*Auc({0.1f, 0.4f, 0.35f, 0.8f}, {0, 0, 1, 1}), 0.75);
}

TEST(AucTest, TiedScoresCountOneHalf) {
  // Positives 0.5, 0.9; negatives 0.5, 0.2: pairs 0.5 (tie) + 1 + 1 + 1.
  EXPECT_DOUBLE_EQ(*Auc({0.5f, 0.5f, 0.2f, 0.9f}, {1, 0, 0, 1}), 3.5 / 4);
  // Every score equal: exactly chance.
  EXPECT_DOUBLE_EQ(*Auc({0.3f, 0.3f, 0.3f, 0.3f, 0.3f}, {1, 0, 0, 1, 0}), 0.5);
  // A tie block of 2 positives and 1 negative between other scores:
  // pos {0.7, 0.7, 0.9}, neg {0.7, 0.1}: 0.5 + 1 + 0.5 + 1 + 1 + 1 = 5 of 6.
  EXPECT_DOUBLE_EQ(*Auc({0.7f, 0.7f, 0.9f, 0.7f, 0.1f}, {1, 1, 1, 0, 0}),
                   5.0 / 6);
}

TEST(AucTest, PerfectAndReversedRankings) {
  EXPECT_DOUBLE_EQ(*Auc({0.1f, 0.2f, 0.8f, 0.9f}, {0, 0, 1, 1}), 1.0);
  EXPECT_DOUBLE_EQ(*Auc({0.9f, 0.8f, 0.2f, 0.1f}, {0, 0, 1, 1}), 0.0);
}

TEST(AucTest, RejectsOneClassBadLabelsAndSizeMismatch) {
  EXPECT_EQ(Auc({0.1f, 0.2f}, {1, 1}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Auc({0.1f, 0.2f}, {1, 2}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Auc({0.1f}, {1, 0}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(LogLossTest, MatchesTheDefinitionAndClipsExtremes) {
  const double want = -(std::log(0.8) + std::log(1 - 0.4)) / 2;
  EXPECT_NEAR(*LogLoss({0.8f, 0.4f}, {1, 0}), want, 1e-6);
  // p = 0 for a positive is clipped to 1e-7 instead of infinity.
  EXPECT_NEAR(*LogLoss({0.0f}, {1}), -std::log(1e-7), 1e-3);
  EXPECT_EQ(LogLoss({}, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(BinaryEvalTest, AccumulatesPairs) {
  BinaryEval e;
  e.Add(0.9f, 1);
  e.Add(0.1f, 0);
  EXPECT_EQ(e.size(), 2);
  EXPECT_DOUBLE_EQ(*e.Auc(), 1.0);
}

}  // namespace
}  // namespace ctr
}  // namespace strata
