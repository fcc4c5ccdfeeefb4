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

}  // namespace
}  // namespace nn
}  // namespace strata
