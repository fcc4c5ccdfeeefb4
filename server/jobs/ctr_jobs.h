// CTR_TRAIN (JobSpec.ctr_train) and CTR_EVAL (JobSpec.ctr_eval): CTR model
// training on the parameter servers and its evaluation (docs/ctr.md). They
// share the data and model rules. Their rules: docs/jobs.md.
#ifndef STRATA_SERVER_JOBS_CTR_JOBS_H_
#define STRATA_SERVER_JOBS_CTR_JOBS_H_

#include "server/jobs/job_type.h"

namespace strata {
namespace jobs {

// The stateless singletons; thread-safe.
const JobType& CtrTrainJob();
const JobType& CtrEvalJob();

}  // namespace jobs
}  // namespace strata

#endif  // STRATA_SERVER_JOBS_CTR_JOBS_H_
