// The text `model_summary` and `stratactl model-summary` print for a CNN
// model: per layer its output shape, parameters and FLOPs, the totals of the
// conv and the FC part, and the bytes per step of PS mode and of STANZA
// (the byte formula of docs/stanza.md, cnn_models.h) at a batch size, so a
// user sees before running whether Stanza pays off.
#ifndef STRATA_SERVER_JOBS_CNN_MODEL_SUMMARY_H_
#define STRATA_SERVER_JOBS_CNN_MODEL_SUMMARY_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "proto/job.pb.h"
#include "server/jobs/cnn_models.h"

namespace strata {
namespace jobs {

// `info` is InferCnnModel(model); `batch` images per conv worker per step.
std::string CnnModelSummaryText(const CnnModelDef& model,
                                const CnnModelInfo& info, int64_t batch,
                                bool fp16_wire);

// The summary of a CNN_TRAIN spec's model at its batch_size and fp16_wire,
// after the checks `submit` makes (PrepareJobSpec with the default limits):
// INVALID_ARGUMENT as submit would answer, or when the spec is no CNN_TRAIN.
absl::StatusOr<std::string> CnnJobSummaryText(JobSpec spec);

}  // namespace jobs
}  // namespace strata

#endif  // STRATA_SERVER_JOBS_CNN_MODEL_SUMMARY_H_
