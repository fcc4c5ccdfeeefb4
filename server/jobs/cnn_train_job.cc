#include "server/jobs/cnn_train_job.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "proto/base/status_macros.h"
#include "server/jobs/cnn_model_spec.h"
#include "server/jobs/cnn_models.h"
#include "server/jobs/device.h"
#include "server/jobs/internal/spec_rules.h"

namespace strata {
namespace jobs {
namespace {

using internal::kNoDefault;
using internal::kUnbounded;
using internal::kClosed;
using internal::kOpen;
using internal::NumberRule;

constexpr NumberRule kDataRules[] = {
    {"synthetic_train", 4096, 1, 1 << 24, kClosed, kClosed,
     "synthetic training images"},
    {"synthetic_test", 1024, 1, 1 << 24, kClosed, kClosed,
     "synthetic test images"},
    {"seed", 7, 1, kUnbounded, kClosed, kClosed, "synthetic data seed"},
    {"max_train", kNoDefault, 0, 1 << 30, kClosed, kClosed, "0 = all"},
    {"max_test", kNoDefault, 0, 1 << 30, kClosed, kClosed, "0 = all"},
    {"eval_every_steps", kNoDefault, 0, 1e9, kClosed, kClosed,
     "test accuracy every k steps; 0 = every epoch"},
};

// The image shape each file-backed data source holds ({C, H, W}).
struct DataSource {
  const char* field;  // CnnDataSpec field, for messages
  const char* what;
  int64_t channels, height, width;
};
constexpr DataSource kMnistSource = {"mnist_dir", "MNIST-layout IDX", 1, 28,
                                     28};
constexpr DataSource kCifarSource = {"cifar10_dir", "CIFAR-10", 3, 32, 32};

std::string ShapeString(int64_t c, int64_t h, int64_t w) {
  return absl::StrCat(c, "x", h, "x", w);
}

// The file-backed source `d` names (nullptr: synthetic). INVALID_ARGUMENT
// when it names two.
absl::StatusOr<const DataSource*> FileSource(const CnnDataSpec& d) {
  if (!d.mnist_dir().empty() && !d.cifar10_dir().empty()) {
    return absl::InvalidArgumentError(
        "cnn_train.data: set mnist_dir or cifar10_dir, not both");
  }
  if (!d.mnist_dir().empty()) return &kMnistSource;
  if (!d.cifar10_dir().empty()) return &kCifarSource;
  return nullptr;
}

constexpr NumberRule kTrainRules[] = {
    {"num_conv_workers", 1, 1, 1024},
    {"batch_size", 64, 1, 65536, kClosed, kClosed,
     "images per conv worker per step"},
    {"learning_rate", 0.01, 0, 1000, kOpen, kClosed},
    {"momentum", kNoDefault, 0, 1, kClosed, kOpen,
     "0 means 0.9; negative means 0"},
    {"weight_decay", kNoDefault, 0, 1000},
    {"lr_epoch_decay", 1, 0, 1000, kOpen, kClosed,
     "lr multiplied by this each epoch"},
    {"steps", kNoDefault, 0, 1e9, kClosed, kClosed,
     "0 = epochs x steps per epoch"},
    {"epochs", kNoDefault, 0, 1000, kClosed, kClosed, "1 when steps is 0"},
    {"fc_average_every", 10, 1, 1000000, kClosed, kClosed,
     ">1 FC node: average FC weights every k steps"},
    {"seed", 1, 1, kUnbounded},
    {"eval_batch", 256, 1, 65536},
    {"step_timeout_s", 120, 1, 86400, kClosed, kClosed,
     "longest wait for a peer in one step"},
    {"checkpoint_every_steps", 100, 1, 1000000, kClosed, kClosed,
     "progress checkpoint (FC snapshot) every k steps"},
};
// num_fc_nodes in STANZA mode (PS mode: must be 0).
constexpr NumberRule kFcRule[] = {
    {"num_fc_nodes", 1, 1, 1024, kClosed, kClosed,
     "STANZA; <= num_conv_workers; PS: 0"},
};

constexpr float kDefaultMomentum = 0.9f;

absl::Status CheckDevice(absl::string_view what, const std::string& name) {
  absl::StatusOr<DeviceName> d = ParseDeviceName(name);
  if (!d.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": ", d.status().message()));
  }
  return absl::OkStatus();
}

absl::Status CheckDevices(const CnnTrainSpec& c) {
  if (c.conv_devices_size() > 0 &&
      c.conv_devices_size() != static_cast<int>(c.num_conv_workers())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cnn_train.conv_devices lists ", c.conv_devices_size(),
        " devices for ", c.num_conv_workers(), " conv workers"));
  }
  STRATA_RETURN_IF_ERROR(CheckDevice("cnn_train.device", c.device()));
  STRATA_RETURN_IF_ERROR(CheckDevice("cnn_train.fc_device", c.fc_device()));
  for (const std::string& d : c.conv_devices()) {
    STRATA_RETURN_IF_ERROR(CheckDevice("cnn_train.conv_devices", d));
  }
  return absl::OkStatus();
}

// The model's activations per batch on each kind of task (conv workers:
// the whole model in PS mode; FC nodes: up to every conv worker's batch).
absl::Status CheckActivations(const CnnTrainSpec& c, const CnnModelInfo& m,
                              const CnnModelLimits& limits) {
  const uint64_t batch = std::max(c.batch_size(), c.eval_batch());
  const bool stanza = c.mode() == CnnTrainSpec::STANZA;
  const uint64_t worker = 4 * batch *
      static_cast<uint64_t>(m.conv_activations +
                            (stanza ? 0 : m.fc_activations));
  const uint64_t fc_batch =
      std::max<uint64_t>(uint64_t{c.num_conv_workers()} * c.batch_size(),
                         c.eval_batch());
  const uint64_t fc = stanza ? 4 * fc_batch * m.fc_activations : 0;
  const uint64_t most = std::max(worker, fc);
  if (most > static_cast<uint64_t>(limits.max_activation_bytes)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cnn_train: the model's activations take ", most, " bytes per ",
        worker >= fc ? "conv worker" : "FC node", " at batch_size ",
        c.batch_size(), ", eval_batch ", c.eval_batch(), "; the limit is ",
        limits.max_activation_bytes));
  }
  return absl::OkStatus();
}

// Model, data source and data size.
absl::Status CheckModelAndData(const CnnTrainSpec& c,
                               const JobLimits& limits) {
  CnnModelDef model_def;
  STRATA_ASSIGN_OR_RETURN(
      const CnnModelInfo info,
      InferSpecModel(c, limits.cnn_model, &model_def));
  STRATA_RETURN_IF_ERROR(CheckActivations(c, info, limits.cnn_model));
  const CnnModelDef* model = &model_def;
  const std::string model_name = c.has_model_spec() ? "model_spec" : c.model();
  const CnnDataSpec& d = c.data();
  STRATA_RETURN_IF_ERROR(
      internal::CheckPath("cnn_train.data.mnist_dir", d.mnist_dir()));
  STRATA_RETURN_IF_ERROR(
      internal::CheckPath("cnn_train.data.cifar10_dir", d.cifar10_dir()));
  STRATA_RETURN_IF_ERROR(
      internal::CheckNumberRules(kDataRules, d, "cnn_train.data"));
  STRATA_ASSIGN_OR_RETURN(const DataSource* source, FileSource(d));
  if (source != nullptr) {
    if (model->channels != source->channels ||
        model->height != source->height || model->width != source->width) {
      return absl::InvalidArgumentError(absl::StrCat(
          "cnn_train: model ", model_name, " takes ",
          ShapeString(model->channels, model->height, model->width),
          " images but data.", source->field, " holds ", source->what, " ",
          ShapeString(source->channels, source->height, source->width),
          " images"));
    }
    return absl::OkStatus();
  }
  const uint64_t images = uint64_t{d.synthetic_train()} + d.synthetic_test();
  const uint64_t bytes = images * model->ImageFloats() * sizeof(float);
  if (bytes > limits.max_dataset_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cnn_train.data: ", images, " synthetic ", model_name, " images take ",
        bytes, " bytes per worker; the limit is ", limits.max_dataset_bytes,
        " (coordinator flag --max_job_dataset_mb)"));
  }
  const uint64_t train = d.max_train() == 0
                             ? d.synthetic_train()
                             : std::min<uint64_t>(d.max_train(),
                                                  d.synthetic_train());
  const uint64_t global_batch = uint64_t{c.num_conv_workers()} * c.batch_size();
  if (train < global_batch) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cnn_train: ", train, " training images hold no global batch of ",
        c.num_conv_workers(), " conv workers x batch_size ", c.batch_size(),
        " = ", global_batch));
  }
  return absl::OkStatus();
}

// Modes, task counts and roles.
absl::Status CheckTopology(const JobSpec& spec) {
  const CnnTrainSpec& c = spec.cnn_train();
  if (c.mode() == CnnTrainSpec::STANZA) {
    STRATA_RETURN_IF_ERROR(
        internal::CheckNumberRules(kFcRule, c, "cnn_train"));
    if (c.num_fc_nodes() > c.num_conv_workers()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "cnn_train.num_fc_nodes ", c.num_fc_nodes(),
          " exceeds num_conv_workers ", c.num_conv_workers(),
          " (every FC node needs at least one conv worker)"));
    }
    STRATA_RETURN_IF_ERROR(internal::CheckName("cnn_train.fc_role",
                                               c.fc_role(), kMaxRoleBytes));
    if (c.fc_role() == spec.worker_role() ||
        c.fc_role() == kParameterServerRole) {
      return absl::InvalidArgumentError(absl::StrCat(
          "cnn_train.fc_role '", c.fc_role(),
          "' must differ from worker_role and from 'ps'"));
    }
  } else if (c.num_fc_nodes() != 0) {
    return absl::InvalidArgumentError(
        "cnn_train.num_fc_nodes must be 0 in PS mode (every worker trains the "
        "whole model)");
  }
  const uint64_t total = uint64_t{c.num_conv_workers()} + c.num_fc_nodes();
  if (spec.num_workers() != total) {
    return absl::InvalidArgumentError(absl::StrCat(
        "num_workers ", spec.num_workers(), " disagrees with cnn_train: ",
        c.num_conv_workers(), " conv workers + ", c.num_fc_nodes(),
        " FC nodes = ", total, " (leave num_workers unset)"));
  }
  if (c.steps() == 0 && c.epochs() == 0) {
    return absl::InvalidArgumentError(
        "cnn_train needs steps or epochs > 0");
  }
  return absl::OkStatus();
}

class CnnTrainJobType : public JobType {
 public:
  absl::string_view name() const override { return "cnn_train"; }
  JobSpec::JobCase job_case() const override { return JobSpec::kCnnTrain; }

  void ApplyDefaults(JobSpec* spec) const override {
    CnnTrainSpec* c = spec->mutable_cnn_train();
    if (c->model().empty() && !c->has_model_spec()) c->set_model("lenet5");
    internal::ApplyNumberDefaults(kDataRules, c->mutable_data());
    internal::ApplyNumberDefaults(kTrainRules, c);
    if (c->mode() == CnnTrainSpec::STANZA) {
      internal::ApplyNumberDefaults(kFcRule, c);
    }
    if (c->momentum() == 0) c->set_momentum(kDefaultMomentum);
    if (c->momentum() < 0) c->set_momentum(0.0f);
    if (c->steps() == 0 && c->epochs() == 0) c->set_epochs(1);
    if (c->device().empty()) c->set_device("cpu");
    if (c->fc_device().empty()) c->set_fc_device(c->device());
    if (c->fc_role().empty()) c->set_fc_role("fc");
    if (spec->worker_role().empty()) spec->set_worker_role("conv");
    if (spec->num_workers() == 0) {
      const uint64_t total = uint64_t{c->num_conv_workers()} + c->num_fc_nodes();
      spec->set_num_workers(static_cast<uint32_t>(
          std::min<uint64_t>(total, UINT32_MAX)));
    }
  }

  absl::Status Validate(const JobSpec& spec,
                        const JobLimits& limits) const override {
    const CnnTrainSpec& c = spec.cnn_train();
    STRATA_RETURN_IF_ERROR(
        internal::CheckNumberRules(kTrainRules, c, "cnn_train"));
    STRATA_RETURN_IF_ERROR(CheckTopology(spec));
    STRATA_RETURN_IF_ERROR(CheckModelAndData(c, limits));
    return CheckDevices(c);
  }

  std::vector<RoleNeed> Roles(const JobSpec& spec) const override {
    const CnnTrainSpec& c = spec.cnn_train();
    if (c.num_fc_nodes() == 0) return JobType::Roles(spec);
    return {{spec.worker_role(), c.num_conv_workers(), false},
            {c.fc_role(), c.num_fc_nodes(), true}};
  }

  std::string Reference() const override {
    return absl::StrCat(
        internal::kRulesTableHead,
        "| `cnn_train.model` | lenet5 | one of ", CnnModelNameList(),
        " | or `model_spec` |\n",
        "| `cnn_train.model_spec` | - | layers | docs/stanza.md \"Models in "
        "the spec\" |\n",
        "| `cnn_train.mode` | STANZA | STANZA, PS | |\n",
        "| `cnn_train.sync` | BSP | BSP, ASYNC | |\n",
        "| `cnn_train.data.mnist_dir` | - | path | MNIST-layout IDX |\n",
        "| `cnn_train.data.cifar10_dir` | - | path | CIFAR-10 binary |\n",
        internal::RulesMarkdown("cnn_train.data", kDataRules),
        internal::RulesMarkdown("cnn_train", kTrainRules),
        internal::RulesMarkdown("cnn_train", kFcRule),
        "| `cnn_train.device` | cpu | cpu, gpu:N | every task |\n",
        "| `cnn_train.conv_devices` | - | cpu, gpu:N | one per conv worker |\n",
        "| `cnn_train.fc_device` | `device` | cpu, gpu:N | FC nodes |\n",
        "| `cnn_train.fc_role` | fc | name | STANZA; not worker_role |\n",
        "\nRules: num_workers is derived (num_conv_workers + num_fc_nodes) "
        "and must be 0 or equal to it; worker_role defaults to \"conv\"; "
        "no mnist_dir nor cifar10_dir: synthetic images; mnist_dir "
        "(MNIST, Fashion-MNIST) needs a model taking 1x28x28 images, "
        "cifar10_dir one taking 3x32x32 (not both set); synthetic images "
        "(train + test) x "
        "image size x 4 bytes <= the coordinator's --max_job_dataset_mb; the "
        "training images must hold one global batch (num_conv_workers x "
        "batch_size); set model or model_spec, not both; a model has at most ",
        CnnModelLimits().max_layers, " layers and ",
        CnnModelLimits().max_params, " parameters, and the activations of "
        "one task (4 bytes x max(batch_size, eval_batch; FC nodes: "
        "num_conv_workers x batch_size) x the floats of every layer output "
        "of its part) take at most ", CnnModelLimits().max_activation_bytes,
        " bytes.\n");
  }

  bool Restartable() const override { return true; }

  // The job's parameters are "<job_id>/..." tensors.
  std::vector<std::string> BspTensorPrefixes(
      const JobSpec&, absl::string_view job_id) const override {
    return {absl::StrCat(job_id, "/")};
  }
};

}  // namespace

const JobType& CnnTrainJob() {
  static const CnnTrainJobType* const kType = new CnnTrainJobType();
  return *kType;
}

}  // namespace jobs
}  // namespace strata
