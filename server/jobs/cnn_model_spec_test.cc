#include "server/jobs/cnn_model_spec.h"

#include <string>

#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"

namespace strata {
namespace jobs {
namespace {

CnnTrainSpec Parse(const std::string& text) {
  CnnTrainSpec spec;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &spec))
      << text;
  return spec;
}

constexpr char kSmall[] = R"pb(
  model_spec {
    channels: 1
    height: 28
    width: 28
    layers { type: CONV out: 4 kernel: 5 padding: 2 }
    layers { type: RELU }
    layers { type: MAX_POOL kernel: 2 }
    layers { type: FLATTEN }
    layers { type: DROPOUT rate: 0.25 }
    layers { type: LINEAR out: 10 }
  })pb";

TEST(CnnModelSpecTest, ConvertsEveryLayerTypeWithDefaultsAndNames) {
  absl::StatusOr<CnnModelDef> m = CnnModelOf(Parse(kSmall));
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->name, "custom");
  EXPECT_EQ(m->channels, 1);
  EXPECT_EQ(m->height, 28);
  ASSERT_EQ(m->layers.size(), 6u);
  const char* names[] = {"conv_0",    "relu_1",    "max_pool_2",
                         "flatten_3", "dropout_4", "linear_5"};
  for (int i = 0; i < 6; ++i) EXPECT_EQ(m->layers[i].name, names[i]);
  EXPECT_EQ(m->layers[0].kind, CnnLayerKind::kConv);
  EXPECT_EQ(m->layers[0].stride, 1);  // CONV stride 0 = 1
  EXPECT_EQ(m->layers[0].padding, 2);
  EXPECT_EQ(m->layers[2].stride, 2);  // MAX_POOL stride 0 = kernel
  EXPECT_FLOAT_EQ(m->layers[4].rate, 0.25f);
  EXPECT_EQ(m->layers[5].out, 10);
  EXPECT_EQ(m->split_after, 4);  // 0 = right after the FLATTEN
  CnnModelDef def;
  absl::StatusOr<CnnModelInfo> info = InferSpecModel(Parse(kSmall), {}, &def);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->boundary, 4 * 14 * 14);
}

TEST(CnnModelSpecTest, PresetNameGivesThePresetDescription) {
  CnnTrainSpec spec;
  spec.set_model("vgg");
  absl::StatusOr<CnnModelDef> m = CnnModelOf(spec);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->name, "vgg");
  EXPECT_EQ(m->layers.size(), FindCnnModel("vgg")->layers.size());
}

TEST(CnnModelSpecTest, RejectsBadSpecsWithPreciseMessages) {
  struct Case {
    const char* text;
    const char* message;
  };
  const Case cases[] = {
      {R"pb(model: "lenet5"
            model_spec { channels: 1 })pb",
       "cnn_train: set model ('lenet5') or model_spec, not both"},
      {R"pb(model: "resnet")pb",
       "cnn_train.model 'resnet' is not one of lenet5, alexnet, vgg"},
      {R"pb(model_spec {
              layers { type: RELU }
              layers { type: 99 }
            })pb",
       "cnn_train.model_spec.layers[1]: unknown type 99 (CONV, MAX_POOL, "
       "RELU, DROPOUT, FLATTEN, LINEAR)"},
      {R"pb(model_spec { layers {} })pb",
       "cnn_train.model_spec.layers[0]: unknown type 0 (CONV, MAX_POOL, "
       "RELU, DROPOUT, FLATTEN, LINEAR)"},
      {R"pb(model_spec { layers { type: RELU out: 3 } })pb",
       "cnn_train.model_spec.layers[0] (RELU): out does not apply to RELU"},
      {R"pb(model_spec { layers { type: LINEAR out: 3 kernel: 2 } })pb",
       "cnn_train.model_spec.layers[0] (LINEAR): kernel does not apply to "
       "LINEAR"},
      {R"pb(model_spec { layers { type: MAX_POOL kernel: 2 padding: 1 } })pb",
       "cnn_train.model_spec.layers[0] (MAX_POOL): padding does not apply "
       "to MAX_POOL"},
      {R"pb(model_spec { layers { type: CONV out: 1 kernel: 1 rate: 0.5 } })pb",
       "cnn_train.model_spec.layers[0] (CONV): rate does not apply to CONV"},
      {R"pb(model_spec { layers { type: FLATTEN stride: 2 } })pb",
       "cnn_train.model_spec.layers[0] (FLATTEN): stride does not apply to "
       "FLATTEN"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<CnnModelDef> m = CnnModelOf(Parse(c.text));
    ASSERT_FALSE(m.ok()) << c.text;
    EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(m.status().message(), c.message);
  }
}

TEST(CnnModelSpecTest, LayerCountIsBoundedBeforeConverting) {
  CnnTrainSpec spec;
  for (int i = 0; i < 300; ++i) {
    spec.mutable_model_spec()->add_layers()->set_type(CnnLayerSpec::RELU);
  }
  CnnModelDef def;
  absl::Status s = InferSpecModel(spec, {}, &def).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(),
            "cnn_train.model_spec: 300 layers; a model has 2 to 256 (a conv "
            "part and an FC part)");
  EXPECT_TRUE(def.layers.empty());  // nothing converted
}

}  // namespace
}  // namespace jobs
}  // namespace strata
