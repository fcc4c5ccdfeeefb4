// CNN_TRAIN (JobSpec.cnn_train): CNN training in STANZA mode (conv workers
// stream boundary activations to FC nodes) or PS mode (every worker trains
// the whole model through the parameter servers); docs/stanza.md. Its
// rules: docs/jobs.md.
#ifndef STRATA_SERVER_JOBS_CNN_TRAIN_JOB_H_
#define STRATA_SERVER_JOBS_CNN_TRAIN_JOB_H_

#include "server/jobs/job_type.h"

namespace strata {
namespace jobs {

// The stateless singleton; thread-safe.
const JobType& CnnTrainJob();

}  // namespace jobs
}  // namespace strata

#endif  // STRATA_SERVER_JOBS_CNN_TRAIN_JOB_H_
