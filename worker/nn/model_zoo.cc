#include "worker/nn/model_zoo.h"

#include <cstdio>
#include <cstdlib>
#include <memory>

#include "absl/strings/str_cat.h"
#include "proto/base/status_macros.h"
#include "server/jobs/cnn_models.h"

namespace strata {
namespace nn {
namespace {

using jobs::CnnLayer;
using jobs::CnnLayerKind;

// The engine layer of `l`, whose input (per image) is `in`.
std::shared_ptr<Layer> MakeLayer(const CnnLayer& l,
                                 const std::vector<int64_t>& in,
                                 bool last_linear) {
  switch (l.kind) {
    case CnnLayerKind::kConv: {
      Conv2d::Options o;
      o.in_channels = in[0];
      o.out_channels = l.out;
      o.kernel = l.kernel;
      o.stride = l.stride;
      o.pad = l.padding;
      return std::make_shared<Conv2d>(l.name, o);
    }
    case CnnLayerKind::kMaxPool:
      return std::make_shared<MaxPool2d>(l.name, l.kernel, l.stride);
    case CnnLayerKind::kRelu:
      return std::make_shared<Relu>(l.name);
    case CnnLayerKind::kDropout:
      return std::make_shared<Dropout>(l.name, l.rate);
    case CnnLayerKind::kFlatten:
      return std::make_shared<Flatten>(l.name);
    case CnnLayerKind::kLinear: {
      Linear::Options o;
      o.in_features = in[0];
      o.out_features = l.out;
      o.init = last_linear ? InitKind::kXavier : InitKind::kHe;
      return std::make_shared<Linear>(l.name, o);
    }
  }
  return nullptr;
}

// A preset: the descriptions are fixed, so a failure is a programmer bug.
Model Preset(absl::string_view name) {
  absl::StatusOr<Model> m = BuildModel(name);
  if (!m.ok()) {
    fprintf(stderr, "model_zoo: %s\n", m.status().ToString().c_str());
    abort();
  }
  return *std::move(m);
}

}  // namespace

Shape Model::InputShape(int64_t batch) const {
  return {batch, image_shape[0], image_shape[1], image_shape[2]};
}

absl::StatusOr<std::pair<Sequential, Sequential>> Model::Split() const {
  return net.SplitAt(boundary);
}

absl::StatusOr<Model> BuildModel(const jobs::CnnModelDef& def) {
  STRATA_ASSIGN_OR_RETURN(
      const jobs::CnnModelInfo info,
      jobs::InferCnnModel(def, jobs::CnnModelLimits(), def.name));
  Model m;
  m.name = def.name;
  m.image_shape = {def.channels, def.height, def.width};
  m.num_classes = jobs::kCnnDataClasses;
  m.boundary = def.layers[def.split_after - 1].name;
  size_t last_linear = 0;
  for (size_t i = 0; i < def.layers.size(); ++i) {
    if (def.layers[i].kind == CnnLayerKind::kLinear) last_linear = i;
  }
  std::vector<int64_t> in = {def.channels, def.height, def.width};
  for (size_t i = 0; i < def.layers.size(); ++i) {
    STRATA_RETURN_IF_ERROR(
        m.net.Add(MakeLayer(def.layers[i], in, i == last_linear)));
    in = info.layers[i].output;
  }
  return m;
}

Model LeNet5() { return Preset("lenet5"); }
Model AlexNetCifar() { return Preset("alexnet"); }
Model VggCifar() { return Preset("vgg"); }

std::vector<std::string> ModelNames() {
  std::vector<std::string> names;
  for (const jobs::CnnModelDef& m : jobs::CnnModels()) names.push_back(m.name);
  return names;
}

absl::StatusOr<Model> BuildModel(absl::string_view name) {
  const jobs::CnnModelDef* def = jobs::FindCnnModel(name);
  if (def == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("unknown model \"", name,
                     "\" (known: ", jobs::CnnModelNameList(), ")"));
  }
  return BuildModel(*def);
}

absl::StatusOr<ModelSummary> Summarize(const Model& model) {
  STRATA_ASSIGN_OR_RETURN(auto parts, model.Split());
  ModelSummary s;
  s.name = model.name;
  const Shape in = model.InputShape(1);
  STRATA_ASSIGN_OR_RETURN(Shape mid, parts.first.OutputShape(in));
  STRATA_ASSIGN_OR_RETURN(Shape out, parts.second.OutputShape(mid));
  s.conv.params = parts.first.NumParams();
  s.conv.forward_flops = parts.first.ForwardFlops(in);
  s.conv.backward_flops = parts.first.BackwardFlops(in, /*need_dx=*/false);
  s.conv.output_shape = Shape(mid.begin() + 1, mid.end());
  s.fc.params = parts.second.NumParams();
  s.fc.forward_flops = parts.second.ForwardFlops(mid);
  s.fc.backward_flops = parts.second.BackwardFlops(mid, /*need_dx=*/true);
  s.fc.output_shape = Shape(out.begin() + 1, out.end());
  return s;
}

}  // namespace nn
}  // namespace strata
