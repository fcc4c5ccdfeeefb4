#include "server/jobs/cnn_models.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "proto/base/status_macros.h"

namespace strata {
namespace jobs {
namespace {

using K = CnnLayerKind;

CnnLayer Conv(std::string name, int64_t out, int64_t kernel, int64_t pad) {
  return {K::kConv, std::move(name), out, kernel, 1, pad, 0};
}
CnnLayer Pool(std::string name) {
  return {K::kMaxPool, std::move(name), 0, 2, 2};
}
CnnLayer Relu(std::string name) { return {K::kRelu, std::move(name)}; }
CnnLayer Drop(std::string name) {
  return {K::kDropout, std::move(name), 0, 0, 0, 0, 0.5f};
}
CnnLayer Flat() { return {K::kFlatten, "flatten"}; }
CnnLayer Fc(std::string name, int64_t out) {
  return {K::kLinear, std::move(name), out};
}

// The presets. Adding one: a description here (model_zoo_test builds and
// runs every preset). Every preset splits right after its flatten.
CnnModelDef Preset(std::string name, int64_t c, int64_t hw,
                   std::vector<CnnLayer> layers) {
  CnnModelDef m{std::move(name), c, hw, hw, std::move(layers), 0};
  for (size_t i = 0; i < m.layers.size(); ++i) {
    if (m.layers[i].kind == K::kFlatten) m.split_after = i + 1;
  }
  return m;
}

std::vector<CnnModelDef> MakePresets() {
  std::vector<CnnModelDef> v;
  v.push_back(Preset("lenet5", 1, 28,
                     {Conv("conv1", 6, 5, 2), Relu("relu1"), Pool("pool1"),
                      Conv("conv2", 16, 5, 0), Relu("relu2"), Pool("pool2"),
                      Flat(), Fc("fc1", 120), Relu("relu3"), Fc("fc2", 84),
                      Relu("relu4"), Fc("fc3", 10)}));
  v.push_back(
      Preset("alexnet", 3, 32,
             {Conv("conv1", 64, 3, 1), Relu("relu1"), Pool("pool1"),
              Conv("conv2", 128, 3, 1), Relu("relu2"), Pool("pool2"),
              Conv("conv3", 256, 3, 1), Relu("relu3"), Pool("pool3"), Flat(),
              Fc("fc1", 4096), Relu("relu4"), Drop("drop1"), Fc("fc2", 4096),
              Relu("relu5"), Drop("drop2"), Fc("fc3", 10)}));
  v.push_back(Preset("vgg", 3, 32,
                     {Conv("conv1_1", 64, 3, 1),
                      Relu("relu1_1"),
                      Conv("conv1_2", 64, 3, 1),
                      Relu("relu1_2"),
                      Pool("pool1"),
                      Conv("conv2_1", 128, 3, 1),
                      Relu("relu2_1"),
                      Conv("conv2_2", 128, 3, 1),
                      Relu("relu2_2"),
                      Pool("pool2"),
                      Conv("conv3_1", 256, 3, 1),
                      Relu("relu3_1"),
                      Conv("conv3_2", 256, 3, 1),
                      Relu("relu3_2"),
                      Pool("pool3"),
                      Flat(),
                      Fc("fc1", 512),
                      Relu("relu4"),
                      Drop("drop1"),
                      Fc("fc2", 10)}));
  return v;
}

std::string ShapeString(const std::vector<int64_t>& s) {
  return absl::StrJoin(s, "x");
}

// Checks `value` in [lo, hi] for a field of a layer.
absl::Status InRange(absl::string_view what, int64_t value, int64_t lo,
                     int64_t hi) {
  if (value < lo || value > hi) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " ", value, " is not in [", lo, ", ", hi, "]"));
  }
  return absl::OkStatus();
}

// The field bounds of one layer (its input shape aside).
absl::Status CheckFields(const CnnLayer& l) {
  switch (l.kind) {
    case K::kConv:
      STRATA_RETURN_IF_ERROR(InRange("out", l.out, 1, kMaxCnnWidth));
      STRATA_RETURN_IF_ERROR(InRange("kernel", l.kernel, 1, kMaxCnnKernel));
      STRATA_RETURN_IF_ERROR(InRange("stride", l.stride, 1, kMaxCnnKernel));
      return InRange("padding", l.padding, 0, l.kernel - 1);
    case K::kMaxPool:
      STRATA_RETURN_IF_ERROR(InRange("kernel", l.kernel, 1, kMaxCnnKernel));
      return InRange("stride", l.stride, 1, kMaxCnnKernel);
    case K::kLinear:
      return InRange("out", l.out, 1, kMaxCnnWidth);
    case K::kDropout:
      if (!(l.rate >= 0.0f && l.rate < 1.0f)) {
        return absl::InvalidArgumentError(
            absl::StrCat("rate ", l.rate, " is not in [0, 1)"));
      }
      return absl::OkStatus();
    default:
      return absl::OkStatus();
  }
}

// One layer's output and parameters for input `in` (per image).
absl::StatusOr<CnnLayerInfo> InferLayer(const CnnLayer& l,
                                        const std::vector<int64_t>& in) {
  STRATA_RETURN_IF_ERROR(CheckFields(l));
  CnnLayerInfo info;
  info.output = in;
  const bool spatial = in.size() == 3;
  switch (l.kind) {
    case K::kConv:
    case K::kMaxPool: {
      if (!spatial) {
        return absl::InvalidArgumentError("input is flat, not CxHxW");
      }
      const int64_t pad = l.padding;
      if (in[1] + 2 * pad < l.kernel || in[2] + 2 * pad < l.kernel) {
        return absl::InvalidArgumentError(
            absl::StrCat("kernel ", l.kernel, " is larger than the padded ",
                         in[1] + 2 * pad, "x", in[2] + 2 * pad, " input"));
      }
      const int64_t oh = (in[1] + 2 * pad - l.kernel) / l.stride + 1;
      const int64_t ow = (in[2] + 2 * pad - l.kernel) / l.stride + 1;
      if (l.kind == K::kMaxPool) {
        info.output = {in[0], oh, ow};
        return info;
      }
      const int64_t fan_in = in[0] * l.kernel * l.kernel;
      info.output = {l.out, oh, ow};
      info.params = l.out * fan_in + l.out;
      info.forward_flops = 2.0 * l.out * oh * ow * fan_in;
      return info;
    }
    case K::kFlatten:
      if (!spatial) return absl::InvalidArgumentError("input is already flat");
      info.output = {in[0] * in[1] * in[2]};
      return info;
    case K::kLinear:
      if (spatial) {
        return absl::InvalidArgumentError(
            "input is not flat (put a FLATTEN before the first LINEAR)");
      }
      info.output = {l.out};
      info.params = l.out * in[0] + l.out;
      info.forward_flops = 2.0 * in[0] * l.out;
      return info;
    default:
      return info;
  }
}

int64_t Floats(const std::vector<int64_t>& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

absl::Status CheckInput(const CnnModelDef& m, const CnnModelLimits& limits,
                        absl::string_view field) {
  for (int64_t side : {m.channels, m.height, m.width}) {
    if (side < 1 || side > kMaxCnnImageSide) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, ": input image ", m.channels, "x", m.height, "x", m.width,
          " needs every side in [1, ", kMaxCnnImageSide, "]"));
    }
  }
  return CheckCnnLayerCount(static_cast<int64_t>(m.layers.size()), limits,
                            field);
}

// The split and the output, once every layer is inferred.
absl::Status CheckSplitAndOutput(const CnnModelDef& m, const CnnModelInfo& info,
                                 absl::string_view field) {
  const int64_t n = static_cast<int64_t>(m.layers.size());
  if (m.split_after < 1 || m.split_after >= n) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": split_after ", m.split_after, " is not in [1, ",
                     n - 1, "] (the conv part is layers[0, split_after))"));
  }
  const std::vector<int64_t>& at = info.layers[m.split_after - 1].output;
  if (at.size() != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ": split_after ", m.split_after, " cuts at a ", ShapeString(at),
        " activation; Stanza's boundary must be flat (after the FLATTEN)"));
  }
  if (info.fc_params == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": split_after ", m.split_after,
                     " leaves no LINEAR layer in the FC part"));
  }
  const std::vector<int64_t>& out = info.layers.back().output;
  if (out.size() != 1 || out[0] != kCnnDataClasses) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ": the model outputs ", ShapeString(out),
        " values per image but the data has ", kCnnDataClasses,
        " classes (end with a LINEAR of out ", kCnnDataClasses, ")"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::string_view CnnLayerKindName(CnnLayerKind kind) {
  switch (kind) {
    case K::kConv:
      return "CONV";
    case K::kMaxPool:
      return "MAX_POOL";
    case K::kRelu:
      return "RELU";
    case K::kDropout:
      return "DROPOUT";
    case K::kFlatten:
      return "FLATTEN";
    case K::kLinear:
      return "LINEAR";
  }
  return "?";
}

absl::Span<const CnnModelDef> CnnModels() {
  static const std::vector<CnnModelDef>* const kModels =
      new std::vector<CnnModelDef>(MakePresets());
  return *kModels;
}

const CnnModelDef* FindCnnModel(absl::string_view name) {
  for (const CnnModelDef& m : CnnModels()) {
    if (m.name == name) return &m;
  }
  return nullptr;
}

std::string CnnModelNameList() {
  return absl::StrJoin(
      CnnModels(), ", ",
      [](std::string* out, const CnnModelDef& m) { out->append(m.name); });
}

absl::Status CheckCnnLayerCount(int64_t n, const CnnModelLimits& limits,
                                absl::string_view field) {
  if (n < 2 || n > limits.max_layers) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": ", n, " layers; a model has 2 to ",
                     limits.max_layers, " (a conv part and an FC part)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<CnnModelInfo> InferCnnModel(const CnnModelDef& m,
                                           const CnnModelLimits& limits,
                                           absl::string_view field) {
  STRATA_RETURN_IF_ERROR(CheckInput(m, limits, field));
  CnnModelInfo info;
  std::vector<int64_t> shape = {m.channels, m.height, m.width};
  const int64_t max_floats = limits.max_activation_bytes / 4;
  info.conv_activations = Floats(shape);
  for (size_t i = 0; i < m.layers.size(); ++i) {
    const CnnLayer& l = m.layers[i];
    const std::string where =
        absl::StrCat(field, ".layers[", i, "] (", CnnLayerKindName(l.kind),
                     ") got ", ShapeString(shape), ": ");
    absl::StatusOr<CnnLayerInfo> r = InferLayer(l, shape);
    if (!r.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, r.status().message()));
    }
    const bool conv = static_cast<int64_t>(i) < m.split_after;
    (conv ? info.conv_params : info.fc_params) += r->params;
    const int64_t floats = Floats(r->output);
    (conv ? info.conv_activations : info.fc_activations) += floats;
    if (info.TotalParams() > limits.max_params ||
        info.conv_activations > max_floats ||
        info.fc_activations > max_floats) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, "the model reaches ", info.TotalParams(), " parameters and ",
          info.conv_activations + info.fc_activations,
          " activation floats per image; the limits are ", limits.max_params,
          " parameters and ", max_floats,
          " activation floats per image and part"));
    }
    r->backward_flops = (i == 0 ? 1 : 2) * r->forward_flops;
    (conv ? info.conv_forward_flops : info.fc_forward_flops) +=
        r->forward_flops;
    (conv ? info.conv_backward_flops : info.fc_backward_flops) +=
        r->backward_flops;
    shape = r->output;
    info.layers.push_back(*std::move(r));
  }
  STRATA_RETURN_IF_ERROR(CheckSplitAndOutput(m, info, field));
  info.boundary = Floats(info.layers[m.split_after - 1].output);
  return info;
}

StepBytes PsStepBytes(const CnnModelInfo& model) {
  StepBytes b;
  b.ps_pull = b.ps_push = 4 * model.TotalParams();
  return b;
}

StepBytes StanzaStepBytes(const CnnModelInfo& model, int64_t batch,
                          bool fp16_wire) {
  StepBytes b;
  b.ps_pull = b.ps_push = 4 * model.conv_params;
  b.fc_sent = b.fc_recv = (fp16_wire ? 2 : 4) * batch * model.boundary;
  return b;
}

}  // namespace jobs
}  // namespace strata
