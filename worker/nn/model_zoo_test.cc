#include "worker/nn/model_zoo.h"

#include <random>

#include "gtest/gtest.h"
#include "server/jobs/cnn_models.h"
#include "worker/nn/cpu_backend.h"

namespace strata {
namespace nn {
namespace {

TEST(ModelZooTest, LeNet5HasTheClassicParameterCount) {
  auto s = Summarize(LeNet5());
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->TotalParams(), 61706);
  EXPECT_EQ(s->conv.output_shape, (Shape{400}));
}

TEST(ModelZooTest, AlexNetHas34MParametersAlmostAllInTheFcPart) {
  auto s = Summarize(AlexNetCifar());
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->conv.params, 370816);
  EXPECT_EQ(s->fc.params, 33603594);
  EXPECT_EQ(s->conv.output_shape, (Shape{4096}));
  const double fc_share =
      static_cast<double>(s->fc.params) / s->TotalParams();
  EXPECT_GE(fc_share, 0.85);
  EXPECT_NEAR(fc_share, 0.989, 0.001);
}

TEST(ModelZooTest, VggSplitsAtFlattenWithConvHeavyFlops) {
  auto s = Summarize(VggCifar());
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->conv.output_shape, (Shape{4096}));
  EXPECT_GT(s->conv.forward_flops, 10 * s->fc.forward_flops);
}

TEST(ModelZooTest, EveryCatalogueModelBuildsWithTheCataloguesImageShape) {
  ASSERT_FALSE(jobs::CnnModels().empty());
  for (const jobs::CnnModelInfo& info : jobs::CnnModels()) {
    absl::StatusOr<Model> m = BuildModel(info.name);
    ASSERT_TRUE(m.ok()) << info.name << ": " << m.status();
    EXPECT_EQ(m->name, info.name);
    EXPECT_EQ(m->image_shape, (Shape{info.channels, info.height, info.width}))
        << info.name;
  }
}

TEST(ModelZooTest, UnknownModelIsNotFound) {
  EXPECT_EQ(BuildModel("resnet").status().code(), absl::StatusCode::kNotFound);
  for (const std::string& name : ModelNames()) {
    EXPECT_TRUE(BuildModel(name).ok()) << name;
  }
}

TEST(ModelZooTest, EveryModelRunsForwardAndBackwardToTenLogits) {
  CpuBackend cpu;
  for (const char* name : {"lenet5", "vgg"}) {
    Model m = *BuildModel(name);
    ASSERT_TRUE(m.net.Init(&cpu, 1).ok());
    const Shape in = m.InputShape(2);
    std::vector<float> x(NumElements(in), 0.5f);
    auto xt = Tensor::FromHost(&cpu, in, x);
    auto y = m.net.Forward(*xt, true);
    ASSERT_TRUE(y.ok()) << y.status();
    EXPECT_EQ((*y)->shape(), (Shape{2, 10}));
    auto dy = Tensor::Zeros(&cpu, {2, 10});
    EXPECT_TRUE(m.net.Backward(*dy, nullptr).ok()) << name;
  }
}

}  // namespace
}  // namespace nn
}  // namespace strata
