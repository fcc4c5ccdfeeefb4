#include "server/jobs/cnn_models.h"

#include <cmath>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace strata {
namespace jobs {
namespace {

using K = CnnLayerKind;

// A small valid model: 1x8x8 -> conv4 k3 p1 -> relu -> pool -> flatten ->
// dropout -> linear10.
CnnModelDef Small() {
  CnnModelDef m;
  m.name = "custom";
  m.channels = 1;
  m.height = m.width = 8;
  m.layers = {{K::kConv, "c", 4, 3, 1, 1},          {K::kRelu, "r"},
              {K::kMaxPool, "p", 0, 2, 2},          {K::kFlatten, "f"},
              {K::kDropout, "d", 0, 0, 0, 0, 0.5f}, {K::kLinear, "l", 10}};
  m.split_after = 4;
  return m;
}

std::string Error(const CnnModelDef& m, CnnModelLimits limits = {}) {
  absl::StatusOr<CnnModelInfo> r = InferCnnModel(m, limits, "spec");
  EXPECT_FALSE(r.ok());
  if (r.ok()) return "ok";
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(r.status().message());
}

TEST(CnnModelsTest, InfersEveryLayerTypesShapeParamsAndFlops) {
  absl::StatusOr<CnnModelInfo> r = InferCnnModel(Small(), {}, "spec");
  ASSERT_TRUE(r.ok()) << r.status();
  const std::vector<std::vector<int64_t>> shapes = {
      {4, 8, 8}, {4, 8, 8}, {4, 4, 4}, {64}, {64}, {10}};
  ASSERT_EQ(r->layers.size(), shapes.size());
  for (size_t i = 0; i < shapes.size(); ++i) {
    EXPECT_EQ(r->layers[i].output, shapes[i]) << i;
  }
  EXPECT_EQ(r->layers[0].params, 4 * 9 + 4);
  EXPECT_EQ(r->layers[5].params, 64 * 10 + 10);
  EXPECT_EQ(r->conv_params, 40);
  EXPECT_EQ(r->fc_params, 650);
  EXPECT_EQ(r->boundary, 64);
  EXPECT_DOUBLE_EQ(r->layers[0].forward_flops, 2.0 * 4 * 64 * 9);
  EXPECT_DOUBLE_EQ(r->layers[0].backward_flops, 2.0 * 4 * 64 * 9);  // no dx
  EXPECT_DOUBLE_EQ(r->fc_backward_flops, 2 * 2.0 * 64 * 10);
  EXPECT_EQ(r->conv_activations, 64 + 256 + 256 + 64 + 64);
  EXPECT_EQ(r->fc_activations, 64 + 10);
}

TEST(CnnModelsTest, StridedConvAndPoolRoundDown) {
  CnnModelDef m = Small();
  m.layers[0].stride = 2;  // (8 + 2 - 3) / 2 + 1 = 4
  m.layers[2].kernel = 3;  // (4 - 3) / 2 + 1 = 1
  absl::StatusOr<CnnModelInfo> r = InferCnnModel(m, {}, "spec");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->layers[0].output, (std::vector<int64_t>{4, 4, 4}));
  EXPECT_EQ(r->layers[2].output, (std::vector<int64_t>{4, 1, 1}));
}

TEST(CnnModelsTest, RejectsBadLayersNamingTheFirstOne) {
  struct Case {
    void (*mutate)(CnnModelDef*);
    const char* message;
  };
  const Case cases[] = {
      {[](CnnModelDef* m) { m->layers[0].out = 0; },
       "spec.layers[0] (CONV) got 1x8x8: out 0 is not in [1, 65536]"},
      {[](CnnModelDef* m) { m->layers[0].kernel = 65; },
       "spec.layers[0] (CONV) got 1x8x8: kernel 65 is not in [1, 64]"},
      {[](CnnModelDef* m) { m->layers[0].stride = 0; },
       "spec.layers[0] (CONV) got 1x8x8: stride 0 is not in [1, 64]"},
      {[](CnnModelDef* m) { m->layers[0].padding = 3; },
       "spec.layers[0] (CONV) got 1x8x8: padding 3 is not in [0, 2]"},
      {[](CnnModelDef* m) {
         m->layers[0].kernel = 11;
         m->layers[0].padding = 1;
       },
       "spec.layers[0] (CONV) got 1x8x8: kernel 11 is larger than the padded "
       "10x10 input"},
      {[](CnnModelDef* m) { m->layers[2].kernel = 9; },
       "spec.layers[2] (MAX_POOL) got 4x8x8: kernel 9 is larger than the "
       "padded 8x8 input"},
      {[](CnnModelDef* m) { m->layers[4].rate = 1.0f; },
       "spec.layers[4] (DROPOUT) got 64: rate 1 is not in [0, 1)"},
      {[](CnnModelDef* m) { m->layers[4].rate = std::nanf(""); },
       "spec.layers[4] (DROPOUT) got 64: rate nan is not in [0, 1)"},
      {[](CnnModelDef* m) {
         m->layers[3] = {K::kRelu, "r2"};
       },
       "spec.layers[5] (LINEAR) got 4x4x4: input is not flat (put a FLATTEN "
       "before the first LINEAR)"},
      {[](CnnModelDef* m) {
         m->layers[4] = {K::kFlatten, "f2"};
       },
       "spec.layers[4] (FLATTEN) got 64: input is already flat"},
      {[](CnnModelDef* m) {
         m->layers[4] = {K::kConv, "c2", 4, 1, 1};
       },
       "spec.layers[4] (CONV) got 64: input is flat, not CxHxW"},
      {[](CnnModelDef* m) { m->layers[5].out = 7; },
       "spec: the model outputs 7 values per image but the data has 10 "
       "classes (end with a LINEAR of out 10)"},
      {[](CnnModelDef* m) { m->split_after = 6; },
       "spec: split_after 6 is not in [1, 5] (the conv part is "
       "layers[0, split_after))"},
      {[](CnnModelDef* m) { m->split_after = 3; },
       "spec: split_after 3 cuts at a 4x4x4 activation; Stanza's boundary "
       "must be flat (after the FLATTEN)"},
      {[](CnnModelDef* m) { m->split_after = 0; },
       "spec: split_after 0 is not in [1, 5] (the conv part is "
       "layers[0, split_after))"},
      {[](CnnModelDef* m) {
         m->layers[4] = {K::kLinear, "l0", 10};
         m->layers[5] = {K::kDropout, "d", 0, 0, 0, 0, 0.5f};
         m->split_after = 5;
       },
       "spec: split_after 5 leaves no LINEAR layer in the FC part"},
      {[](CnnModelDef* m) { m->height = 0; },
       "spec: input image 1x0x8 needs every side in [1, 4096]"},
      {[](CnnModelDef* m) { m->layers.resize(1); },
       "spec: 1 layers; a model has 2 to 256 (a conv part and an FC part)"},
  };
  for (const Case& c : cases) {
    CnnModelDef m = Small();
    c.mutate(&m);
    EXPECT_EQ(Error(m), c.message);
  }
}

TEST(CnnModelsTest, LimitsBoundParamsActivationsAndLayersBeforeAllocating) {
  CnnModelDef m = Small();
  CnnModelLimits limits;
  limits.max_params = 689;  // the model has 690
  EXPECT_EQ(Error(m, limits),
            "spec.layers[5] (LINEAR) got 64: the model reaches 690 parameters "
            "and 778 activation floats per image; the limits are 689 "
            "parameters and 1073741824 activation floats per image and part");
  limits = {};
  limits.max_layers = 5;
  EXPECT_EQ(Error(m, limits),
            "spec: 6 layers; a model has 2 to 5 (a conv part and an FC part)");
  // A 1e12-parameter request: two LINEAR layers of 65536 x 65536 after a
  // 4096x4096 image; fails at the first LINEAR without allocating.
  CnnModelDef huge = Small();
  huge.channels = 1;
  huge.height = huge.width = 4096;
  huge.layers = {
      {K::kFlatten, "f"}, {K::kLinear, "a", 65536}, {K::kLinear, "b", 10}};
  huge.split_after = 1;
  const std::string e = Error(huge);
  EXPECT_EQ(e.rfind("spec.layers[1] (LINEAR) got 16777216: the model reaches "
                    "1099511693312 parameters",
                    0),
            0u)
      << e;
}

TEST(CnnModelsTest, PresetsAreValidDescriptionsWithTheirDocumentedSizes) {
  ASSERT_EQ(CnnModelNameList(), "lenet5, alexnet, vgg");
  for (const CnnModelDef& m : CnnModels()) {
    EXPECT_TRUE(InferCnnModel(m, {}, m.name).ok()) << m.name;
  }
  absl::StatusOr<CnnModelInfo> alex =
      InferCnnModel(*FindCnnModel("alexnet"), {}, "alexnet");
  ASSERT_TRUE(alex.ok());
  EXPECT_EQ(alex->conv_params, 370816);
  EXPECT_EQ(alex->fc_params, 33603594);
  EXPECT_EQ(alex->boundary, 4096);
  EXPECT_EQ(FindCnnModel("resnet"), nullptr);
}

TEST(CnnModelsTest, ByteFormulaMatchesDocsStanzaMd) {
  absl::StatusOr<CnnModelInfo> alex =
      InferCnnModel(*FindCnnModel("alexnet"), {}, "alexnet");
  ASSERT_TRUE(alex.ok());
  // docs/stanza.md: PS 271.8 MB, STANZA 2.97 + 2.10 = 5.06 MB, ratio 53.7.
  const StepBytes ps = PsStepBytes(*alex);
  const StepBytes st = StanzaStepBytes(*alex, 64, false);
  EXPECT_EQ(ps.Total(), 2 * 4 * (370816 + 33603594));
  EXPECT_EQ(st.ps_pull + st.ps_push, 2 * 4 * 370816);
  EXPECT_EQ(st.fc_sent, 4 * 64 * 4096);
  EXPECT_EQ(st.fc_recv, st.fc_sent);
  EXPECT_NEAR(static_cast<double>(ps.Total()) / st.Total(), 53.7, 0.05);
  EXPECT_EQ(StanzaStepBytes(*alex, 64, true).fc_sent, 2 * 64 * 4096);
}

}  // namespace
}  // namespace jobs
}  // namespace strata
