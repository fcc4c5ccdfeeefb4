#include "server/jobs/cnn_model_summary.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "proto/base/status_macros.h"
#include "server/jobs/cnn_model_spec.h"
#include "server/jobs/job_types.h"

namespace strata {
namespace jobs {
namespace {

std::string Bytes(int64_t b) {
  if (b >= 1000000) return absl::StrFormat("%.2f MB", b / 1e6);
  if (b >= 1000) return absl::StrFormat("%.1f KB", b / 1e3);
  return absl::StrCat(b, " B");
}

std::string PartLine(const char* part, int64_t params, int64_t total,
                     double fwd, double bwd) {
  return absl::StrFormat(
      "%-4s part: %12d params (%5.1f%%), %10.2f MFLOP fwd, %10.2f MFLOP "
      "fwd+bwd per image\n",
      part, params, total == 0 ? 0.0 : 100.0 * params / total, fwd / 1e6,
      (fwd + bwd) / 1e6);
}

std::string BytesLine(const char* mode, const StepBytes& b) {
  std::string line = absl::StrFormat("  %-7s pull %s + push %s", mode,
                                     Bytes(b.ps_pull), Bytes(b.ps_push));
  if (b.fc_sent > 0) {
    absl::StrAppend(&line, " + activations ", Bytes(b.fc_sent), " + gradients ",
                    Bytes(b.fc_recv));
  }
  absl::StrAppend(&line, " = ", Bytes(b.Total()), "\n");
  return line;
}

}  // namespace

std::string CnnModelSummaryText(const CnnModelDef& model,
                                const CnnModelInfo& info, int64_t batch,
                                bool fp16_wire) {
  std::string out =
      absl::StrCat("model ", model.name, ": input ", model.channels, "x",
                   model.height, "x", model.width, ", ", model.layers.size(),
                   " layers, conv part = "
                   "layers[0, ",
                   model.split_after, ")\n");
  absl::StrAppend(
      &out, absl::StrFormat("%4s  %-12s %-9s %-12s %12s %12s\n", "#", "layer",
                            "type", "output", "params", "MFLOP fwd"));
  for (size_t i = 0; i < model.layers.size(); ++i) {
    const CnnLayer& l = model.layers[i];
    const CnnLayerInfo& r = info.layers[i];
    absl::StrAppend(&out, absl::StrFormat("%4d  %-12s %-9s %-12s %12d %12.2f\n",
                                          i, l.name, CnnLayerKindName(l.kind),
                                          absl::StrJoin(r.output, "x"),
                                          r.params, r.forward_flops / 1e6));
    if (static_cast<int64_t>(i) + 1 == model.split_after) {
      absl::StrAppend(&out, "      ---- split: boundary D = ", info.boundary,
                      " floats per image ----\n");
    }
  }
  const int64_t total = info.TotalParams();
  absl::StrAppend(&out,
                  PartLine("conv", info.conv_params, total,
                           info.conv_forward_flops, info.conv_backward_flops),
                  PartLine("fc", info.fc_params, total, info.fc_forward_flops,
                           info.fc_backward_flops));
  const StepBytes ps = PsStepBytes(info);
  const StepBytes stanza = StanzaStepBytes(info, batch, fp16_wire);
  absl::StrAppend(
      &out, "bytes per conv worker per step at batch ", batch,
      fp16_wire ? " (fp16 wire)" : "", ", docs/stanza.md \"Byte formula\":\n",
      BytesLine("PS", ps), BytesLine("STANZA", stanza),
      absl::StrFormat("  ratio PS / STANZA = %.1f: %s\n",
                      static_cast<double>(ps.Total()) / stanza.Total(),
                      ps.Total() > stanza.Total()
                          ? "STANZA moves fewer bytes"
                          : "STANZA does not pay off in bytes"));
  return out;
}

absl::StatusOr<std::string> CnnJobSummaryText(JobSpec spec) {
  if (!spec.has_cnn_train()) {
    return absl::InvalidArgumentError("the spec is no cnn_train job");
  }
  STRATA_RETURN_IF_ERROR(PrepareJobSpec(JobLimits(), &spec));
  CnnModelDef def;
  STRATA_ASSIGN_OR_RETURN(
      const CnnModelInfo info,
      InferSpecModel(spec.cnn_train(), CnnModelLimits(), &def));
  return CnnModelSummaryText(def, info, spec.cnn_train().batch_size(),
                             spec.cnn_train().fp16_wire());
}

}  // namespace jobs
}  // namespace strata
