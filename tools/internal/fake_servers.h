// In-process fake coordinator and parameter-server shards for stratactl's
// tests: real gRPC servers on 127.0.0.1 ephemeral ports with scripted
// replies, the standard health service, and injectable per-method errors.
#ifndef STRATA_TOOLS_INTERNAL_FAKE_SERVERS_H_
#define STRATA_TOOLS_INTERNAL_FAKE_SERVERS_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "proto/coordinator.grpc.pb.h"
#include "proto/ps.grpc.pb.h"

namespace strata {
namespace ctl {

// Scripted replies shared by the fake services and the test. Thread-safe.
class FakeScript {
 public:
  // The error `method` (e.g. "GetJob") returns from now on; OK clears it.
  void SetError(const std::string& method, absl::Status status);
  absl::Status ErrorFor(const std::string& method) const;
  // Every unary call waits this long first (or until cancelled), so tests
  // can provoke deadlines.
  void SetDelay(absl::Duration delay);
  void Wait(grpc::ServerContext* context) const;

 private:
  mutable absl::Mutex mu_;
  std::map<std::string, absl::Status> errors_ ABSL_GUARDED_BY(mu_);
  absl::Duration delay_ ABSL_GUARDED_BY(mu_) = absl::ZeroDuration();
};

// A grpc::Server on 127.0.0.1:<ephemeral> with the default health service
// (SERVING) plus `services`, which it borrows. Shuts down on destruction.
class FakeServer {
 public:
  explicit FakeServer(const std::vector<grpc::Service*>& services);
  ~FakeServer();
  const std::string& address() const { return address_; }
  void SetServing(bool serving);

 private:
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
};

// Fake coordinator: JobService, NodeService.GetCluster and
// ClusterAdminService.Checkpoint. SubmitJob assigns ids "job-1", "job-2",
// ... and stores a PENDING JobStatus; WatchJob replays the events set for
// the job and closes the stream; Checkpoint takes a consistent checkpoint
// (PsAdminClient) of the cluster's ps_addresses under checkpoint_id() and
// fails with the first shard's error. Thread-safe.
class FakeCoordinator {
 public:
  FakeCoordinator();
  ~FakeCoordinator();

  const std::string& address() const { return server_->address(); }
  FakeScript& script() { return script_; }
  FakeServer& server() { return *server_; }

  void AddJob(const JobStatus& job);
  void SetEvents(const std::string& job_id, std::vector<JobEvent> events);
  void SetCluster(const ClusterResponse& cluster);
  // The id Checkpoint picks (default 1700000000000).
  void SetCheckpointId(uint64_t id);
  std::vector<JobSpec> submitted() const;
  std::vector<std::string> cancelled() const;

 private:
  class Jobs;
  class Nodes;
  class Admin;
  friend class Jobs;
  friend class Nodes;
  friend class Admin;

  FakeScript script_;
  mutable absl::Mutex mu_;
  std::map<std::string, JobStatus> jobs_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::vector<JobEvent>> events_ ABSL_GUARDED_BY(mu_);
  ClusterResponse cluster_ ABSL_GUARDED_BY(mu_);
  uint64_t checkpoint_id_ ABSL_GUARDED_BY(mu_) = 1700000000000;
  std::vector<JobSpec> submitted_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> cancelled_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<Jobs> jobs_service_;
  std::unique_ptr<Nodes> nodes_service_;
  std::unique_ptr<Admin> admin_service_;
  std::unique_ptr<FakeServer> server_;
};

// Fake parameter-server shard: AdminService ListTables, Checkpoint, Load and
// PausePushes. Checkpoint replies path "<data>/ckpt-<id>/shard-<shard_id>"
// with the configured bytes/rows and records the ids it was asked for;
// PausePushes records "pause"/"resume" in the order of the calls, with
// the checkpoints as "checkpoint <id>". Thread-safe.
class FakeShard {
 public:
  explicit FakeShard(uint32_t shard_id, uint32_t num_shards);
  ~FakeShard();

  const std::string& address() const { return server_->address(); }
  FakeScript& script() { return script_; }
  FakeServer& server() { return *server_; }

  void AddTable(const TableInfo& table);
  // Id reported by Load when asked for checkpoint 0 (the newest).
  void SetNewestCheckpoint(uint64_t id);
  std::vector<uint64_t> checkpoint_requests() const;
  std::vector<uint64_t> load_requests() const;
  // "pause", "checkpoint <id>" and "resume", in the order they came.
  std::vector<std::string> cut_calls() const;

 private:
  class Admin;
  friend class Admin;

  const uint32_t shard_id_;
  const uint32_t num_shards_;
  FakeScript script_;
  mutable absl::Mutex mu_;
  std::vector<TableInfo> tables_ ABSL_GUARDED_BY(mu_);
  uint64_t newest_checkpoint_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<uint64_t> checkpoints_ ABSL_GUARDED_BY(mu_);
  std::vector<uint64_t> loads_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> cut_calls_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<Admin> admin_service_;
  std::unique_ptr<FakeServer> server_;
};

}  // namespace ctl
}  // namespace strata

#endif  // STRATA_TOOLS_INTERNAL_FAKE_SERVERS_H_
