#include "worker/ctr/model.h"

#include <cmath>
#include <random>

#include "gtest/gtest.h"

namespace strata {
namespace ctr {
namespace {

CtrModelConfig Small() {
  CtrModelConfig c;
  c.num_fields = 3;
  c.dim = 4;
  c.hidden = {6, 5};
  return c;
}

struct Batch {
  std::vector<float> x, y;
};

Batch RandomBatch(const CtrMlp& mlp, int n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  Batch b;
  b.x.resize(static_cast<size_t>(n) * mlp.input_dim());
  for (float& v : b.x) v = normal(rng);
  for (int i = 0; i < n; ++i) b.y.push_back(i % 3 == 0 ? 1.0f : 0.0f);
  return b;
}

double Loss(CtrMlp* mlp, const MlpParams& p, const Batch& b, int n) {
  MlpParams g;
  std::vector<float> dx(b.x.size());
  return mlp->ForwardBackward(p, b.x.data(), b.y.data(), n, &g, dx.data());
}

// Central differences in float need a step large enough to beat rounding;
// ReLU kinks make a few coordinates unreliable, so require agreement on
// nearly all and a small median error.
TEST(CtrMlpTest, GradientsMatchFiniteDifferences) {
  CtrMlp mlp(Small());
  const int n = 7;
  MlpParams p = mlp.InitParams(3);
  for (auto& t : p)
    for (float& v : t) v += 0.05f;  // nonzero biases too
  Batch b = RandomBatch(mlp, n, 5);
  MlpParams g;
  std::vector<float> dx(b.x.size());
  mlp.ForwardBackward(p, b.x.data(), b.y.data(), n, &g, dx.data());
  const float h = 1e-2f;
  int checked = 0, bad = 0;
  auto check = [&](float* v, float analytic) {
    const float old = *v;
    *v = old + h;
    const double up = Loss(&mlp, p, b, n);
    *v = old - h;
    const double down = Loss(&mlp, p, b, n);
    *v = old;
    const double numeric = (up - down) / (2 * h);
    ++checked;
    if (std::fabs(numeric - analytic) > 2e-3 + 0.02 * std::fabs(numeric)) ++bad;
  };
  for (size_t t = 0; t < p.size(); ++t) {
    for (size_t i = 0; i < p[t].size(); ++i) check(&p[t][i], g[t][i]);
  }
  // Inputs: dL/dx for the embedding push.
  for (size_t i = 0; i < b.x.size(); ++i) {
    const float old = b.x[i];
    b.x[i] = old + h;
    const double up = Loss(&mlp, p, b, n);
    b.x[i] = old - h;
    const double down = Loss(&mlp, p, b, n);
    b.x[i] = old;
    const double numeric = (up - down) / (2 * h);
    ++checked;
    if (std::fabs(numeric - dx[i]) > 2e-3 + 0.02 * std::fabs(numeric)) ++bad;
  }
  EXPECT_GT(checked, 100);
  EXPECT_LE(bad, checked / 50) << bad << " of " << checked << " disagree";
}

TEST(CtrMlpTest, WrongGradientWouldBeCaught) {
  // The check above can fail: a deliberately wrong gradient disagrees.
  CtrMlp mlp(Small());
  MlpParams p = mlp.InitParams(3);
  Batch b = RandomBatch(mlp, 4, 6);
  MlpParams g;
  std::vector<float> dx(b.x.size());
  mlp.ForwardBackward(p, b.x.data(), b.y.data(), 4, &g, dx.data());
  const float h = 1e-2f;
  float& v = p.back()[0];  // output bias: dL/db = mean(p - y), never zero here
  const float old = v;
  v = old + h;
  const double up = Loss(&mlp, p, b, 4);
  v = old - h;
  const double down = Loss(&mlp, p, b, 4);
  v = old;
  const double numeric = (up - down) / (2 * h);
  EXPECT_NEAR(numeric, g.back()[0], 1e-3);
  EXPECT_GT(std::fabs(numeric - 2 * g.back()[0]), 1e-3);
}

TEST(CtrMlpTest, PredictMatchesForwardBackwardProbabilities) {
  CtrMlp mlp(Small());
  MlpParams p = mlp.InitParams(9);
  Batch b = RandomBatch(mlp, 5, 7);
  std::vector<float> probs(5), probs2(5), dx(b.x.size());
  MlpParams g;
  mlp.Predict(p, b.x.data(), 5, probs.data());
  mlp.ForwardBackward(p, b.x.data(), b.y.data(), 5, &g, dx.data(),
                      probs2.data());
  for (int i = 0; i < 5; ++i) {
    EXPECT_FLOAT_EQ(probs[i], probs2[i]);
    EXPECT_GT(probs[i], 0.0f);
    EXPECT_LT(probs[i], 1.0f);
  }
}

TEST(CtrMlpTest, ShapesAndParamChecks) {
  CtrMlp mlp(Small());
  EXPECT_EQ(mlp.input_dim(), 12);
  EXPECT_EQ(mlp.num_layers(), 3);
  EXPECT_EQ(mlp.ParamSize(0), 12u * 6);
  EXPECT_EQ(mlp.ParamSize(3), 5u);
  EXPECT_EQ(mlp.ParamSize(4), 5u);  // last layer: 5 -> 1
  EXPECT_EQ(mlp.ParamSize(5), 1u);
  MlpParams p = mlp.InitParams(1);
  EXPECT_TRUE(mlp.CheckParams(p).ok());
  p[2].pop_back();
  EXPECT_EQ(mlp.CheckParams(p).code(), absl::StatusCode::kInvalidArgument);
}

TEST(CtrMlpTest, SgdOnALearnableProblemReducesTheLoss) {
  CtrMlp mlp(Small());
  MlpParams p = mlp.InitParams(2);
  Batch b = RandomBatch(mlp, 64, 8);
  for (size_t i = 0; i < b.y.size(); ++i)
    b.y[i] = b.x[i * 12] > 0 ? 1.0f : 0.0f;
  const double first = Loss(&mlp, p, b, 64);
  MlpParams g;
  std::vector<float> dx(b.x.size());
  for (int it = 0; it < 300; ++it) {
    mlp.ForwardBackward(p, b.x.data(), b.y.data(), 64, &g, dx.data());
    for (size_t t = 0; t < p.size(); ++t) {
      for (size_t i = 0; i < p[t].size(); ++i) p[t][i] -= 0.1f * g[t][i];
    }
  }
  EXPECT_LT(Loss(&mlp, p, b, 64), first * 0.5);
}

}  // namespace
}  // namespace ctr
}  // namespace strata
