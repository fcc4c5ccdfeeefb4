#include "worker/nn/loss.h"

#include <cmath>
#include <random>

#include "gtest/gtest.h"
#include "worker/nn/cpu_backend.h"

namespace strata {
namespace nn {
namespace {

TEST(SoftmaxCrossEntropyTest, UniformLogitsGiveLogK) {
  CpuBackend cpu;
  auto logits = Tensor::Zeros(&cpu, {3, 10});
  SoftmaxCrossEntropyLoss loss;
  auto l = loss.Compute(*logits, {1, 2, 3});
  ASSERT_TRUE(l.ok()) << l.status();
  EXPECT_NEAR(*l, std::log(10.0), 1e-6);
}

// The analytic gradient against a float64 central difference of the loss.
TEST(SoftmaxCrossEntropyTest, GradientMatchesNumericalReference) {
  CpuBackend cpu;
  const int n = 4, k = 6;
  std::mt19937_64 rng(3);
  std::vector<float> z(n * k);
  for (float& v : z) v = (rng() >> 40) / 16777216.0f * 4 - 2;
  const std::vector<int32_t> labels = {0, 5, 2, 2};
  auto t = Tensor::FromHost(&cpu, {n, k}, z);
  SoftmaxCrossEntropyLoss loss;
  ASSERT_TRUE(loss.Compute(*t, labels).ok());
  std::vector<float> grad = *loss.grad().ToHost();
  // Reference loss in double precision.
  auto ref = [&](const std::vector<double>& zz) {
    double total = 0;
    for (int r = 0; r < n; ++r) {
      double mx = -1e300, s = 0;
      for (int j = 0; j < k; ++j) mx = std::max(mx, zz[r * k + j]);
      for (int j = 0; j < k; ++j) s += std::exp(zz[r * k + j] - mx);
      total += std::log(s) + mx - zz[r * k + labels[r]];
    }
    return total / n;
  };
  std::vector<double> zd(z.begin(), z.end());
  double diff = 0, norm = 0;
  for (int i = 0; i < n * k; ++i) {
    const double h = 1e-5, orig = zd[i];
    zd[i] = orig + h;
    const double plus = ref(zd);
    zd[i] = orig - h;
    const double minus = ref(zd);
    zd[i] = orig;
    const double num = (plus - minus) / (2 * h);
    diff += (num - grad[i]) * (num - grad[i]);
    norm += num * num;
  }
  EXPECT_LT(std::sqrt(diff / norm), 1e-3);
  auto l = loss.Compute(*t, labels);
  EXPECT_NEAR(*l, ref(zd), 1e-5);
}

TEST(SoftmaxCrossEntropyTest, RejectsBadLabelsAndShapes) {
  CpuBackend cpu;
  auto logits = Tensor::Zeros(&cpu, {2, 3});
  SoftmaxCrossEntropyLoss loss;
  EXPECT_EQ(loss.Compute(*logits, {0, 3}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(loss.Compute(*logits, {0, -1}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(loss.Compute(*logits, {0}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(CountCorrectTest, CountsRowsWhoseArgMaxIsTheLabel) {
  CpuBackend cpu;
  auto logits = Tensor::FromHost(&cpu, {3, 2}, {1, 0, 0, 1, 5, 2});
  auto c = CountCorrect(*logits, {0, 0, 0});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(*c, 2);
}

}  // namespace
}  // namespace nn
}  // namespace strata
