#include "server/coordinator/tensor_reaper.h"

#include <set>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "proto/base/status_macros.h"
#include "server/client/ps_admin_client.h"

namespace strata {

TensorReaper::TensorReaper(Options options, ShardAddresses shards)
    : options_(options), shards_(std::move(shards)) {
  thread_ = std::thread([this] { Loop(); });
}

TensorReaper::~TensorReaper() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  thread_.join();
}

void TensorReaper::Enqueue(const std::vector<std::string>& job_ids) {
  absl::MutexLock lock(&mu_);
  for (const std::string& id : job_ids) queue_.push_back({id, false, 0});
}

void TensorReaper::EnqueueResets(const std::vector<std::string>& prefixes) {
  absl::MutexLock lock(&mu_);
  for (const std::string& p : prefixes) queue_.push_back({p, true, 0});
}

absl::StatusOr<std::unique_ptr<PsAdminClient>> TensorReaper::Connect() {
  STRATA_ASSIGN_OR_RETURN(std::vector<std::string> addresses, shards_());
  PsAdminClientOptions o;
  o.rpc_timeout = options_.rpc_timeout;
  o.max_retries = 0;  // the caller retries on its own, later pass
  o.credentials = options_.credentials;
  return PsAdminClient::Connect(addresses, o);
}

absl::Status TensorReaper::ResetNow(const std::string& prefix) {
  STRATA_ASSIGN_OR_RETURN(std::unique_ptr<PsAdminClient> admin, Connect());
  return AllOk(admin->ResetDenseSteps(prefix));
}

absl::StatusOr<std::string> TensorReaper::Run(const Pending& item) {
  if (item.reset) {
    STRATA_RETURN_IF_ERROR(ResetNow(item.job_id));
    return absl::StrCat("reset the open steps of the BSP tensors ",
                        item.job_id, "*");
  }
  STRATA_ASSIGN_OR_RETURN(const int dropped, ReapNow(item.job_id));
  if (dropped == 0) return std::string();
  return absl::StrCat("dropped ", dropped, " tensors of ", item.job_id);
}

int TensorReaper::dropped() const {
  absl::MutexLock lock(&mu_);
  return dropped_;
}

absl::StatusOr<int> TensorReaper::ReapNow(const std::string& job_id) {
  STRATA_ASSIGN_OR_RETURN(std::unique_ptr<PsAdminClient> admin, Connect());
  PerShard<ListTablesResponse> listed = admin->ListTables();
  STRATA_RETURN_IF_ERROR(AllOk(listed));
  const std::string prefix = absl::StrCat(job_id, "/");
  std::set<std::string> names;  // a sparse table is on every shard
  for (const ShardResult<ListTablesResponse>& shard : listed) {
    for (const TableInfo& t : shard.response->tables()) {
      if (absl::StartsWith(t.name(), prefix)) names.insert(t.name());
    }
  }
  int dropped = 0;
  for (const std::string& name : names) {
    STRATA_RETURN_IF_ERROR(OkOnSomeShard(admin->DropTable(name)));
    ++dropped;
  }
  absl::MutexLock lock(&mu_);
  dropped_ += dropped;
  return dropped;
}

void TensorReaper::Loop() {
  while (true) {
    Pending next;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stop_ || !queue_.empty();
      };
      mu_.Await(absl::Condition(&ready));
      if (stop_) return;
      next = std::move(queue_.front());
      queue_.pop_front();
    }
    absl::StatusOr<std::string> r = Run(next);
    if (r.ok()) {
      LOG_IF(INFO, !r->empty()) << *r;
      continue;
    }
    const std::string what =
        absl::StrCat(next.reset ? "resetting the BSP steps of "
                                : "dropping the tensors of ",
                     next.job_id);
    if (++next.attempts >= options_.max_attempts) {
      LOG(ERROR) << "gave up " << what << " after " << next.attempts
                 << " attempts: " << r.status();
      continue;
    }
    LOG(WARNING) << what << " failed (will retry): " << r.status();
    absl::MutexLock lock(&mu_);
    auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return stop_;
    };
    mu_.AwaitWithTimeout(absl::Condition(&stopping), options_.retry_interval);
    queue_.push_back(std::move(next));
  }
}

}  // namespace strata
