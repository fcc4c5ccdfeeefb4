#include "server/coordinator/checkpoint_policy.h"

#include <algorithm>
#include <memory>
#include <utility>

#include "glog/logging.h"
#include "proto/base/status_macros.h"
#include "server/client/ps_admin_client.h"

namespace strata {

CheckpointPolicy::Checkpointer CheckpointPolicy::ConsistentCheckpointer(
    ShardAddresses shards, absl::Duration rpc_timeout,
    std::shared_ptr<const security::Credentials> credentials) {
  return [shards = std::move(shards), rpc_timeout,
          credentials](uint64_t checkpoint_id) -> absl::StatusOr<Written> {
    STRATA_ASSIGN_OR_RETURN(std::vector<std::string> addresses, shards());
    PsAdminClientOptions o;
    o.rpc_timeout = rpc_timeout;
    o.credentials = credentials;
    STRATA_ASSIGN_OR_RETURN(std::unique_ptr<PsAdminClient> admin,
                            PsAdminClient::Connect(addresses, o));
    Written written;
    written.checkpoint_id = checkpoint_id;
    STRATA_ASSIGN_OR_RETURN(
        written.shards,
        RequireAllOk(admin->ConsistentCheckpoint(checkpoint_id)));
    written.addresses = std::move(addresses);
    return written;
  };
}

CheckpointPolicy::CheckpointPolicy(Options options, Clock* clock,
                                   Checkpointer checkpointer,
                                   IdRecorder record)
    : options_(options),
      clock_(clock),
      checkpointer_(std::move(checkpointer)),
      record_(std::move(record)),
      next_due_(clock->Now() + options.every) {
  if (options_.every > absl::ZeroDuration() && options_.background_thread) {
    thread_ = std::thread([this] { Loop(); });
  }
}

CheckpointPolicy::~CheckpointPolicy() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void CheckpointPolicy::Restore(uint64_t last_id) {
  absl::MutexLock lock(&mu_);
  last_id_ = std::max(last_id_, last_id);
}

std::optional<absl::Status> CheckpointPolicy::MaybeCheckpoint() {
  if (options_.every <= absl::ZeroDuration()) return std::nullopt;
  absl::MutexLock run(&run_mu_);
  const absl::Time now = clock_->Now();
  {
    absl::MutexLock lock(&mu_);
    if (now < next_due_) return std::nullopt;
    next_due_ = now + options_.every;
  }
  return CheckpointLocked("periodic").status();
}

absl::StatusOr<CheckpointPolicy::Written> CheckpointPolicy::CheckpointNow() {
  absl::MutexLock run(&run_mu_);
  return CheckpointLocked("requested");
}

absl::StatusOr<CheckpointPolicy::Written> CheckpointPolicy::CheckpointLocked(
    absl::string_view what) {
  uint64_t id = 0;
  {
    absl::MutexLock lock(&mu_);
    id = std::max(static_cast<uint64_t>(absl::ToUnixMillis(clock_->Now())),
                  last_id_ + 1);
    last_id_ = id;  // never handed out twice, even if not recorded
  }
  const absl::Status recorded = record_ ? record_(id) : absl::OkStatus();
  absl::StatusOr<Written> written =
      recorded.ok() ? checkpointer_(id) : absl::StatusOr<Written>(recorded);
  absl::MutexLock lock(&mu_);
  if (written.ok()) {
    written->checkpoint_id = id;
    ++counters_.written;
    counters_.last_written_id = id;
    LOG(INFO) << what << " checkpoint " << id << " written on every shard";
  } else {
    ++counters_.failed;
    LOG(WARNING) << what << " checkpoint " << id << " failed: "
                 << written.status();
  }
  return written;
}

CheckpointPolicy::Counters CheckpointPolicy::counters() const {
  absl::MutexLock lock(&mu_);
  return counters_;
}

void CheckpointPolicy::Loop() {
  // Checks at least once a second, so a clock jump is noticed soon.
  const absl::Duration poll = std::min(options_.every, absl::Seconds(1));
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      const auto stopped = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stop_;
      };
      if (mu_.AwaitWithTimeout(absl::Condition(&stopped), poll)) return;
    }
    MaybeCheckpoint();
  }
}

}  // namespace strata
