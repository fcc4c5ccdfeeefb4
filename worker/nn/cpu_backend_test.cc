#include "worker/nn/cpu_backend.h"

#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace strata {
namespace nn {
namespace {

std::vector<float> Random(int64_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<float> v(n);
  for (float& x : v) x = (rng() >> 40) / 16777216.0f - 0.5f;
  return v;
}

TEST(CpuBackendTest, GemmMatchesNaiveProductForAllTransposes) {
  CpuBackend cpu;
  const int m = 5, n = 4, k = 3;
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      std::vector<float> a = Random(m * k, 1), b = Random(k * n, 2);
      std::vector<float> c(m * n, 1.0f);
      ASSERT_TRUE(cpu.Gemm(ta, tb, m, n, k, 2.0f, a.data(), ta ? m : k,
                           b.data(), tb ? k : n, 0.5f, c.data(), n)
                      .ok());
      for (int i = 0; i < m; ++i) {
        for (int j = 0; j < n; ++j) {
          double acc = 0;
          for (int p = 0; p < k; ++p) {
            acc += (ta ? a[p * m + i] : a[i * k + p]) *
                   (tb ? b[j * k + p] : b[p * n + j]);
          }
          EXPECT_NEAR(c[i * n + j], 2 * acc + 0.5, 1e-5) << ta << tb;
        }
      }
    }
  }
}

// <Im2Col(x), c> == <x, Col2Im(c)>: the two are adjoint.
TEST(CpuBackendTest, Col2ImIsTheAdjointOfIm2Col) {
  CpuBackend cpu;
  ConvGeometry g;
  g.n = 2;
  g.c = 3;
  g.h = 7;
  g.w = 5;
  g.kh = 3;
  g.kw = 2;
  g.stride = 2;
  g.pad = 1;
  const int64_t xs = g.n * g.c * g.h * g.w;
  const int64_t cs = g.c * g.kh * g.kw * g.n * g.OutH() * g.OutW();
  std::vector<float> x = Random(xs, 3), c = Random(cs, 4);
  std::vector<float> col(cs), dx(xs);
  ASSERT_TRUE(cpu.Im2Col(g, x.data(), col.data()).ok());
  ASSERT_TRUE(cpu.Col2Im(g, c.data(), dx.data()).ok());
  double lhs = 0, rhs = 0;
  for (int64_t i = 0; i < cs; ++i) lhs += col[i] * c[i];
  for (int64_t i = 0; i < xs; ++i) rhs += x[i] * dx[i];
  EXPECT_NEAR(lhs, rhs, 1e-4);
}

TEST(CpuBackendTest, LayoutPermutationsInvertEachOther) {
  CpuBackend cpu;
  std::vector<float> x = Random(2 * 3 * 4, 5), t(24), back(24);
  ASSERT_TRUE(cpu.NchwToCnhw(x.data(), 2, 3, 4, t.data()).ok());
  ASSERT_TRUE(cpu.CnhwToNchw(t.data(), nullptr, 2, 3, 4, back.data()).ok());
  EXPECT_EQ(x, back);
}

TEST(CpuBackendTest, SoftmaxCrossEntropyRejectsOutOfRangeLabels) {
  CpuBackend cpu;
  std::vector<float> logits(6, 0.0f), labels = {0, 3}, grad(6), loss(2);
  EXPECT_EQ(cpu.SoftmaxCrossEntropy(logits.data(), labels.data(), 2, 3,
                                    grad.data(), loss.data())
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(CpuBackendTest, SgdUpdateAppliesMomentumAndWeightDecay) {
  CpuBackend cpu;
  float w = 1.0f, g = 0.5f, v = 0.2f;
  ASSERT_TRUE(cpu.SgdUpdate(&w, &g, &v, 1, 0.1f, 0.9f, 0.01f).ok());
  EXPECT_FLOAT_EQ(v, 0.9f * 0.2f + 0.5f + 0.01f);
  EXPECT_FLOAT_EQ(w, 1.0f - 0.1f * v);
}

}  // namespace
}  // namespace nn
}  // namespace strata
