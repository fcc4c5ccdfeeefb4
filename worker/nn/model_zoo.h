// The models of the NN engine, built from a description (server/jobs/
// cnn_models.h: a preset or a spec's own layers), each split at a named
// boundary into a conv part (feature extractor) and an FC part
// (classifier). The presets:
//   lenet5   28x28x1  conv6-pool-conv16-pool | fc120-fc84-fc10
//   alexnet  32x32x3  conv64-pool-conv128-pool-conv256-pool | fc4096-fc4096-fc10
//   vgg      32x32x3  2x conv64-pool-2x conv128-pool-2x conv256-pool | fc512-fc10
#ifndef STRATA_WORKER_NN_MODEL_ZOO_H_
#define STRATA_WORKER_NN_MODEL_ZOO_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/jobs/cnn_models.h"
#include "worker/nn/sequential.h"

namespace strata {
namespace nn {

// A model definition; `net` is not yet bound to a backend (call
// net.Init(backend, seed)). Owns its layers through `net`.
struct Model {
  std::string name;
  Shape image_shape;      // {C, H, W}
  int64_t num_classes = 10;
  std::string boundary;   // last layer of the conv part
  Sequential net;

  Shape InputShape(int64_t batch) const;
  // The two parts, sharing layers with `net`.
  absl::StatusOr<std::pair<Sequential, Sequential>> Split() const;
};

// The model `def` describes (every model is built here); INVALID_ARGUMENT
// when jobs::InferCnnModel rejects it with the default limits. Layers keep
// the description's names; every Linear is He-initialised except the last
// (Xavier).
absl::StatusOr<Model> BuildModel(const jobs::CnnModelDef& def);
// The presets (BuildModel of the description of that name).
Model LeNet5();
Model AlexNetCifar();
Model VggCifar();
// A preset of server/jobs/cnn_models.h (the one list of model names and
// descriptions job specs are checked against); NOT_FOUND otherwise.
absl::StatusOr<Model> BuildModel(absl::string_view name);
// The catalogue's names, in its order.
std::vector<std::string> ModelNames();

struct PartSummary {
  int64_t params = 0;
  int64_t forward_flops = 0;   // per image
  int64_t backward_flops = 0;  // per image (no dL/dinput for the conv part)
  Shape output_shape;          // per image
};
struct ModelSummary {
  std::string name;
  PartSummary conv, fc;
  int64_t TotalParams() const { return conv.params + fc.params; }
  int64_t TrainFlops() const {  // forward + backward, per image
    return conv.forward_flops + conv.backward_flops + fc.forward_flops +
           fc.backward_flops;
  }
};
absl::StatusOr<ModelSummary> Summarize(const Model& model);

}  // namespace nn
}  // namespace strata

#endif  // STRATA_WORKER_NN_MODEL_ZOO_H_
