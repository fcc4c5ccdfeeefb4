// CNN models as descriptions: a list of layers, an input image shape and the
// conv/FC split (Stanza's boundary). The presets a CNN_TRAIN job may name
// (lenet5, alexnet, vgg) are such descriptions, and so is a network a spec
// defines itself (CnnTrainSpec.model_spec, converted by cnn_model_spec.h).
// The one place that infers and bounds a description's shapes, parameters and
// FLOPs (admission, the model_summary tool, stratactl) and that holds the
// byte formula of docs/stanza.md; the NN engine (worker/nn/model_zoo) builds
// every model from a description. Plain C++, no protobuf.
#ifndef STRATA_SERVER_JOBS_CNN_MODELS_H_
#define STRATA_SERVER_JOBS_CNN_MODELS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace strata {
namespace jobs {

enum class CnnLayerKind { kConv, kMaxPool, kRelu, kDropout, kFlatten, kLinear };
// "CONV", "MAX_POOL", ... (the names of CnnLayerSpec.Type).
absl::string_view CnnLayerKindName(CnnLayerKind kind);

// One layer. A plain value type; fields a kind does not use are 0.
struct CnnLayer {
  CnnLayerKind kind = CnnLayerKind::kRelu;
  std::string name;     // unique in the model; parameters are "<name>/weight"
  int64_t out = 0;      // CONV: output channels; LINEAR: output features
  int64_t kernel = 0;   // CONV, MAX_POOL: square window
  int64_t stride = 0;   // CONV, MAX_POOL: >= 1
  int64_t padding = 0;  // CONV: zero padding on each side, < kernel
  float rate = 0;       // DROPOUT: drop probability in [0, 1)
};

// A whole model. A plain value type. The conv part is layers[0, split_after),
// whose output (the boundary activation) must be flat; the FC part the rest.
// Every LINEAR is He-initialised except the last one (Xavier).
struct CnnModelDef {
  std::string name;                             // a preset's name, or "custom"
  int64_t channels = 0, height = 0, width = 0;  // input image
  std::vector<CnnLayer> layers;
  int64_t split_after = 0;
  int64_t ImageFloats() const { return channels * height * width; }
};

// Bounds on a description, checked before anything is allocated. Part of
// JobLimits (server/jobs/job_type.h), the one place job limits live.
struct CnnModelLimits {
  int64_t max_layers = 256;
  // Parameters of the whole model (float32: 4 bytes each, per copy).
  int64_t max_params = int64_t{1} << 28;
  // Activations of one task: 4 x images per batch x the floats per image
  // of every layer output (input included) of the part the task runs.
  int64_t max_activation_bytes = int64_t{4} << 30;
};

// Field bounds of every layer and of the input (docs/stanza.md).
inline constexpr int64_t kMaxCnnImageSide = 4096;  // channels, height, width
inline constexpr int64_t kMaxCnnWidth = 65536;     // out channels / features
inline constexpr int64_t kMaxCnnKernel = 64;       // kernel and stride
// The label count of every data source (MNIST, CIFAR-10, synthetic).
inline constexpr int64_t kCnnDataClasses = 10;

// Every preset, in the order docs and listings show them.
absl::Span<const CnnModelDef> CnnModels();
// The preset called `name`, or nullptr.
const CnnModelDef* FindCnnModel(absl::string_view name);
// "lenet5, alexnet, vgg".
std::string CnnModelNameList();

// One layer's inferred output, per image.
struct CnnLayerInfo {
  std::vector<int64_t> output;  // {C, H, W} or {F}
  int64_t params = 0;
  double forward_flops = 0;   // multiply-adds x 2 (conv, linear)
  double backward_flops = 0;  // weight and bias gradients, plus dL/dinput
                              // except for the model's first layer
};
// A model's inferred shapes, per image.
struct CnnModelInfo {
  std::vector<CnnLayerInfo> layers;
  int64_t conv_params = 0, fc_params = 0;
  int64_t boundary = 0;  // D: floats per image at the split
  // Sum of the layer outputs (conv: input included), floats per image.
  int64_t conv_activations = 0, fc_activations = 0;
  double conv_forward_flops = 0, conv_backward_flops = 0;
  double fc_forward_flops = 0, fc_backward_flops = 0;
  int64_t TotalParams() const { return conv_params + fc_params; }
};

// INVALID_ARGUMENT unless a model of `n` layers fits [2, limits.max_layers]
// (callers check it before converting a long list).
absl::Status CheckCnnLayerCount(int64_t n, const CnnModelLimits& limits,
                                absl::string_view field);

// Infers every layer's output and checks the description: field bounds, a
// kernel not larger than its padded input, LINEAR only on flat input, the
// split at a flat boundary with a LINEAR after it, kCnnDataClasses outputs,
// the limits. INVALID_ARGUMENT naming the first bad layer ("layers[3]
// (LINEAR) got 16x5x5: ..."), prefixed with `field`.
absl::StatusOr<CnnModelInfo> InferCnnModel(const CnnModelDef& model,
                                           const CnnModelLimits& limits,
                                           absl::string_view field);

// The byte formula of docs/stanza.md: payload bytes one conv worker moves
// per training step (the step-0 initial push and framing excluded).
struct StepBytes {
  int64_t ps_pull = 0, ps_push = 0;  // parameters with the shards
  int64_t fc_sent = 0, fc_recv = 0;  // STANZA: activations / their gradients
  int64_t Total() const { return ps_pull + ps_push + fc_sent + fc_recv; }
};
// PS mode: every parameter pulled and pushed as float32.
StepBytes PsStepBytes(const CnnModelInfo& model);
// STANZA: the conv parameters, plus b x D boundary floats each way (2 bytes
// each with fp16_wire).
StepBytes StanzaStepBytes(const CnnModelInfo& model, int64_t batch,
                          bool fp16_wire);

}  // namespace jobs
}  // namespace strata

#endif  // STRATA_SERVER_JOBS_CNN_MODELS_H_
