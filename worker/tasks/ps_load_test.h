// Built-in job type PS load test: each worker writes deterministic random
// embeddings for its own key range through the client library, reads them
// back, verifies every value bit for bit, and reports throughput.
#ifndef STRATA_WORKER_TASKS_PS_LOAD_TEST_H_
#define STRATA_WORKER_TASKS_PS_LOAD_TEST_H_

#include <memory>

#include "proto/job.pb.h"
#include "server/client/ps_client.h"
#include "worker/task.h"

namespace strata {

// Writes round `round`'s target value for (key, column); a pure function so
// every worker and the verifier agree.
float LoadTestTarget(uint64_t seed, uint32_t round, uint64_t key,
                     uint32_t column);

// Stateless between runs; Run connects to the shards named in the
// assignment (or uses the client given to the constructor, for tests).
class PsLoadTestTask final : public Task {
 public:
  PsLoadTestTask() = default;
  // Uses `client` (not owned; must outlive Run) instead of connecting.
  explicit PsLoadTestTask(PsClient* client) : client_(client) {}

  absl::StatusOr<TaskMetrics> Run(const TaskAssignment& assignment,
                              TaskContext* context) override;

 private:
  PsClient* client_ = nullptr;
};

}  // namespace strata

#endif  // STRATA_WORKER_TASKS_PS_LOAD_TEST_H_
