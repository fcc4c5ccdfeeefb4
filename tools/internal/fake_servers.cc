#include "tools/internal/fake_servers.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "grpcpp/health_check_service_interface.h"
#include "proto/rpc_util.h"
#include "server/client/ps_admin_client.h"

namespace strata {
namespace ctl {

void FakeScript::SetError(const std::string& method, absl::Status status) {
  absl::MutexLock lock(&mu_);
  errors_[method] = std::move(status);
}

absl::Status FakeScript::ErrorFor(const std::string& method) const {
  absl::MutexLock lock(&mu_);
  auto it = errors_.find(method);
  return it == errors_.end() ? absl::OkStatus() : it->second;
}

void FakeScript::SetDelay(absl::Duration delay) {
  absl::MutexLock lock(&mu_);
  delay_ = delay;
}

void FakeScript::Wait(grpc::ServerContext* context) const {
  absl::Duration delay;
  {
    absl::MutexLock lock(&mu_);
    delay = delay_;
  }
  const absl::Time until = absl::Now() + delay;
  while (absl::Now() < until && !context->IsCancelled()) {
    absl::SleepFor(absl::Milliseconds(5));
  }
}

FakeServer::FakeServer(const std::vector<grpc::Service*>& services) {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                           &port);
  for (grpc::Service* service : services) builder.RegisterService(service);
  server_ = builder.BuildAndStart();
  CHECK(server_ != nullptr && port > 0) << "fake server failed to start";
  address_ = absl::StrCat("127.0.0.1:", port);
}

FakeServer::~FakeServer() {
  server_->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(1)));
}

void FakeServer::SetServing(bool serving) {
  server_->GetHealthCheckService()->SetServingStatus(serving);
}

// ---------------------------------------------------------------------------

class FakeCoordinator::Jobs final : public JobService::Service {
 public:
  explicit Jobs(FakeCoordinator* fake) : fake_(fake) {}

  grpc::Status SubmitJob(grpc::ServerContext* context,
                         const SubmitJobRequest* request,
                         SubmitJobResponse* response) override {
    fake_->script_.Wait(context);
    if (auto s = fake_->script_.ErrorFor("SubmitJob"); !s.ok()) {
      return ToGrpcStatus(s);
    }
    absl::MutexLock lock(&fake_->mu_);
    fake_->submitted_.push_back(request->spec());
    const std::string id = absl::StrCat("job-", fake_->submitted_.size());
    JobStatus& job = fake_->jobs_[id];
    job.set_job_id(id);
    *job.mutable_spec() = request->spec();
    job.set_state(PENDING);
    response->set_job_id(id);
    return grpc::Status::OK;
  }

  grpc::Status GetJob(grpc::ServerContext* context,
                      const GetJobRequest* request,
                      JobStatus* response) override {
    fake_->script_.Wait(context);
    if (auto s = fake_->script_.ErrorFor("GetJob"); !s.ok()) {
      return ToGrpcStatus(s);
    }
    absl::MutexLock lock(&fake_->mu_);
    auto it = fake_->jobs_.find(request->job_id());
    if (it == fake_->jobs_.end()) {
      return grpc::Status(grpc::StatusCode::NOT_FOUND,
                          absl::StrCat("no job ", request->job_id()));
    }
    *response = it->second;
    return grpc::Status::OK;
  }

  grpc::Status ListJobs(grpc::ServerContext* context,
                        const ListJobsRequest* request,
                        ListJobsResponse* response) override {
    fake_->script_.Wait(context);
    if (auto s = fake_->script_.ErrorFor("ListJobs"); !s.ok()) {
      return ToGrpcStatus(s);
    }
    absl::MutexLock lock(&fake_->mu_);
    for (const auto& [id, job] : fake_->jobs_) *response->add_jobs() = job;
    return grpc::Status::OK;
  }

  grpc::Status CancelJob(grpc::ServerContext* context,
                         const CancelJobRequest* request,
                         CancelJobResponse* response) override {
    fake_->script_.Wait(context);
    if (auto s = fake_->script_.ErrorFor("CancelJob"); !s.ok()) {
      return ToGrpcStatus(s);
    }
    absl::MutexLock lock(&fake_->mu_);
    auto it = fake_->jobs_.find(request->job_id());
    if (it == fake_->jobs_.end()) {
      return grpc::Status(grpc::StatusCode::NOT_FOUND,
                          absl::StrCat("no job ", request->job_id()));
    }
    it->second.set_state(CANCELLED);
    fake_->cancelled_.push_back(request->job_id());
    response->set_state(CANCELLED);
    return grpc::Status::OK;
  }

  grpc::Status WatchJob(grpc::ServerContext* context,
                        const WatchJobRequest* request,
                        grpc::ServerWriter<JobEvent>* writer) override {
    if (auto s = fake_->script_.ErrorFor("WatchJob"); !s.ok()) {
      return ToGrpcStatus(s);
    }
    std::vector<JobEvent> events;
    {
      absl::MutexLock lock(&fake_->mu_);
      if (fake_->jobs_.count(request->job_id()) == 0) {
        return grpc::Status(grpc::StatusCode::NOT_FOUND,
                            absl::StrCat("no job ", request->job_id()));
      }
      events = fake_->events_[request->job_id()];
    }
    for (const JobEvent& event : events) writer->Write(event);
    return grpc::Status::OK;
  }

 private:
  FakeCoordinator* const fake_;
};

class FakeCoordinator::Nodes final : public NodeService::Service {
 public:
  explicit Nodes(FakeCoordinator* fake) : fake_(fake) {}

  grpc::Status GetCluster(grpc::ServerContext* context,
                          const ClusterRequest* request,
                          ClusterResponse* response) override {
    fake_->script_.Wait(context);
    if (auto s = fake_->script_.ErrorFor("GetCluster"); !s.ok()) {
      return ToGrpcStatus(s);
    }
    absl::MutexLock lock(&fake_->mu_);
    *response = fake_->cluster_;
    return grpc::Status::OK;
  }

 private:
  FakeCoordinator* const fake_;
};

class FakeCoordinator::Admin final : public ClusterAdminService::Service {
 public:
  explicit Admin(FakeCoordinator* fake) : fake_(fake) {}

  grpc::Status Checkpoint(grpc::ServerContext* context,
                          const ClusterCheckpointRequest* request,
                          ClusterCheckpointResponse* response) override {
    fake_->script_.Wait(context);
    if (auto s = fake_->script_.ErrorFor("Checkpoint"); !s.ok()) {
      return ToGrpcStatus(s);
    }
    std::vector<std::string> addresses;
    uint64_t id = 0;
    {
      absl::MutexLock lock(&fake_->mu_);
      addresses.assign(fake_->cluster_.ps_addresses().begin(),
                       fake_->cluster_.ps_addresses().end());
      id = fake_->checkpoint_id_;
    }
    if (addresses.empty()) {
      return ToGrpcStatus(absl::FailedPreconditionError("shards incomplete"));
    }
    absl::StatusOr<std::unique_ptr<PsAdminClient>> admin =
        PsAdminClient::Connect(addresses);
    if (!admin.ok()) return ToGrpcStatus(admin.status());
    absl::StatusOr<std::vector<CheckpointResponse>> written =
        RequireAllOk((*admin)->ConsistentCheckpoint(id));
    if (!written.ok()) return ToGrpcStatus(written.status());
    response->set_checkpoint_id(id);
    for (CheckpointResponse& r : *written) *response->add_shards() = r;
    for (std::string& a : addresses) response->add_addresses(a);
    return grpc::Status::OK;
  }

 private:
  FakeCoordinator* const fake_;
};

FakeCoordinator::FakeCoordinator()
    : jobs_service_(std::make_unique<Jobs>(this)),
      nodes_service_(std::make_unique<Nodes>(this)),
      admin_service_(std::make_unique<Admin>(this)),
      server_(std::make_unique<FakeServer>(std::vector<grpc::Service*>{
          jobs_service_.get(), nodes_service_.get(), admin_service_.get()})) {}

void FakeCoordinator::SetCheckpointId(uint64_t id) {
  absl::MutexLock lock(&mu_);
  checkpoint_id_ = id;
}

FakeCoordinator::~FakeCoordinator() { server_.reset(); }

void FakeCoordinator::AddJob(const JobStatus& job) {
  absl::MutexLock lock(&mu_);
  jobs_[job.job_id()] = job;
}

void FakeCoordinator::SetEvents(const std::string& job_id,
                                std::vector<JobEvent> events) {
  absl::MutexLock lock(&mu_);
  events_[job_id] = std::move(events);
}

void FakeCoordinator::SetCluster(const ClusterResponse& cluster) {
  absl::MutexLock lock(&mu_);
  cluster_ = cluster;
}

std::vector<JobSpec> FakeCoordinator::submitted() const {
  absl::MutexLock lock(&mu_);
  return submitted_;
}

std::vector<std::string> FakeCoordinator::cancelled() const {
  absl::MutexLock lock(&mu_);
  return cancelled_;
}

// ---------------------------------------------------------------------------

class FakeShard::Admin final : public AdminService::Service {
 public:
  explicit Admin(FakeShard* fake) : fake_(fake) {}

  grpc::Status ListTables(grpc::ServerContext* context,
                          const ListTablesRequest* request,
                          ListTablesResponse* response) override {
    fake_->script_.Wait(context);
    if (auto s = fake_->script_.ErrorFor("ListTables"); !s.ok()) {
      return ToGrpcStatus(s);
    }
    absl::MutexLock lock(&fake_->mu_);
    response->set_shard_id(fake_->shard_id_);
    response->set_num_shards(fake_->num_shards_);
    for (const TableInfo& t : fake_->tables_) *response->add_tables() = t;
    return grpc::Status::OK;
  }

  grpc::Status Checkpoint(grpc::ServerContext* context,
                          const CheckpointRequest* request,
                          CheckpointResponse* response) override {
    fake_->script_.Wait(context);
    if (auto s = fake_->script_.ErrorFor("Checkpoint"); !s.ok()) {
      return ToGrpcStatus(s);
    }
    absl::MutexLock lock(&fake_->mu_);
    fake_->checkpoints_.push_back(request->checkpoint_id());
    fake_->cut_calls_.push_back(
        absl::StrCat("checkpoint ", request->checkpoint_id()));
    response->set_checkpoint_id(request->checkpoint_id());
    response->set_path(absl::StrCat("/data/ckpt-", request->checkpoint_id(),
                                    "/shard-", fake_->shard_id_));
    response->set_bytes(1000 * (fake_->shard_id_ + 1));
    response->set_rows(10 * (fake_->shard_id_ + 1));
    return grpc::Status::OK;
  }

  grpc::Status PausePushes(grpc::ServerContext* context,
                           const PausePushesRequest* request,
                           PausePushesResponse*) override {
    fake_->script_.Wait(context);
    if (auto s = fake_->script_.ErrorFor("PausePushes"); !s.ok()) {
      return ToGrpcStatus(s);
    }
    absl::MutexLock lock(&fake_->mu_);
    fake_->cut_calls_.push_back(request->pause() ? "pause" : "resume");
    return grpc::Status::OK;
  }

  grpc::Status Load(grpc::ServerContext* context, const LoadRequest* request,
                    LoadResponse* response) override {
    fake_->script_.Wait(context);
    if (auto s = fake_->script_.ErrorFor("Load"); !s.ok()) {
      return ToGrpcStatus(s);
    }
    absl::MutexLock lock(&fake_->mu_);
    fake_->loads_.push_back(request->checkpoint_id());
    response->set_checkpoint_id(request->checkpoint_id() != 0
                                    ? request->checkpoint_id()
                                    : fake_->newest_checkpoint_);
    response->set_written_by_num_shards(fake_->num_shards_);
    response->set_rows(10 * (fake_->shard_id_ + 1));
    return grpc::Status::OK;
  }

 private:
  FakeShard* const fake_;
};

FakeShard::FakeShard(uint32_t shard_id, uint32_t num_shards)
    : shard_id_(shard_id),
      num_shards_(num_shards),
      admin_service_(std::make_unique<Admin>(this)),
      server_(std::make_unique<FakeServer>(
          std::vector<grpc::Service*>{admin_service_.get()})) {}

FakeShard::~FakeShard() { server_.reset(); }

void FakeShard::AddTable(const TableInfo& table) {
  absl::MutexLock lock(&mu_);
  tables_.push_back(table);
}

void FakeShard::SetNewestCheckpoint(uint64_t id) {
  absl::MutexLock lock(&mu_);
  newest_checkpoint_ = id;
}

std::vector<uint64_t> FakeShard::checkpoint_requests() const {
  absl::MutexLock lock(&mu_);
  return checkpoints_;
}

std::vector<std::string> FakeShard::cut_calls() const {
  absl::MutexLock lock(&mu_);
  return cut_calls_;
}

std::vector<uint64_t> FakeShard::load_requests() const {
  absl::MutexLock lock(&mu_);
  return loads_;
}

}  // namespace ctl
}  // namespace strata
