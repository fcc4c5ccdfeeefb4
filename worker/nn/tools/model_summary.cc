// Prints, for each model of the zoo, the parameter count and the FLOPs per
// image of its conv part and its FC part (split at the model's boundary).
//   bazel run //worker/nn:model_summary [-- --format=markdown]
#include <cstdio>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_join.h"
#include "worker/nn/model_zoo.h"

ABSL_FLAG(std::string, format, "text", "text or markdown");

namespace {

std::string Mflops(int64_t f) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.2f", f / 1e6);
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
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
