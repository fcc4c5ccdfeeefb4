// The cost of the FC nodes' progress checkpoints (docs/stanza.md,
// "Progress checkpoints and restarts"): for each zoo model, the time of one
// FC step on the CPU (forward, loss, backward and SGD on the merged batch
// of 2 conv workers x 64 rows) and of one snapshot (FcSnapshots::Write:
// weights and momentum to 2 in-process shards over loopback gRPC), and the
// overhead at a checkpoint every k steps.
//
//   bazel run -c opt //worker/cnn:fc_snapshot_benchmark [-- MODEL...]
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "proto/base/status_macros.h"
#include "server/ps/testing/local_shards.h"
#include "worker/cnn/resume.h"
#include "worker/nn/cpu_backend.h"
#include "worker/nn/loss.h"
#include "worker/nn/model_zoo.h"
#include "worker/nn/sgd.h"

namespace strata {
namespace cnn {
namespace {

constexpr int64_t kRows = 2 * 64;
constexpr int kRepeats = 3;
constexpr int64_t kEvery = 100;  // the default checkpoint_every_steps

// Seconds per FC training step of `fc` on `rows` x `features` inputs.
absl::StatusOr<double> StepSeconds(nn::Backend* cpu, nn::Sequential* fc,
                                   nn::Sgd* sgd, int64_t features) {
  nn::Tensor input;
  STRATA_RETURN_IF_ERROR(input.EnsureShape(cpu, {kRows, features}));
  std::vector<float> x(kRows * features);
  for (size_t i = 0; i < x.size(); ++i) x[i] = (i % 17) * 0.01f;
  STRATA_RETURN_IF_ERROR(input.CopyFromHost(x));
  std::vector<int32_t> labels(kRows);
  for (int64_t i = 0; i < kRows; ++i) labels[i] = i % 10;
  nn::SoftmaxCrossEntropyLoss loss;
  nn::Tensor dx;
  absl::Time start;
  for (int i = 0; i <= kRepeats; ++i) {
    if (i == 1) start = absl::Now();  // the first one warms up
    STRATA_ASSIGN_OR_RETURN(const nn::Tensor* logits, fc->Forward(input, true));
    STRATA_RETURN_IF_ERROR(loss.Compute(*logits, labels).status());
    STRATA_RETURN_IF_ERROR(fc->Backward(loss.grad(), &dx));
    STRATA_RETURN_IF_ERROR(sgd->Step());
  }
  return absl::ToDoubleSeconds(absl::Now() - start) / kRepeats;
}

absl::Status Measure(const std::string& name, PsClient* client) {
  STRATA_ASSIGN_OR_RETURN(nn::Model model, nn::BuildModel(name));
  STRATA_ASSIGN_OR_RETURN(const nn::ModelSummary summary, nn::Summarize(model));
  STRATA_ASSIGN_OR_RETURN(auto parts, model.Split());
  nn::CpuBackend cpu;
  nn::Sequential& fc = parts.second;
  STRATA_RETURN_IF_ERROR(fc.Init(&cpu, 1));
  nn::Sgd sgd(fc.Params(), {0.01f, 0.9f, 0.0f});
  int64_t features = 1;
  for (int64_t d : summary.conv.output_shape) features *= d;
  STRATA_ASSIGN_OR_RETURN(const double step_s,
                          StepSeconds(&cpu, &fc, &sgd, features));
  FcSnapshots snapshots(client, "bench-" + name, 0, kEvery);
  std::vector<float> weights, velocity;
  absl::Time start;
  for (int i = 0; i <= kRepeats; ++i) {
    if (i == 1) start = absl::Now();
    // What FcSession::CheckpointLocked does: copy out, then write.
    weights.clear();
    for (nn::Parameter* p : fc.Params()) {
      STRATA_ASSIGN_OR_RETURN(std::vector<float> v, p->value.ToHost());
      weights.insert(weights.end(), v.begin(), v.end());
    }
    STRATA_ASSIGN_OR_RETURN(velocity, sgd.Velocity());
    STRATA_RETURN_IF_ERROR(
        snapshots.Write((i + 1) * kEvery, weights, velocity));
  }
  const double snap_s = absl::ToDoubleSeconds(absl::Now() - start) / kRepeats;
  std::printf(
      "%-8s FC params %10lld  FC step %8.2f ms  snapshot %8.2f ms "
      "(%6.1f MB)  overhead at every %lld steps: %5.2f %%\n",
      name.c_str(), static_cast<long long>(weights.size()), step_s * 1e3,
      snap_s * 1e3, 8.0 * weights.size() / 1e6, static_cast<long long>(kEvery),
      100.0 * snap_s / (kEvery * step_s));
  return absl::OkStatus();
}

}  // namespace
}  // namespace cnn
}  // namespace strata

int main(int argc, char** argv) {
  std::vector<std::string> models(argv + 1, argv + argc);
  if (models.empty()) models = {"lenet5", "vgg", "alexnet"};
  auto shards = strata::testing::LocalShards::Start(2);
  if (!shards.ok()) {
    std::fprintf(stderr, "%s\n", shards.status().ToString().c_str());
    return 1;
  }
  for (const std::string& m : models) {
    absl::Status s = strata::cnn::Measure(m, (*shards)->client());
    if (!s.ok()) {
      std::fprintf(stderr, "%s: %s\n", m.c_str(), s.ToString().c_str());
      return 1;
    }
  }
  return 0;
}
