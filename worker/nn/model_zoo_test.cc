#include "worker/nn/model_zoo.h"

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
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
  for (const jobs::CnnModelDef& info : jobs::CnnModels()) {
    absl::StatusOr<Model> m = BuildModel(info.name);
    ASSERT_TRUE(m.ok()) << info.name << ": " << m.status();
    EXPECT_EQ(m->name, info.name);
    EXPECT_EQ(m->image_shape, (Shape{info.channels, info.height, info.width}))
        << info.name;
  }
}

// Captured from the hand-written builders (model_zoo.cc before the presets
// became descriptions, commit e7d694d): each preset's parameters (name:size)
// and its training-mode logits (dropout included) for 2 fixed images, seed 1.
struct Golden {
  const char* name;
  const char* params;
  std::vector<float> logits;
};
const Golden kGolden[] = {
    {"lenet5",
     "conv1/weight:150 conv1/bias:6 conv2/weight:2400 conv2/bias:16 "
     "fc1/weight:48000 fc1/bias:120 fc2/weight:10080 fc2/bias:84 "
     "fc3/weight:840 fc3/bias:10 ",
     {1.37038386f, 1.55403399f, 0.949929237f, 0.32806617f, -0.00757908821f,
      0.31561932f, -1.61903131f, -1.07372773f, -1.67250061f, -0.996162653f,
      1.87007356f, 1.60607123f, 0.625472486f, 0.486781389f, 0.04809919f,
      0.362250328f, -1.8073678f, -1.25199699f, -1.86424828f, -0.731593132f}},
    {"alexnet",
     "conv1/weight:1728 conv1/bias:64 conv2/weight:73728 conv2/bias:128 "
     "conv3/weight:294912 conv3/bias:256 fc1/weight:16777216 fc1/bias:4096 "
     "fc2/weight:16777216 fc2/bias:4096 fc3/weight:40960 fc3/bias:10 ",
     {0.956062734f, 4.35449505f, 0.852327526f, -1.1413691f, 5.98740482f,
      2.34524345f, -3.80638313f, -5.64135981f, -1.47239399f, -7.00364256f,
      2.94460273f, 5.0702014f, -1.98058581f, -7.09624052f, -3.34519529f,
      1.53047109f, -1.68152571f, -1.07682014f, 6.16749287f, -2.81407738f}},
    {"vgg",
     "conv1_1/weight:1728 conv1_1/bias:64 conv1_2/weight:36864 "
     "conv1_2/bias:64 conv2_1/weight:73728 conv2_1/bias:128 "
     "conv2_2/weight:147456 conv2_2/bias:128 conv3_1/weight:294912 "
     "conv3_1/bias:256 conv3_2/weight:589824 conv3_2/bias:256 "
     "fc1/weight:2097152 fc1/bias:512 fc2/weight:5120 fc2/bias:10 ",
     {2.62088776f, 5.46161652f, -2.77681303f, -0.486633897f, 0.00650817156f,
      -0.474284172f, 1.57756495f, -0.444111884f, -2.07731533f, -6.23730183f,
      2.09039617f, 3.09011388f, -0.555606961f, -0.325156927f,
      -0.0821567774f, 2.03448296f, 0.972823083f, 3.8956759f, 0.69964087f,
      -1.45121515f}},
};

TEST(ModelZooTest, PresetsEqualTheFormerHandWrittenModels) {
  CpuBackend cpu;
  ASSERT_EQ(ModelNames().size(), 3u);
  for (const Golden& g : kGolden) {
    Model m = *BuildModel(g.name);
    EXPECT_EQ(m.boundary, "flatten");
    ASSERT_TRUE(m.net.Init(&cpu, 1).ok());
    std::string params;
    for (Parameter* p : m.net.Params()) {
      params += absl::StrCat(p->name, ":", p->value.size(), " ");
    }
    EXPECT_EQ(params, g.params);
    const Shape in = m.InputShape(2);
    std::vector<float> x(NumElements(in));
    for (size_t i = 0; i < x.size(); ++i) {
      x[i] = ((i * 7919) % 1000) / 1000.0f;
    }
    auto xt = Tensor::FromHost(&cpu, in, x);
    ASSERT_TRUE(xt.ok());
    auto y = m.net.Forward(*xt, /*training=*/true);
    ASSERT_TRUE(y.ok()) << y.status();
    const std::vector<float> got = *(*y)->ToHost();
    ASSERT_EQ(got.size(), g.logits.size());
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_NEAR(got[i], g.logits[i], 1e-5f * (1 + std::fabs(g.logits[i])))
          << g.name << " logit " << i;
    }
  }
}

TEST(ModelZooTest, EngineShapesParamsAndFlopsEqualTheDescriptions) {
  for (const jobs::CnnModelDef& def : jobs::CnnModels()) {
    auto info = jobs::InferCnnModel(def, {}, def.name);
    ASSERT_TRUE(info.ok()) << info.status();
    Model m = *BuildModel(def);
    auto s = Summarize(m);
    ASSERT_TRUE(s.ok());
    EXPECT_EQ(s->conv.params, info->conv_params) << def.name;
    EXPECT_EQ(s->fc.params, info->fc_params) << def.name;
    EXPECT_EQ(s->conv.forward_flops, info->conv_forward_flops) << def.name;
    EXPECT_EQ(s->conv.backward_flops, info->conv_backward_flops) << def.name;
    EXPECT_EQ(s->fc.forward_flops, info->fc_forward_flops) << def.name;
    EXPECT_EQ(s->fc.backward_flops, info->fc_backward_flops) << def.name;
    Shape shape = m.InputShape(1);
    for (size_t i = 0; i < def.layers.size(); ++i) {
      shape = *m.net.layers()[i]->OutputShape(shape);
      EXPECT_EQ(Shape(shape.begin() + 1, shape.end()), info->layers[i].output)
          << def.name << " layer " << i;
    }
  }
}

TEST(ModelZooTest, BuildsACustomDescriptionWithStridesAndItsOwnSplit) {
  jobs::CnnModelDef def;
  def.name = "custom";
  def.channels = 3;
  def.height = def.width = 16;
  using K = jobs::CnnLayerKind;
  def.layers = {{K::kConv, "c", 8, 3, 2, 1}, {K::kRelu, "r"},
                {K::kMaxPool, "p", 0, 3, 2}, {K::kFlatten, "f"},
                {K::kLinear, "l1", 32},      {K::kDropout, "d", 0, 0, 0, 0, 0.1f},
                {K::kLinear, "l2", 10}};
  def.split_after = 5;  // the FC part starts after l1
  absl::StatusOr<Model> m = BuildModel(def);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->boundary, "l1");
  auto s = Summarize(*m);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->conv.output_shape, (Shape{32}));  // 8x3x3 -> 72 -> 32
  EXPECT_EQ(s->conv.params, 8 * 27 + 8 + 72 * 32 + 32);
  EXPECT_EQ(s->fc.params, 32 * 10 + 10);
  def.split_after = 3;
  EXPECT_EQ(BuildModel(def).status().code(),
            absl::StatusCode::kInvalidArgument);
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
