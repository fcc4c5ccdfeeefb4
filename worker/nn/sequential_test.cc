#include "worker/nn/sequential.h"

#include <random>

#include "gtest/gtest.h"
#include "worker/nn/cpu_backend.h"
#include "worker/nn/internal/grad_check.h"

namespace strata {
namespace nn {
namespace {

Sequential SmallNet() {
  Sequential net;
  Conv2d::Options c;
  c.in_channels = 2;
  c.out_channels = 3;
  c.kernel = 3;
  c.pad = 1;
  EXPECT_TRUE(net.Add(std::make_shared<Conv2d>("conv", c)).ok());
  EXPECT_TRUE(net.Add(std::make_shared<Relu>("relu")).ok());
  EXPECT_TRUE(net.Add(std::make_shared<MaxPool2d>("pool", 2, 2)).ok());
  EXPECT_TRUE(net.Add(std::make_shared<Flatten>("flatten")).ok());
  Linear::Options l;
  l.in_features = 3 * 3 * 3;
  l.out_features = 4;
  EXPECT_TRUE(net.Add(std::make_shared<Linear>("fc", l)).ok());
  return net;
}

std::vector<float> Input(int64_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<float> v(n);
  for (float& x : v) x = (rng() >> 40) / 16777216.0f * 2 - 1;
  return v;
}

TEST(SequentialTest, RejectsDuplicateNamesAndUnknownBoundary) {
  Sequential net = SmallNet();
  EXPECT_EQ(net.Add(std::make_shared<Relu>("relu")).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(net.SplitAt("nope").status().code(), absl::StatusCode::kNotFound);
}

TEST(SequentialTest, BackwardBeforeForwardIsFailedPrecondition) {
  CpuBackend cpu;
  Sequential net = SmallNet();
  ASSERT_TRUE(net.Init(&cpu, 1).ok());
  auto dy = Tensor::Zeros(&cpu, {1, 4});
  EXPECT_EQ(net.Backward(*dy, nullptr).code(),
            absl::StatusCode::kFailedPrecondition);
}

// A kink-free chain (ReLU and max-pooling are checked one by one in
// layers_test with inputs kept away from their kinks; chained, a finite
// difference step can cross a kink).
TEST(SequentialTest, WholeNetGradientsMatchNumericalReference) {
  CpuBackend cpu;
  Sequential net;
  Conv2d::Options c;
  c.in_channels = 2;
  c.out_channels = 3;
  c.kernel = 3;
  c.stride = 2;
  c.pad = 1;
  ASSERT_TRUE(net.Add(std::make_shared<Conv2d>("conv", c)).ok());
  ASSERT_TRUE(net.Add(std::make_shared<Flatten>("flatten")).ok());
  Linear::Options l;
  l.in_features = 27;
  l.out_features = 4;
  ASSERT_TRUE(net.Add(std::make_shared<Linear>("fc", l)).ok());
  ASSERT_TRUE(net.Init(&cpu, 5).ok());
  const Shape in = {2, 2, 6, 6};
  auto report = internal::CheckGradients(
      &cpu, in, Input(144, 1),
      [&](const Tensor& x) { return net.Forward(x, true); },
      [&](const Tensor& dy, Tensor* dx) { return net.Backward(dy, dx); },
      net.Params(), {});
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_LT(report->Max(), 1e-3) << report->ToString();
}

TEST(SequentialTest, SplitPartsComposeToTheWholeForwardAndBackward) {
  CpuBackend cpu;
  Sequential net = SmallNet();
  ASSERT_TRUE(net.Init(&cpu, 5).ok());
  auto parts = net.SplitAt("flatten");
  ASSERT_TRUE(parts.ok());
  EXPECT_EQ(parts->first.layers().size(), 4u);
  EXPECT_EQ(parts->second.layers().size(), 1u);
  EXPECT_EQ(parts->first.NumParams() + parts->second.NumParams(),
            net.NumParams());
  const Shape in = {2, 2, 6, 6};
  EXPECT_EQ(*parts->first.OutputShape(in), (Shape{2, 27}));

  auto x = Tensor::FromHost(&cpu, in, Input(144, 2));
  auto dy = Tensor::FromHost(&cpu, {2, 4}, Input(8, 3));
  auto whole = net.Forward(*x, true);
  ASSERT_TRUE(whole.ok());
  std::vector<float> whole_out = *(*whole)->ToHost();
  ASSERT_TRUE(net.Backward(*dy, nullptr).ok());
  std::vector<std::vector<float>> whole_grads;
  for (Parameter* p : net.Params()) whole_grads.push_back(*p->grad.ToHost());

  auto mid = parts->first.Forward(*x, true);
  ASSERT_TRUE(mid.ok());
  auto out = parts->second.Forward(**mid, true);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(*(*out)->ToHost(), whole_out);
  Tensor boundary_grad;
  ASSERT_TRUE(parts->second.Backward(*dy, &boundary_grad).ok());
  EXPECT_EQ(boundary_grad.shape(), (Shape{2, 27}));
  ASSERT_TRUE(parts->first.Backward(boundary_grad, nullptr).ok());
  std::vector<Parameter*> params = net.Params();
  for (size_t i = 0; i < params.size(); ++i) {
    EXPECT_EQ(*params[i]->grad.ToHost(), whole_grads[i]) << params[i]->name;
  }
}

TEST(SequentialTest, PartsInitialisedAloneEqualTheInitialisedWhole) {
  CpuBackend cpu;
  Sequential whole = SmallNet();
  ASSERT_TRUE(whole.Init(&cpu, 9).ok());
  Sequential fresh = SmallNet();
  auto parts = fresh.SplitAt("pool");
  ASSERT_TRUE(parts.ok());
  ASSERT_TRUE(parts->second.Init(&cpu, 9).ok());
  ASSERT_TRUE(parts->first.Init(&cpu, 9).ok());
  auto a = whole.Params(), b = fresh.Params();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(*a[i]->value.ToHost(), *b[i]->value.ToHost());
  }
}

}  // namespace
}  // namespace nn
}  // namespace strata

namespace strata {
namespace nn {
namespace {

TEST(SequentialTest, AfterLayerHookSeesEachLayerOnceLastFirstWithFinalGrads) {
  CpuBackend cpu;
  Sequential net = SmallNet();
  ASSERT_TRUE(net.Init(&cpu, 5).ok());
  auto x = Tensor::FromHost(&cpu, {2, 2, 6, 6}, Input(144, 2));
  auto dy = Tensor::FromHost(&cpu, {2, 4}, Input(8, 3));
  ASSERT_TRUE(net.Forward(*x, true).ok());
  ASSERT_TRUE(net.Backward(*dy, nullptr).ok());
  std::vector<std::vector<float>> plain;
  for (Parameter* p : net.Params()) plain.push_back(*p->grad.ToHost());

  ASSERT_TRUE(net.Forward(*x, true).ok());
  std::vector<std::string> order;
  std::vector<std::vector<float>> seen;
  ASSERT_TRUE(net.Backward(*dy, nullptr, [&](Layer& layer) {
                   order.push_back(layer.name());
                   for (Parameter* p : layer.Params()) {
                     seen.push_back(*p->grad.ToHost());
                   }
                   return absl::OkStatus();
                 })
                  .ok());
  EXPECT_EQ(order, (std::vector<std::string>{"fc", "flatten", "pool", "relu",
                                             "conv"}));
  // fc's (weight, bias) come first, conv's last; each equals the plain pass.
  ASSERT_EQ(seen.size(), plain.size());
  EXPECT_EQ(seen[0], plain[2]);
  EXPECT_EQ(seen[2], plain[0]);

  ASSERT_TRUE(net.Forward(*x, true).ok());
  int calls = 0;
  absl::Status s = net.Backward(*dy, nullptr, [&](Layer&) {
    ++calls;
    return absl::UnavailableError("push failed");
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(calls, 1);  // the error stops the pass
}

}  // namespace
}  // namespace nn
}  // namespace strata
