#include "server/storage/optimizer.h"

#include <cmath>
#include <limits>
#include <memory>
#include <vector>

#include "gtest/gtest.h"

namespace strata {
namespace {

// Expected values below were worked out by hand (and cross-checked with a
// separate double-precision script), not by calling this code.

OptimizerConfig Config(OptimizerConfig::Type type, float lr) {
  OptimizerConfig c;
  c.set_type(type);
  c.set_learning_rate(lr);
  return c;
}

// Relative tolerance for optimizer state: 1 - 0.999f is 0.00099998713 in
// float, so v differs from the exact-decimal hand computation by ~1e-5.
constexpr float kRel = 1e-4f;

std::unique_ptr<Optimizer> MustCreate(const OptimizerConfig& c) {
  absl::StatusOr<std::unique_ptr<Optimizer>> opt = Optimizer::Create(c);
  EXPECT_TRUE(opt.ok()) << opt.status();
  return opt.ok() ? *std::move(opt) : nullptr;
}

TEST(OptimizerTest, StatePerElementMatchesType) {
  EXPECT_EQ(MustCreate(Config(OptimizerConfig::SGD, 1))->state_per_element(),
            0);
  EXPECT_EQ(
      MustCreate(Config(OptimizerConfig::ADAGRAD, 1))->state_per_element(), 1);
  EXPECT_EQ(MustCreate(Config(OptimizerConfig::ADAM, 1))->state_per_element(),
            2);
}

TEST(OptimizerTest, RejectsInvalidConfigs) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<OptimizerConfig> bad;
  for (float lr : {0.0f, -0.1f, nan, inf}) {
    bad.push_back(Config(OptimizerConfig::SGD, lr));
  }
  for (float beta : {1.0f, 1.5f, -0.1f, nan}) {
    OptimizerConfig c = Config(OptimizerConfig::ADAM, 0.1f);
    c.set_beta1(beta);
    bad.push_back(c);
    c = Config(OptimizerConfig::ADAM, 0.1f);
    c.set_beta2(beta);
    bad.push_back(c);
  }
  OptimizerConfig c = Config(OptimizerConfig::ADAM, 0.1f);
  c.set_epsilon(-1e-8f);
  bad.push_back(c);
  c = Config(OptimizerConfig::SGD, 0.1f);
  c.set_weight_decay(-0.01f);
  bad.push_back(c);
  c = Config(OptimizerConfig::ADAGRAD, 0.1f);
  c.set_initial_accumulator(nan);
  bad.push_back(c);
  c = Config(static_cast<OptimizerConfig::Type>(9), 0.1f);
  bad.push_back(c);
  for (const OptimizerConfig& config : bad) {
    EXPECT_EQ(Optimizer::Create(config).status().code(),
              absl::StatusCode::kInvalidArgument)
        << config.ShortDebugString();
  }
}

TEST(OptimizerTest, SgdStepsByLearningRateTimesGradient) {
  auto opt = MustCreate(Config(OptimizerConfig::SGD, 0.1f));
  float w[2] = {1.0f, -2.0f};
  int64_t step = 0;
  const float g1[2] = {0.5f, 1.0f};
  opt->Apply(w, g1, nullptr, &step, 2);
  EXPECT_FLOAT_EQ(w[0], 0.95f);
  EXPECT_FLOAT_EQ(w[1], -2.1f);
  opt->Apply(w, g1, nullptr, &step, 2);
  EXPECT_FLOAT_EQ(w[0], 0.9f);
  EXPECT_FLOAT_EQ(w[1], -2.2f);
  const float g2[2] = {-1.0f, 0.0f};
  opt->Apply(w, g2, nullptr, &step, 2);
  EXPECT_FLOAT_EQ(w[0], 1.0f);
  EXPECT_FLOAT_EQ(w[1], -2.2f);
  EXPECT_EQ(step, 3);
}

TEST(OptimizerTest, SgdWeightDecayAddsToTheGradient) {
  OptimizerConfig c = Config(OptimizerConfig::SGD, 0.1f);
  c.set_weight_decay(0.5f);
  auto opt = MustCreate(c);
  float w = 2.0f;
  const float g = 1.0f;
  int64_t step = 0;
  opt->Apply(&w, &g, nullptr, &step, 1);  // g' = 1 + 0.5*2 = 2
  EXPECT_FLOAT_EQ(w, 1.8f);
  opt->Apply(&w, &g, nullptr, &step, 1);  // g' = 1 + 0.9 = 1.9
  EXPECT_FLOAT_EQ(w, 1.61f);
}

// Every element of rows of any length (blocks of 8 and the rest) gets the
// same step, with and without weight decay: w = 1 + i, g = i - 10, lr 0.25:
// w' = 1 + i - 0.25 * (i - 10 + wd * (1 + i)).
TEST(OptimizerTest, SgdUpdatesEveryElementOfRowsOfAnyLength) {
  for (float wd : {0.0f, 0.5f}) {
    OptimizerConfig c = Config(OptimizerConfig::SGD, 0.25f);
    c.set_weight_decay(wd);
    auto opt = MustCreate(c);
    for (size_t n : {1, 7, 8, 9, 16, 23, 64}) {
      std::vector<float> w(n);
      std::vector<float> g(n);
      for (size_t i = 0; i < n; ++i) {
        w[i] = 1.0f + i;
        g[i] = i - 10.0f;
      }
      int64_t step = 0;
      opt->Apply(w.data(), g.data(), nullptr, &step, n);
      for (size_t i = 0; i < n; ++i) {
        const float expected = 1.0f + i - 0.25f * (i - 10.0f + wd * (1.0f + i));
        EXPECT_FLOAT_EQ(w[i], expected) << "n " << n << " i " << i;
      }
      EXPECT_EQ(step, 1);
    }
  }
}

TEST(OptimizerTest, AdagradAccumulatesSquaredGradients) {
  auto opt = MustCreate(Config(OptimizerConfig::ADAGRAD, 0.5f));
  float w[2] = {1.0f, 0.0f};
  float acc[2];
  opt->InitState(acc, 2);
  EXPECT_EQ(acc[0], 0.0f);
  int64_t step = 0;
  const float g1[2] = {3.0f, -1.0f};
  opt->Apply(w, g1, acc, &step, 2);  // acc 9, 1
  EXPECT_FLOAT_EQ(acc[0], 9.0f);
  EXPECT_FLOAT_EQ(w[0], 0.5f);  // 1 - 0.5*3/3
  EXPECT_FLOAT_EQ(w[1], 0.5f);  // 0 + 0.5*1/1
  const float g2[2] = {4.0f, -1.0f};
  opt->Apply(w, g2, acc, &step, 2);  // acc 25, 2
  EXPECT_FLOAT_EQ(acc[0], 25.0f);
  EXPECT_FLOAT_EQ(acc[1], 2.0f);
  EXPECT_FLOAT_EQ(w[0], 0.1f);         // 0.5 - 0.5*4/5
  EXPECT_FLOAT_EQ(w[1], 0.85355339f);  // 0.5 + 0.5/sqrt(2)
  const float g3[2] = {0.0f, 0.0f};
  opt->Apply(w, g3, acc, &step, 2);
  EXPECT_FLOAT_EQ(w[0], 0.1f);
  EXPECT_FLOAT_EQ(acc[0], 25.0f);
  EXPECT_EQ(step, 3);
}

TEST(OptimizerTest, AdagradUsesInitialAccumulatorAndEpsilon) {
  OptimizerConfig c = Config(OptimizerConfig::ADAGRAD, 0.1f);
  c.set_initial_accumulator(0.1f);
  c.set_epsilon(0.01f);
  auto opt = MustCreate(c);
  float w = 1.0f, acc;
  opt->InitState(&acc, 1);
  EXPECT_FLOAT_EQ(acc, 0.1f);
  const float g = 1.0f;
  int64_t step = 0;
  opt->Apply(&w, &g, &acc, &step, 1);
  EXPECT_FLOAT_EQ(acc, 1.1f);
  EXPECT_NEAR(w, 1.0 - 0.1 / (std::sqrt(1.1) + 0.01), 1e-6);  // 0.90555425
  EXPECT_NEAR(w, 0.90555425f, 1e-6);
}

TEST(OptimizerTest, AdamWithDefaultsMatchesHandComputedSteps) {
  auto opt = MustCreate(Config(OptimizerConfig::ADAM, 0.1f));
  float w = 1.0f;
  float state[2];
  opt->InitState(state, 1);
  EXPECT_EQ(state[0], 0.0f);
  EXPECT_EQ(state[1], 0.0f);
  int64_t step = 0;
  float g = 0.5f;
  // t=1: m=0.05, v=0.00025, m^=0.5, v^=0.25: w -= 0.1 * 0.5/0.5.
  opt->Apply(&w, &g, state, &step, 1);
  EXPECT_EQ(step, 1);
  EXPECT_FLOAT_EQ(state[0], 0.05f);
  EXPECT_NEAR(state[1], 0.00025f, 0.00025f * kRel);
  EXPECT_NEAR(w, 0.9f, 1e-6);
  // t=2: m=0.095, v=0.00049975, m^=0.095/0.19=0.5, v^=0.00049975/0.001999
  // =0.25: again w -= 0.1.
  opt->Apply(&w, &g, state, &step, 1);
  EXPECT_NEAR(state[0], 0.095f, 0.095f * kRel);
  EXPECT_NEAR(state[1], 0.00049975f, 0.00049975f * kRel);
  EXPECT_NEAR(w, 0.8f, 1e-6);
  // t=3, g=-1: m=-0.0145, v=0.00149925025, m^=-0.0145/0.271=-0.0535055,
  // v^=0.00149925025/0.002997001=0.500250, sqrt=0.707284:
  // w += 0.1*0.0535055/0.707284 = 0.0075650.
  g = -1.0f;
  opt->Apply(&w, &g, state, &step, 1);
  EXPECT_EQ(step, 3);
  EXPECT_NEAR(state[0], -0.0145f, 0.0145f * kRel);
  EXPECT_NEAR(state[1], 0.00149925025f, 0.00149925025f * kRel);
  EXPECT_NEAR(w, 0.8075649f, 2e-6);
}

TEST(OptimizerTest, AdamWithCustomBetasEpsilonAndWeightDecay) {
  OptimizerConfig c = Config(OptimizerConfig::ADAM, 1.0f);
  c.set_beta1(0.5f);
  c.set_beta2(0.75f);
  c.set_epsilon(0.1f);
  c.set_weight_decay(0.1f);
  auto opt = MustCreate(c);
  float w = 2.0f;
  float state[2] = {0, 0};
  int64_t step = 0;
  const float g = 1.0f;
  // t=1: g'=1.2, m=0.6, v=0.36, m^=1.2, v^=1.44: w = 2 - 1.2/1.3.
  opt->Apply(&w, &g, state, &step, 1);
  EXPECT_FLOAT_EQ(state[0], 0.6f);
  EXPECT_FLOAT_EQ(state[1], 0.36f);
  EXPECT_NEAR(w, 1.0769231f, 1e-6);
  // t=2: g'=1.1076923, m=0.8538462, v=0.5767456, m^=1.1384615,
  // v^=1.3182756 (sqrt 1.1481618): w -= 1.1384615/1.2481618 = 0.9121114.
  opt->Apply(&w, &g, state, &step, 1);
  EXPECT_NEAR(state[0], 0.8538462f, 1e-6);
  EXPECT_NEAR(state[1], 0.5767456f, 1e-6);
  EXPECT_NEAR(w, 0.1648125f, 2e-6);
}

TEST(OptimizerTest, AdamKeepsRowsIndependentAcrossElements) {
  auto opt = MustCreate(Config(OptimizerConfig::ADAM, 0.1f));
  float w[2] = {1.0f, 1.0f};
  float state[4] = {0, 0, 0, 0};
  int64_t step = 0;
  const float g[2] = {0.5f, 0.0f};
  opt->Apply(w, g, state, &step, 2);
  EXPECT_NEAR(w[0], 0.9f, 1e-6);
  EXPECT_EQ(w[1], 1.0f);             // zero gradient: m=v=0, no move
  EXPECT_FLOAT_EQ(state[0], 0.05f);  // m[0]
  EXPECT_EQ(state[1], 0.0f);         // m[1]
  EXPECT_NEAR(state[2], 0.00025f, 0.00025f * kRel);  // v[0]
  EXPECT_EQ(state[3], 0.0f);                         // v[1]
}

TEST(OptimizerTest, ConfigIsKeptAsGiven) {
  OptimizerConfig c = Config(OptimizerConfig::ADAM, 0.25f);
  auto opt = MustCreate(c);
  EXPECT_EQ(opt->config().learning_rate(), 0.25f);
  EXPECT_EQ(opt->config().beta1(), 0.0f);
}

// Every optimizer type, plain and with weight decay, with the largest legal
// learning rates: the harshest configs Create accepts.
std::vector<OptimizerConfig> HarshConfigs() {
  std::vector<OptimizerConfig> out;
  for (auto type : {OptimizerConfig::SGD, OptimizerConfig::ADAGRAD,
                    OptimizerConfig::ADAM}) {
    for (float wd : {0.0f, 1e30f}) {
      for (float lr : {0.1f, 1e30f}) {
        OptimizerConfig c = Config(type, lr);
        c.set_weight_decay(wd);
        out.push_back(c);
      }
    }
  }
  return out;
}

// Whether every float of `v` is finite.
bool AllFinite(const std::vector<float>& v) {
  for (float x : v) {
    if (!std::isfinite(x)) return false;
  }
  return true;
}

TEST(OptimizerTest, ThousandsOfUpdatesAtTheGradientBoundKeepRowsFinite) {
  constexpr size_t kN = 4;
  const float b = kDefaultMaxAbsGradient;
  for (const OptimizerConfig& c : HarshConfigs()) {
    SCOPED_TRACE(c.ShortDebugString());
    auto opt = MustCreate(c);
    std::vector<float> w = {0.5f, -0.5f, 0.0f, 3.0f};
    std::vector<float> state(opt->state_per_element() * kN);
    opt->InitState(state.data(), kN);
    int64_t step = 0;
    for (int i = 0; i < 5000; ++i) {
      // Same sign for a while (state grows), then flipping (w swings).
      const float g = i < 2500 ? b : (i % 2 == 0 ? b : -b);
      const std::vector<float> grad = {g, -g, g, g};
      opt->Apply(w.data(), grad.data(), state.data(), &step, kN);
      ASSERT_TRUE(AllFinite(w)) << "update " << i;
      ASSERT_TRUE(AllFinite(state)) << "update " << i;
    }
    EXPECT_EQ(step, 5000);
  }
}

TEST(OptimizerTest, NonFiniteAndHugeGradientsSaturateInsteadOfPoisoningRows) {
  // Validation rejects such gradients before they reach an optimizer; the
  // optimizer still never stores a non-finite float.
  constexpr size_t kN = 6;
  const float max = std::numeric_limits<float>::max();
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> grad = {max, -max, inf, -inf, nan, 1e20f};
  for (const OptimizerConfig& c : HarshConfigs()) {
    SCOPED_TRACE(c.ShortDebugString());
    auto opt = MustCreate(c);
    std::vector<float> w = {max, -max, 1, -1, 0, max};
    std::vector<float> state(opt->state_per_element() * kN);
    opt->InitState(state.data(), kN);
    int64_t step = 0;
    for (int i = 0; i < 100; ++i) {
      opt->Apply(w.data(), grad.data(), state.data(), &step, kN);
      ASSERT_TRUE(AllFinite(w)) << "update " << i;
      ASSERT_TRUE(AllFinite(state)) << "update " << i;
    }
  }
}

TEST(OptimizerTest, SaturatedRowsStillMoveWithLaterGradients) {
  // A value pinned at FLT_MAX by a huge step comes back down with ordinary
  // gradients of the other sign.
  auto opt = MustCreate(Config(OptimizerConfig::SGD, 1e30f));
  float w = 0.0f, state = 0.0f;
  int64_t step = 0;
  const float up = -1e15f, down = 1e3f;
  opt->Apply(&w, &up, &state, &step, 1);
  EXPECT_EQ(w, std::numeric_limits<float>::max());
  opt->Apply(&w, &down, &state, &step, 1);
  EXPECT_LT(w, std::numeric_limits<float>::max());
  EXPECT_TRUE(std::isfinite(w));
}

TEST(OptimizerTest, MaxAbsGradientMustBePositiveAndFinite) {
  EXPECT_TRUE(ValidateMaxAbsGradient(kDefaultMaxAbsGradient).ok());
  EXPECT_TRUE(ValidateMaxAbsGradient(std::numeric_limits<float>::max()).ok());
  for (float bad : {0.0f, -1.0f, std::numeric_limits<float>::infinity(),
                    std::numeric_limits<float>::quiet_NaN()}) {
    const absl::Status s = ValidateMaxAbsGradient(bad);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(s.message().find("--max_abs_gradient"), std::string::npos) << s;
  }
}

}  // namespace
}  // namespace strata
