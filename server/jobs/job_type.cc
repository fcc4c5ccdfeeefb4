#include "server/jobs/job_type.h"

namespace strata {
namespace jobs {

std::vector<RoleNeed> JobType::Roles(const JobSpec& spec) const {
  return {{spec.worker_role(), spec.num_workers(), false}};
}

}  // namespace jobs
}  // namespace strata
