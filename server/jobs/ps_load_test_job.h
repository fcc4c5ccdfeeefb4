// PS_LOAD_TEST (JobSpec.ps_load_test): writes random embeddings through the
// client library, reads them back and verifies every value. Its rules:
// docs/jobs.md.
#ifndef STRATA_SERVER_JOBS_PS_LOAD_TEST_JOB_H_
#define STRATA_SERVER_JOBS_PS_LOAD_TEST_JOB_H_

#include "server/jobs/job_type.h"

namespace strata {
namespace jobs {

// The stateless singleton; thread-safe.
const JobType& PsLoadTestJob();

}  // namespace jobs
}  // namespace strata

#endif  // STRATA_SERVER_JOBS_PS_LOAD_TEST_JOB_H_
