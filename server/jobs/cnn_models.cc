#include "server/jobs/cnn_models.h"

#include "absl/strings/str_join.h"

namespace strata {
namespace jobs {
namespace {

// Adding a model: a row here and a builder in worker/nn/model_zoo.cc
// (model_zoo_test checks that every row builds with this input shape).
constexpr CnnModelInfo kModels[] = {
    {"lenet5", 1, 28, 28},
    {"alexnet", 3, 32, 32},
    {"vgg", 3, 32, 32},
};

}  // namespace

absl::Span<const CnnModelInfo> CnnModels() { return kModels; }

const CnnModelInfo* FindCnnModel(absl::string_view name) {
  for (const CnnModelInfo& m : kModels) {
    if (m.name == name) return &m;
  }
  return nullptr;
}

std::string CnnModelNameList() {
  return absl::StrJoin(kModels, ", ",
                       [](std::string* out, const CnnModelInfo& m) {
                         out->append(m.name.data(), m.name.size());
                       });
}

}  // namespace jobs
}  // namespace strata
