// Prints, for each model of the zoo, the parameter count and the FLOPs per
// image of its conv part and its FC part (split at the model's boundary);
// with --spec, the per-layer summary and the PS / STANZA bytes per step of
// the model a JobSpec file defines (the same text as `stratactl
// model-summary`), at the spec's batch_size (or --batch).
//   bazel run //worker/nn:model_summary [-- --format=markdown]
//   bazel run //worker/nn:model_summary -- --spec=$PWD/tools/examples/cnn_custom.textproto
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/json_util.h"
#include "server/jobs/cnn_model_summary.h"
#include "worker/nn/model_zoo.h"

ABSL_FLAG(std::string, format, "text", "text or markdown");
ABSL_FLAG(std::string, spec, "",
          "a JobSpec file (text format, or JSON for *.json) with cnn_train: "
          "summarise its model");
ABSL_FLAG(uint32_t, batch, 0, "--spec: batch size (0: the spec's batch_size)");

namespace {

std::string Mflops(int64_t f) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.2f", f / 1e6);
  return buf;
}

// The summary of the model of the JobSpec file `path`; 1 on errors.
int SummarizeSpec(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    std::fprintf(stderr, "%s: cannot read\n", path.c_str());
    return 1;
  }
  std::stringstream text;
  text << in.rdbuf();
  strata::JobSpec spec;
  const bool parsed =
      absl::EndsWith(path, ".json")
          ? google::protobuf::util::JsonStringToMessage(text.str(), &spec).ok()
          : google::protobuf::TextFormat::ParseFromString(text.str(), &spec);
  if (!parsed) {
    std::fprintf(stderr, "%s: not a JobSpec\n", path.c_str());
    return 1;
  }
  if (absl::GetFlag(FLAGS_batch) > 0) {
    spec.mutable_cnn_train()->set_batch_size(absl::GetFlag(FLAGS_batch));
  }
  absl::StatusOr<std::string> summary = strata::jobs::CnnJobSummaryText(spec);
  if (!summary.ok()) {
    std::fprintf(stderr, "%s: %s\n", path.c_str(),
                 summary.status().ToString().c_str());
    return 1;
  }
  std::printf("%s", summary->c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  if (!absl::GetFlag(FLAGS_spec).empty()) {
    return SummarizeSpec(absl::GetFlag(FLAGS_spec));
  }
  const bool md = absl::GetFlag(FLAGS_format) == "markdown";
  if (md) {
    std::printf(
        "| model | part | params | share | fwd MFLOP/img | fwd+bwd MFLOP/img "
        "| output |\n|---|---|---:|---:|---:|---:|---|\n");
  }
  for (const std::string& name : strata::nn::ModelNames()) {
    auto model = strata::nn::BuildModel(name);
    auto s = model.ok() ? strata::nn::Summarize(*model)
                        : absl::StatusOr<strata::nn::ModelSummary>(model.status());
    if (!s.ok()) {
      std::fprintf(stderr, "%s: %s\n", name.c_str(), s.status().ToString().c_str());
      return 1;
    }
    if (!md) {
      std::printf("%s: %lld parameters, %s MFLOP/image forward, %s MFLOP/image "
                  "forward+backward; split at \"%s\"\n",
                  name.c_str(), static_cast<long long>(s->TotalParams()),
                  Mflops(s->conv.forward_flops + s->fc.forward_flops).c_str(),
                  Mflops(s->TrainFlops()).c_str(), model->boundary.c_str());
    }
    const strata::nn::PartSummary* parts[] = {&s->conv, &s->fc};
    const char* labels[] = {"conv", "fc"};
    for (int i = 0; i < 2; ++i) {
      const auto& p = *parts[i];
      const double share = 100.0 * p.params / s->TotalParams();
      const std::string shape = absl::StrJoin(p.output_shape, "x");
      if (md) {
        std::printf("| %s | %s | %lld | %.1f%% | %s | %s | %s |\n", name.c_str(),
                    labels[i], static_cast<long long>(p.params), share,
                    Mflops(p.forward_flops).c_str(),
                    Mflops(p.forward_flops + p.backward_flops).c_str(),
                    shape.c_str());
      } else {
        std::printf("  %-4s part: %10lld params (%5.1f%%), %9s MFLOP fwd, %9s "
                    "MFLOP fwd+bwd, output %s\n",
                    labels[i], static_cast<long long>(p.params), share,
                    Mflops(p.forward_flops).c_str(),
                    Mflops(p.forward_flops + p.backward_flops).c_str(),
                    shape.c_str());
      }
    }
  }
  return 0;
}
