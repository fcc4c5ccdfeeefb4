#include "worker/nn/model_zoo.h"

#include <memory>

#include <cstdio>
#include <cstdlib>
#include "absl/strings/str_cat.h"
#include "proto/base/status_macros.h"
#include "server/jobs/cnn_models.h"

namespace strata {
namespace nn {
namespace {

// Builder that CHECKs: the definitions below are fixed, so a failure is a
// programmer bug.
class Builder {
 public:
  explicit Builder(Sequential* net) : net_(net) {}
  Builder& Conv(const std::string& name, int64_t in, int64_t out, int64_t k,
                int64_t pad) {
    Conv2d::Options o;
    o.in_channels = in;
    o.out_channels = out;
    o.kernel = k;
    o.pad = pad;
    return Add(std::make_shared<Conv2d>(name, o));
  }
  Builder& Relu(const std::string& name) {
    return Add(std::make_shared<nn::Relu>(name));
  }
  Builder& Pool(const std::string& name) {
    return Add(std::make_shared<MaxPool2d>(name, 2, 2));
  }
  Builder& Flat(const std::string& name) {
    return Add(std::make_shared<Flatten>(name));
  }
  Builder& Fc(const std::string& name, int64_t in, int64_t out,
              InitKind init = InitKind::kHe) {
    Linear::Options o;
    o.in_features = in;
    o.out_features = out;
    o.init = init;
    return Add(std::make_shared<Linear>(name, o));
  }
  Builder& Drop(const std::string& name, float p) {
    return Add(std::make_shared<Dropout>(name, p));
  }

 private:
  Builder& Add(std::shared_ptr<Layer> l) {
    absl::Status s = net_->Add(std::move(l));
    if (!s.ok()) {
      fprintf(stderr, "model_zoo: %s\n", std::string(s.message()).c_str());
      abort();
    }
    return *this;
  }
  Sequential* net_;
};

}  // namespace

Shape Model::InputShape(int64_t batch) const {
  return {batch, image_shape[0], image_shape[1], image_shape[2]};
}

absl::StatusOr<std::pair<Sequential, Sequential>> Model::Split() const {
  return net.SplitAt(boundary);
}

Model LeNet5() {
  Model m;
  m.name = "lenet5";
  m.image_shape = {1, 28, 28};
  m.boundary = "flatten";
  Builder(&m.net)
      .Conv("conv1", 1, 6, 5, 2).Relu("relu1").Pool("pool1")
      .Conv("conv2", 6, 16, 5, 0).Relu("relu2").Pool("pool2")
      .Flat("flatten")
      .Fc("fc1", 400, 120).Relu("relu3")
      .Fc("fc2", 120, 84).Relu("relu4")
      .Fc("fc3", 84, 10, InitKind::kXavier);
  return m;
}

Model AlexNetCifar() {
  Model m;
  m.name = "alexnet";
  m.image_shape = {3, 32, 32};
  m.boundary = "flatten";
  Builder(&m.net)
      .Conv("conv1", 3, 64, 3, 1).Relu("relu1").Pool("pool1")
      .Conv("conv2", 64, 128, 3, 1).Relu("relu2").Pool("pool2")
      .Conv("conv3", 128, 256, 3, 1).Relu("relu3").Pool("pool3")
      .Flat("flatten")
      .Fc("fc1", 4096, 4096).Relu("relu4").Drop("drop1", 0.5f)
      .Fc("fc2", 4096, 4096).Relu("relu5").Drop("drop2", 0.5f)
      .Fc("fc3", 4096, 10, InitKind::kXavier);
  return m;
}

Model VggCifar() {
  Model m;
  m.name = "vgg";
  m.image_shape = {3, 32, 32};
  m.boundary = "flatten";
  Builder(&m.net)
      .Conv("conv1_1", 3, 64, 3, 1).Relu("relu1_1")
      .Conv("conv1_2", 64, 64, 3, 1).Relu("relu1_2").Pool("pool1")
      .Conv("conv2_1", 64, 128, 3, 1).Relu("relu2_1")
      .Conv("conv2_2", 128, 128, 3, 1).Relu("relu2_2").Pool("pool2")
      .Conv("conv3_1", 128, 256, 3, 1).Relu("relu3_1")
      .Conv("conv3_2", 256, 256, 3, 1).Relu("relu3_2").Pool("pool3")
      .Flat("flatten")
      .Fc("fc1", 4096, 512).Relu("relu4").Drop("drop1", 0.5f)
      .Fc("fc2", 512, 10, InitKind::kXavier);
  return m;
}

std::vector<std::string> ModelNames() {
  std::vector<std::string> names;
  for (const jobs::CnnModelInfo& m : jobs::CnnModels()) {
    names.emplace_back(m.name);
  }
  return names;
}

absl::StatusOr<Model> BuildModel(absl::string_view name) {
  if (name == "lenet5") return LeNet5();
  if (name == "alexnet") return AlexNetCifar();
  if (name == "vgg") return VggCifar();
  return absl::NotFoundError(absl::StrCat("unknown model \"", name,
                                         "\" (known: ",
                                         jobs::CnnModelNameList(), ")"));
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
