#include "worker/nn/layers.h"

#include <algorithm>
#include <random>

#include "gtest/gtest.h"
#include "worker/nn/cpu_backend.h"
#include "worker/nn/internal/grad_check.h"

namespace strata {
namespace nn {
namespace {

using internal::CheckLayerGradients;
using internal::GradCheckOptions;

constexpr double kTolerance = 1e-3;

// Uniform values in [-1, 1] kept at least `gap` away from zero (so ReLU's
// kink is never inside a finite-difference step).
std::vector<float> RandomInput(int64_t n, uint64_t seed, float gap = 0.05f) {
  std::mt19937_64 rng(seed);
  std::vector<float> v(n);
  for (float& x : v) {
    x = static_cast<float>((rng() >> 40) / 16777216.0 * 2 - 1);
    if (std::abs(x) < gap) x = x < 0 ? x - gap : x + gap;
  }
  return v;
}

// Distinct values 0.05 apart in random order (no ties in a pooling window).
std::vector<float> DistinctInput(int64_t n, uint64_t seed) {
  std::vector<float> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = 0.05f * (i - n / 2);
  std::shuffle(v.begin(), v.end(), std::mt19937_64(seed));
  return v;
}

TEST(Conv2dTest, GradientsMatchNumericalReference) {
  CpuBackend cpu;
  Conv2d::Options o;
  o.in_channels = 3;
  o.out_channels = 4;
  o.kernel = 3;
  o.pad = 0;
  Conv2d conv("conv", o);
  ASSERT_TRUE(conv.Init(&cpu, 1).ok());
  const Shape in = {2, 3, 6, 5};
  auto r = CheckLayerGradients(&cpu, &conv, in, RandomInput(180, 2), {});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_LT(r->Max(), kTolerance) << r->ToString();
}

TEST(Conv2dTest, StrideAndPaddingGradientsMatchNumericalReference) {
  CpuBackend cpu;
  Conv2d::Options o;
  o.in_channels = 2;
  o.out_channels = 3;
  o.kernel = 3;
  o.stride = 2;
  o.pad = 1;
  Conv2d conv("conv", o);
  ASSERT_TRUE(conv.Init(&cpu, 3).ok());
  const Shape in = {2, 2, 7, 6};
  auto out = conv.OutputShape(in);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(*out, (Shape{2, 3, 4, 3}));
  auto r = CheckLayerGradients(&cpu, &conv, in, RandomInput(168, 4), {});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_LT(r->Max(), kTolerance) << r->ToString();
}

TEST(Conv2dTest, ForwardMatchesDirectConvolution) {
  CpuBackend cpu;
  Conv2d::Options o;
  o.in_channels = 2;
  o.out_channels = 2;
  o.kernel = 3;
  o.stride = 2;
  o.pad = 1;
  Conv2d conv("conv", o);
  ASSERT_TRUE(conv.Init(&cpu, 5).ok());
  const Shape in = {1, 2, 5, 5};
  std::vector<float> x = RandomInput(50, 6);
  auto xt = Tensor::FromHost(&cpu, in, x);
  ASSERT_TRUE(xt.ok());
  Tensor y;
  ASSERT_TRUE(conv.Forward(*xt, &y, false).ok());
  auto w = conv.Params()[0]->value.ToHost();
  ASSERT_TRUE(w.ok());
  auto yh = y.ToHost();
  ASSERT_TRUE(yh.ok());
  for (int oc = 0; oc < 2; ++oc) {
    for (int oy = 0; oy < 3; ++oy) {
      for (int ox = 0; ox < 3; ++ox) {
        double acc = 0;  // bias is zero-initialised
        for (int c = 0; c < 2; ++c)
          for (int i = 0; i < 3; ++i)
            for (int j = 0; j < 3; ++j) {
              int iy = oy * 2 - 1 + i, ix = ox * 2 - 1 + j;
              if (iy < 0 || iy >= 5 || ix < 0 || ix >= 5) continue;
              acc += (*w)[(oc * 2 + c) * 9 + i * 3 + j] * x[c * 25 + iy * 5 + ix];
            }
        EXPECT_NEAR((*yh)[oc * 9 + oy * 3 + ox], acc, 1e-5);
      }
    }
  }
}

TEST(Conv2dTest, RejectsWrongChannelCountAndUseBeforeInit) {
  CpuBackend cpu;
  Conv2d::Options o;
  o.in_channels = 3;
  Conv2d conv("conv", o);
  EXPECT_EQ(conv.OutputShape({1, 2, 8, 8}).status().code(),
            absl::StatusCode::kInvalidArgument);
  auto x = Tensor::Zeros(&cpu, {1, 3, 8, 8});
  ASSERT_TRUE(x.ok());
  Tensor y;
  EXPECT_EQ(conv.Forward(*x, &y, false).code(),
            absl::StatusCode::kFailedPrecondition);
}

// Parameter-free layers: a gradient check of dL/dx only.
// `cpu` must outlive `layer`: a layer frees its tensors (a dropout mask)
// through the backend it was initialised with.
void CheckParamFree(CpuBackend* cpu, Layer* layer, const Shape& in,
                    std::vector<float> x,
                    std::function<void()> before = nullptr) {
  ASSERT_TRUE(layer->Init(cpu, 9).ok());
  auto r = CheckLayerGradients(cpu, layer, in, x, GradCheckOptions{}, before);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_LT(r->Max(), kTolerance) << r->ToString();
}

TEST(MaxPool2dTest, GradientsMatchNumericalReference) {
  CpuBackend cpu;
  MaxPool2d pool("pool", 2, 2);
  CheckParamFree(&cpu, &pool, {2, 3, 6, 4}, DistinctInput(144, 1));
}

TEST(MaxPool2dTest, OverlappingWindowGradientsMatchNumericalReference) {
  CpuBackend cpu;
  MaxPool2d pool("pool", 3, 2);
  CheckParamFree(&cpu, &pool, {1, 2, 7, 7}, DistinctInput(98, 2));
}

TEST(ReluTest, GradientsMatchNumericalReference) {
  CpuBackend cpu;
  Relu relu("relu");
  CheckParamFree(&cpu, &relu, {3, 2, 4, 4}, RandomInput(96, 3));
}

TEST(FlattenTest, GradientsMatchNumericalReferenceAndShapeIsFlat) {
  CpuBackend cpu;
  Flatten flat("flat");
  auto out = flat.OutputShape({3, 2, 4, 5});
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(*out, (Shape{3, 40}));
  CheckParamFree(&cpu, &flat, {3, 2, 4, 5}, RandomInput(120, 4));
}

TEST(LinearTest, GradientsMatchNumericalReference) {
  CpuBackend cpu;
  Linear::Options o;
  o.in_features = 12;
  o.out_features = 7;
  Linear fc("fc", o);
  ASSERT_TRUE(fc.Init(&cpu, 11).ok());
  auto r = CheckLayerGradients(&cpu, &fc, {5, 12}, RandomInput(60, 5), {});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_LT(r->Max(), kTolerance) << r->ToString();
  EXPECT_EQ(fc.OutputShape({5, 11}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(DropoutTest, GradientsMatchNumericalReferenceForAFixedMask) {
  CpuBackend cpu;
  Dropout drop("drop", 0.3f);
  Dropout* d = &drop;
  CheckParamFree(&cpu, &drop, {4, 30}, RandomInput(120, 6),
                 [d] { d->set_mask_counter(5); });
}

TEST(DropoutTest, DropsAboutPAndScalesTheRestAndIsIdentityAtInference) {
  CpuBackend cpu;
  Dropout drop("drop", 0.25f);
  ASSERT_TRUE(drop.Init(&cpu, 1).ok());
  std::vector<float> ones(10000, 1.0f);
  auto x = Tensor::FromHost(&cpu, {100, 100}, ones);
  ASSERT_TRUE(x.ok());
  Tensor y;
  ASSERT_TRUE(drop.Forward(*x, &y, true).ok());
  auto h = y.ToHost();
  ASSERT_TRUE(h.ok());
  int zeros = 0;
  for (float v : *h) {
    if (v == 0.0f) {
      ++zeros;
    } else {
      EXPECT_FLOAT_EQ(v, 1.0f / 0.75f);
    }
  }
  EXPECT_GT(zeros, 2200);
  EXPECT_LT(zeros, 2800);
  // A second mask differs; the same counter repeats it.
  Tensor y2;
  ASSERT_TRUE(drop.Forward(*x, &y2, true).ok());
  EXPECT_NE(*h, *y2.ToHost());
  drop.set_mask_counter(0);
  ASSERT_TRUE(drop.Forward(*x, &y2, true).ok());
  EXPECT_EQ(*h, *y2.ToHost());
  ASSERT_TRUE(drop.Forward(*x, &y, false).ok());
  EXPECT_EQ(*y.ToHost(), ones);
}

TEST(DropoutTest, RejectsProbabilityOne) {
  CpuBackend cpu;
  Dropout drop("drop", 1.0f);
  EXPECT_EQ(drop.Init(&cpu, 1).code(), absl::StatusCode::kInvalidArgument);
}

TEST(LayerTest, InitOnASecondBackendIsRejected) {
  CpuBackend a, b;
  Relu relu("relu");
  ASSERT_TRUE(relu.Init(&a, 1).ok());
  EXPECT_EQ(relu.Init(&b, 1).code(), absl::StatusCode::kFailedPrecondition);
}

TEST(InitTest, HeInitIsSeededAndHasTheRightScale) {
  CpuBackend cpu;
  Linear::Options o;
  o.in_features = 200;
  o.out_features = 100;
  Linear a("fc", o), b("fc", o);
  ASSERT_TRUE(a.Init(&cpu, 42).ok());
  ASSERT_TRUE(b.Init(&cpu, 42).ok());
  auto wa = a.Params()[0]->value.ToHost();
  auto wb = b.Params()[0]->value.ToHost();
  EXPECT_EQ(*wa, *wb);
  double sq = 0;
  for (float v : *wa) sq += v * v;
  EXPECT_NEAR(sq / wa->size(), 2.0 / 200, 0.1 * 2.0 / 200);
}

}  // namespace
}  // namespace nn
}  // namespace strata
