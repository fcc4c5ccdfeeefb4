// Drops the tensors a finished job created for itself on the shards: every
// table or dense tensor whose name starts with "<job_id>/" (CNN_TRAIN's
// parameters; docs/failures.md). The coordinator hands it the jobs that
// JobManager::TakeJobsToReap returns; a background thread lists the shards'
// tables and drops the job's, so the coordinator's tick never waits on the
// network. A job whose shards cannot be reached is retried on later passes,
// up to max_attempts, then given up loudly (its tensors stay).
//
// It also resets the open steps of BSP tensors (AdminService.
// ResetDenseSteps) of jobs that failed or were cancelled (EnqueueResets,
// same retries), and on the caller's thread for a restart (ResetNow).
// Thread-safe. Owns its thread.
#ifndef STRATA_SERVER_COORDINATOR_TENSOR_REAPER_H_
#define STRATA_SERVER_COORDINATOR_TENSOR_REAPER_H_

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/security/credentials.h"

namespace strata {

class PsAdminClient;

class TensorReaper {
 public:
  struct Options {
    // Between passes over jobs whose shards could not be reached.
    absl::Duration retry_interval = absl::Seconds(5);
    int max_attempts = 12;
    // Deadline of each admin RPC to a shard.
    absl::Duration rpc_timeout = absl::Seconds(10);
    // Of the channels to the shards; null: plaintext.
    std::shared_ptr<const security::Credentials> credentials;
  };
  // The current shard addresses by shard id (NodeRegistry::PsAddresses);
  // an error while the shards are incomplete.
  using ShardAddresses =
      std::function<absl::StatusOr<std::vector<std::string>>()>;

  TensorReaper(Options options, ShardAddresses shards);
  // Stops the thread; jobs not reaped yet keep their tensors.
  ~TensorReaper();
  TensorReaper(const TensorReaper&) = delete;
  TensorReaper& operator=(const TensorReaper&) = delete;

  void Enqueue(const std::vector<std::string>& job_ids);
  // Resets the open steps of the BSP tensors named prefix* (JobManager::
  // TakeStepResets), in the background.
  void EnqueueResets(const std::vector<std::string>& prefixes);
  // Resets them now, on the caller's thread: an error when the shards are
  // incomplete or a shard failed.
  absl::Status ResetNow(const std::string& prefix);
  // Drops the job's tensors now, on the caller's thread. Returns how many
  // were dropped; an error when a shard could not be listed or a drop
  // failed (what was dropped stays dropped).
  absl::StatusOr<int> ReapNow(const std::string& job_id);
  // Tensors dropped so far (for tests and the log).
  int dropped() const;

 private:
  struct Pending {
    std::string job_id;  // or the tensor prefix of a reset
    bool reset = false;
    int attempts = 0;
  };
  void Loop();
  // Runs one queued item; what to log.
  absl::StatusOr<std::string> Run(const Pending& item);
  absl::StatusOr<std::unique_ptr<PsAdminClient>> Connect();

  const Options options_;
  const ShardAddresses shards_;
  mutable absl::Mutex mu_;
  std::deque<Pending> queue_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  int dropped_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread thread_;
};

}  // namespace strata

#endif  // STRATA_SERVER_COORDINATOR_TENSOR_REAPER_H_
