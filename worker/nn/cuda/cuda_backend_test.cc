// CPU vs CUDA parity. Every test skips, saying why, when the binary was
// built without --config=cuda or when no CUDA device is visible.
#include "worker/nn/cuda/cuda_backend.h"

#include <cmath>
#include <functional>
#include <random>

#include "gtest/gtest.h"
#include "worker/nn/cpu_backend.h"
#include "worker/nn/layers.h"
#include "worker/nn/loss.h"
#include "worker/nn/model_zoo.h"
#include "worker/nn/sgd.h"

namespace strata {
namespace nn {
namespace {

// Returns the GPU backend or a reason to skip.
std::unique_ptr<Backend> GpuOrSkipReason(std::string* reason) {
  if (!CudaBackendBuilt()) {
    *reason = "built without CUDA: run with --config=cuda on a GPU host";
    return nullptr;
  }
  auto count = CudaDeviceCount();
  if (!count.ok() || *count == 0) {
    *reason = "no CUDA device is visible on this machine";
    return nullptr;
  }
  auto b = CreateCudaContext(0);
  if (!b.ok()) {
    *reason = std::string(b.status().message());
    return nullptr;
  }
  return *std::move(b);
}

#define GPU_OR_SKIP(var)                          \
  std::string skip_reason;                        \
  std::unique_ptr<Backend> var = GpuOrSkipReason(&skip_reason); \
  if (var == nullptr) GTEST_SKIP() << skip_reason

std::vector<float> Random(int64_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<float> v(n);
  for (float& x : v) x = (rng() >> 40) / 16777216.0f * 2 - 1;
  return v;
}

double RelDiff(const std::vector<float>& a, const std::vector<float>& b) {
  double d = 0, n = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    d += double(a[i] - b[i]) * (a[i] - b[i]);
    n += double(a[i]) * a[i];
  }
  return std::sqrt(d) / std::max(std::sqrt(n), 1e-12);
}

void ExpectClose(const Tensor& cpu, const Tensor& gpu, const std::string& what) {
  ASSERT_EQ(cpu.shape(), gpu.shape()) << what;
  auto a = cpu.ToHost();
  auto b = gpu.ToHost();
  ASSERT_TRUE(a.ok() && b.ok()) << what;
  EXPECT_LT(RelDiff(*a, *b), 1e-4) << what;
}

// Runs forward+backward of two identically built layers on CPU and GPU.
void LayerParity(Backend* gpu, const std::function<std::unique_ptr<Layer>()>& make,
                 const Shape& in) {
  CpuBackend cpu;
  std::unique_ptr<Layer> lc = make(), lg = make();
  ASSERT_TRUE(lc->Init(&cpu, 3).ok());
  ASSERT_TRUE(lg->Init(gpu, 3).ok());
  const std::vector<float> x = Random(NumElements(in), 1);
  auto xc = Tensor::FromHost(&cpu, in, x);
  auto xg = Tensor::FromHost(gpu, in, x);
  Tensor yc, yg, dxc, dxg;
  ASSERT_TRUE(lc->Forward(*xc, &yc, true).ok());
  ASSERT_TRUE(lg->Forward(*xg, &yg, true).ok());
  ExpectClose(yc, yg, lc->name() + " forward");
  const std::vector<float> r = Random(yc.size(), 2);
  auto dyc = Tensor::FromHost(&cpu, yc.shape(), r);
  auto dyg = Tensor::FromHost(gpu, yg.shape(), r);
  ASSERT_TRUE(lc->Backward(*xc, yc, *dyc, &dxc).ok());
  ASSERT_TRUE(lg->Backward(*xg, yg, *dyg, &dxg).ok());
  ExpectClose(dxc, dxg, lc->name() + " dx");
  for (size_t i = 0; i < lc->Params().size(); ++i) {
    ExpectClose(lc->Params()[i]->grad, lg->Params()[i]->grad,
                lc->Params()[i]->name);
  }
}

TEST(CudaParityTest, EveryLayerMatchesTheCpuBackend) {
  GPU_OR_SKIP(gpu);
  Conv2d::Options c;
  c.in_channels = 3;
  c.out_channels = 5;
  c.kernel = 3;
  c.stride = 2;
  c.pad = 1;
  LayerParity(gpu.get(), [&] { return std::make_unique<Conv2d>("conv", c); },
              {2, 3, 9, 8});
  c.stride = 1;
  c.kernel = 5;
  c.pad = 2;
  LayerParity(gpu.get(), [&] { return std::make_unique<Conv2d>("conv5", c); },
              {2, 3, 8, 8});
  LayerParity(gpu.get(), [] { return std::make_unique<MaxPool2d>("pool", 2, 2); },
              {2, 3, 8, 6});
  LayerParity(gpu.get(), [] { return std::make_unique<MaxPool2d>("pool3", 3, 2); },
              {2, 2, 7, 7});
  LayerParity(gpu.get(), [] { return std::make_unique<Relu>("relu"); }, {2, 50});
  LayerParity(gpu.get(), [] { return std::make_unique<Flatten>("flat"); },
              {2, 3, 4, 4});
  LayerParity(gpu.get(), [] { return std::make_unique<Dropout>("drop", 0.4f); },
              {4, 64});
  Linear::Options l;
  l.in_features = 37;
  l.out_features = 11;
  LayerParity(gpu.get(), [&] { return std::make_unique<Linear>("fc", l); },
              {5, 37});
}

TEST(CudaParityTest, LossAndSgdMatchTheCpuBackend) {
  GPU_OR_SKIP(gpu);
  CpuBackend cpu;
  const std::vector<float> z = Random(6 * 10, 4);
  const std::vector<int32_t> labels = {0, 9, 3, 3, 7, 1};
  auto zc = Tensor::FromHost(&cpu, {6, 10}, z);
  auto zg = Tensor::FromHost(gpu.get(), {6, 10}, z);
  SoftmaxCrossEntropyLoss lc, lg;
  auto a = lc.Compute(*zc, labels);
  auto b = lg.Compute(*zg, labels);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NEAR(*a, *b, 1e-5);
  ExpectClose(lc.grad(), lg.grad(), "softmax grad");
  EXPECT_EQ(lg.Compute(*zg, {0, 9, 3, 3, 7, 10}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(CudaParityTest, LeNet5TrainingStepsMatchTheCpuBackend) {
  GPU_OR_SKIP(gpu);
  CpuBackend cpu;
  Model mc = LeNet5(), mg = LeNet5();
  ASSERT_TRUE(mc.net.Init(&cpu, 5).ok());
  ASSERT_TRUE(mg.net.Init(gpu.get(), 5).ok());
  Sgd::Options so;
  so.learning_rate = 0.05f;
  so.weight_decay = 1e-4f;
  Sgd sc(mc.net.Params(), so), sg(mg.net.Params(), so);
  SoftmaxCrossEntropyLoss lc, lg;
  const Shape in = mc.InputShape(8);
  std::vector<int32_t> labels = {0, 1, 2, 3, 4, 5, 6, 7};
  for (int step = 0; step < 3; ++step) {
    const std::vector<float> x = Random(NumElements(in), 10 + step);
    auto xc = Tensor::FromHost(&cpu, in, x);
    auto xg = Tensor::FromHost(gpu.get(), in, x);
    auto yc = mc.net.Forward(*xc, true);
    auto yg = mg.net.Forward(*xg, true);
    ASSERT_TRUE(yc.ok() && yg.ok());
    ExpectClose(**yc, **yg, "logits");
    auto a = lc.Compute(**yc, labels);
    auto b = lg.Compute(**yg, labels);
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_NEAR(*a, *b, 1e-4);
    ASSERT_TRUE(mc.net.Backward(lc.grad(), nullptr).ok());
    ASSERT_TRUE(mg.net.Backward(lg.grad(), nullptr).ok());
    ASSERT_TRUE(sc.Step().ok());
    ASSERT_TRUE(sg.Step().ok());
  }
  auto pc = mc.net.Params(), pg = mg.net.Params();
  for (size_t i = 0; i < pc.size(); ++i) {
    ExpectClose(pc[i]->value, pg[i]->value, pc[i]->name);
  }
}

TEST(CudaParityTest, AlexNetSplitForwardMatchesTheCpuBackend) {
  GPU_OR_SKIP(gpu);
  CpuBackend cpu;
  Model mc = AlexNetCifar(), mg = AlexNetCifar();
  ASSERT_TRUE(mc.net.Init(&cpu, 2).ok());
  ASSERT_TRUE(mg.net.Init(gpu.get(), 2).ok());
  auto pc = mc.Split();
  auto pg = mg.Split();
  ASSERT_TRUE(pc.ok() && pg.ok());
  const Shape in = mc.InputShape(2);
  const std::vector<float> x = Random(NumElements(in), 3);
  auto xc = Tensor::FromHost(&cpu, in, x);
  auto xg = Tensor::FromHost(gpu.get(), in, x);
  auto bc = pc->first.Forward(*xc, false);
  auto bg = pg->first.Forward(*xg, false);
  ASSERT_TRUE(bc.ok() && bg.ok());
  ExpectClose(**bc, **bg, "boundary activation");
  auto yc = pc->second.Forward(**bc, false);
  auto yg = pg->second.Forward(**bg, false);
  ASSERT_TRUE(yc.ok() && yg.ok());
  ExpectClose(**yc, **yg, "logits");
}

TEST(CudaContextTest, OutOfRangeDeviceIsInvalidArgument) {
  GPU_OR_SKIP(gpu);
  auto count = CudaDeviceCount();
  EXPECT_EQ(CreateCudaContext(*count).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(CudaContextTest, CpuBuildExplainsHowToGetCuda) {
  if (CudaBackendBuilt()) GTEST_SKIP() << "CUDA build: not applicable";
  auto b = CreateCudaContext(0);
  EXPECT_EQ(b.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(b.status().message().find("--config=cuda"), absl::string_view::npos);
}

}  // namespace
}  // namespace nn
}  // namespace strata
