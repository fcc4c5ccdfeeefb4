#include "worker/testing/task_fixture.h"

#include <utility>

#include "server/jobs/job_types.h"

namespace strata {
namespace testing {

bool FakeTaskContext::cancelled() const {
  const int after = cancel_after_;
  return cancelled_ || (after >= 0 && reports_ >= after);
}

void FakeTaskContext::ReportProgress(int64_t step, int64_t total_steps,
                                     const TaskMetrics&) {
  last_step_ = step;
  total_steps_ = total_steps;
  ++reports_;
}

void TaskFixture::SetUp() {
  auto shards = LocalShards::Start(kNumShards);
  ASSERT_TRUE(shards.ok()) << shards.status();
  shards_ = std::move(*shards);
}

JobSpec TaskFixture::Prepared(JobSpec spec) {
  const absl::Status prepared = jobs::PrepareJobSpec({}, &spec);
  EXPECT_TRUE(prepared.ok()) << prepared;
  return spec;
}

TaskAssignment TaskFixture::Assign(const JobSpec& spec, uint32_t rank,
                                   uint32_t num_tasks) const {
  TaskAssignment a;
  a.set_rank(rank);
  a.set_num_tasks(num_tasks);
  *a.mutable_spec() = Prepared(spec);
  for (const std::string& addr : ps_addresses()) a.add_ps_addresses(addr);
  return a;
}

}  // namespace testing
}  // namespace strata
