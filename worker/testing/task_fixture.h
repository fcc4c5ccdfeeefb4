// Test helpers of the worker's task tests: parameter-server shards in this
// process with assignments for them as the coordinator sends them
// (TaskFixture), and a TaskContext that records progress and can be
// cancelled (FakeTaskContext).
#ifndef STRATA_WORKER_TESTING_TASK_FIXTURE_H_
#define STRATA_WORKER_TESTING_TASK_FIXTURE_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "proto/coordinator.pb.h"
#include "proto/job.pb.h"
#include "server/client/ps_client.h"
#include "server/ps/testing/local_shards.h"
#include "worker/task.h"

namespace strata {
namespace testing {

// Records the progress a task reports; cancelled() turns true after Cancel()
// or once CancelAfterReports(n) saw n reports. Thread-safe (atomics).
class FakeTaskContext : public TaskContext {
 public:
  bool cancelled() const override;
  void ReportProgress(int64_t step, int64_t total_steps,
                      const TaskMetrics& metrics) override;

  void Cancel() { cancelled_ = true; }
  void CancelAfterReports(int n) { cancel_after_ = n; }

  int reports() const { return reports_; }
  int64_t last_step() const { return last_step_; }
  int64_t total_steps() const { return total_steps_; }

 private:
  std::atomic<bool> cancelled_{false};
  std::atomic<int> cancel_after_{-1};  // -1: never
  std::atomic<int> reports_{0};
  std::atomic<int64_t> last_step_{0}, total_steps_{0};
};

// A gtest fixture: SetUp starts kNumShards parameter-server shards in this
// process (testing::LocalShards: real gRPC over 127.0.0.1) with a client.
// Derived fixtures that override SetUp call TaskFixture::SetUp() first and
// return if HasFatalFailure(). Owns the shards; one test thread.
class TaskFixture : public ::testing::Test {
 protected:
  static constexpr uint32_t kNumShards = 2;

  void SetUp() override;

  // `spec` prepared as the coordinator prepares a submitted job
  // (jobs::PrepareJobSpec with default limits); a failure is a test failure.
  static JobSpec Prepared(JobSpec spec);
  // What the coordinator assigns to task `rank` of `num_tasks`: the prepared
  // spec and the shards' addresses by shard id.
  TaskAssignment Assign(const JobSpec& spec, uint32_t rank = 0,
                        uint32_t num_tasks = 1) const;

  // The shards' client (owned by the fixture) and addresses.
  PsClient* client() const { return shards_->client(); }
  const std::vector<std::string>& ps_addresses() const {
    return shards_->addresses();
  }

 private:
  std::unique_ptr<LocalShards> shards_;
};

}  // namespace testing
}  // namespace strata

#endif  // STRATA_WORKER_TESTING_TASK_FIXTURE_H_
