// The model a CNN_TRAIN spec trains, as a description (cnn_models.h): the
// preset CnnTrainSpec.model names, or the layers of CnnTrainSpec.model_spec.
// Used by admission (cnn_train_job), the workers (which build the network
// from it) and the tools that summarise a spec.
#ifndef STRATA_SERVER_JOBS_CNN_MODEL_SPEC_H_
#define STRATA_SERVER_JOBS_CNN_MODEL_SPEC_H_

#include "absl/status/statusor.h"
#include "proto/job.pb.h"
#include "server/jobs/cnn_models.h"

namespace strata {
namespace jobs {

// The description of `spec`'s model; INVALID_ARGUMENT naming the field when
// both or neither of model and model_spec are set, the preset is unknown, or
// a layer has an unknown type or a field its type does not use. Shapes and
// bounds are InferCnnModel's.
absl::StatusOr<CnnModelDef> CnnModelOf(const CnnTrainSpec& spec);

// CnnModelOf, then InferCnnModel with `limits` (field "cnn_train.model_spec",
// or "cnn_train.model" for a preset).
absl::StatusOr<CnnModelInfo> InferSpecModel(const CnnTrainSpec& spec,
                                            const CnnModelLimits& limits,
                                            CnnModelDef* model);

}  // namespace jobs
}  // namespace strata

#endif  // STRATA_SERVER_JOBS_CNN_MODEL_SPEC_H_
