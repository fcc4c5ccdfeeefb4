// The catalogue of CNN models a CNN_TRAIN job may name: each model's name and
// input image shape. The one list both the coordinator (admission) and the
// NN engine's model zoo (worker/nn/model_zoo, which builds each name listed
// here) use. Plain C++, no protobuf.
#ifndef STRATA_SERVER_JOBS_CNN_MODELS_H_
#define STRATA_SERVER_JOBS_CNN_MODELS_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace strata {
namespace jobs {

// One model of the catalogue. A plain value type.
struct CnnModelInfo {
  absl::string_view name;
  int64_t channels, height, width;  // input image shape
  int64_t ImageFloats() const { return channels * height * width; }
};

// Every model, in the order docs and listings show them.
absl::Span<const CnnModelInfo> CnnModels();
// The model called `name`, or nullptr.
const CnnModelInfo* FindCnnModel(absl::string_view name);
// "lenet5, alexnet, vgg".
std::string CnnModelNameList();

}  // namespace jobs
}  // namespace strata

#endif  // STRATA_SERVER_JOBS_CNN_MODELS_H_
