#include "worker/nn/sgd.h"

#include "gtest/gtest.h"
#include "worker/nn/cpu_backend.h"

namespace strata {
namespace nn {
namespace {

TEST(SgdTest, FollowsTheMomentumRecurrence) {
  CpuBackend cpu;
  Linear::Options o;
  o.in_features = 1;
  o.out_features = 1;
  Linear fc("fc", o);
  ASSERT_TRUE(fc.Init(&cpu, 1).ok());
  Parameter* w = fc.Params()[0];
  ASSERT_TRUE(w->value.CopyFromHost({1.0f}).ok());
  Sgd::Options so;
  so.learning_rate = 0.1f;
  so.momentum = 0.5f;
  so.weight_decay = 0.0f;
  Sgd sgd({w}, so);
  ASSERT_TRUE(w->grad.CopyFromHost({1.0f}).ok());
  ASSERT_TRUE(sgd.Step().ok());  // v = 1, w = 0.9
  ASSERT_TRUE(sgd.Step().ok());  // v = 1.5, w = 0.75
  EXPECT_NEAR((*w->value.ToHost())[0], 0.75f, 1e-6);
}

TEST(SgdTest, WeightDecayShrinksWeightsWithZeroGradient) {
  CpuBackend cpu;
  Linear::Options o;
  o.in_features = 2;
  o.out_features = 1;
  Linear fc("fc", o);
  ASSERT_TRUE(fc.Init(&cpu, 1).ok());
  Parameter* w = fc.Params()[0];
  ASSERT_TRUE(w->value.CopyFromHost({2.0f, -2.0f}).ok());
  Sgd::Options so;
  so.learning_rate = 0.5f;
  so.momentum = 0.0f;
  so.weight_decay = 0.1f;
  Sgd sgd({w}, so);
  ASSERT_TRUE(sgd.Step().ok());
  EXPECT_EQ(*w->value.ToHost(), (std::vector<float>{1.9f, -1.9f}));
}

TEST(SgdTest, RejectsNegativeLearningRateAndUninitialisedParams) {
  CpuBackend cpu;
  Linear fc("fc", {});
  Sgd uninit(fc.Params(), {});
  EXPECT_EQ(uninit.Step().code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(fc.Init(&cpu, 1).ok());
  Sgd::Options so;
  so.learning_rate = -1;
  Sgd bad(fc.Params(), so);
  EXPECT_EQ(bad.Step().code(), absl::StatusCode::kInvalidArgument);
}

TEST(SgdTest, VelocityRoundTripContinuesTheSameTrajectory) {
  CpuBackend cpu;
  Linear::Options o;
  o.in_features = 2;
  o.out_features = 1;
  Linear a("fc", o), b("fc", o);
  ASSERT_TRUE(a.Init(&cpu, 1).ok());
  ASSERT_TRUE(b.Init(&cpu, 1).ok());
  Sgd::Options so;
  so.learning_rate = 0.1f;
  so.momentum = 0.5f;
  Sgd sa(a.Params(), so), sb(b.Params(), so);
  EXPECT_EQ(*sa.Velocity(), std::vector<float>(3, 0.0f));  // before a Step
  for (Parameter* p : a.Params()) {
    ASSERT_TRUE(
        p->grad.CopyFromHost(std::vector<float>(p->grad.size(), 1)).ok());
  }
  ASSERT_TRUE(sa.Step().ok());
  // b takes a's weights and momentum: its next step equals a's.
  for (size_t i = 0; i < a.Params().size(); ++i) {
    ASSERT_TRUE(
        b.Params()[i]->value.CopyFromHost(*a.Params()[i]->value.ToHost()).ok());
    ASSERT_TRUE(
        b.Params()[i]->grad.CopyFromHost(*a.Params()[i]->grad.ToHost()).ok());
  }
  ASSERT_TRUE(sb.SetVelocity(*sa.Velocity()).ok());
  EXPECT_EQ(*sb.Velocity(), *sa.Velocity());
  ASSERT_TRUE(sa.Step().ok());
  ASSERT_TRUE(sb.Step().ok());
  for (size_t i = 0; i < a.Params().size(); ++i) {
    EXPECT_EQ(*b.Params()[i]->value.ToHost(), *a.Params()[i]->value.ToHost());
  }
  EXPECT_EQ(sb.SetVelocity(std::vector<float>(2)).code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace nn
}  // namespace strata
