// Test helper: the coordinator's node API (strata::NodeService) served in
// this process on a 127.0.0.1 port (real gRPC), scripted by the test. It
// registers nodes as node-1, node-2, ... with the secret "secret-of-node-N"
// (a re-registration naming a known id with its secret keeps the id, one
// with another secret is PERMISSION_DENIED, as the real coordinator), checks
// the secret of every call, counts heartbeats, forgets nodes on request,
// queues task commands for the nodes' WatchTasks streams and records task
// reports and the tasks each stream said were running. Jobs, scheduling and
// timeouts are the test's business. Used by the NodeSession and WorkerAgent
// tests.
#ifndef STRATA_SERVER_NODE_TESTING_FAKE_COORDINATOR_H_
#define STRATA_SERVER_NODE_TESTING_FAKE_COORDINATOR_H_

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "proto/coordinator.grpc.pb.h"

namespace strata {
namespace testing {

// Owns its gRPC server; destroying it ends the open streams (UNAVAILABLE)
// and shuts the server down. Thread-safe. The Await* calls wait at most
// `timeout` and return false (or nullopt) when it passed first.
class FakeCoordinator final : public NodeService::Service {
 public:
  struct Options {
    // Named in every RegisterNode response.
    uint32_t heartbeat_interval_ms = 20;
    // Open WatchTasks streams check for a cancelled client this often.
    absl::Duration stream_slice = absl::Milliseconds(20);
  };
  static absl::StatusOr<std::unique_ptr<FakeCoordinator>> Start(
      Options options);
  static absl::StatusOr<std::unique_ptr<FakeCoordinator>> Start() {
    return Start(Options());
  }
  ~FakeCoordinator() override;

  const std::string& address() const { return address_; }

  // --- Script.
  // The next RegisterNode calls fail with these statuses, in order.
  void FailNextRegistrations(std::vector<absl::Status> statuses);
  // Every Heartbeat fails with `status` until called again with OK.
  void FailHeartbeats(absl::Status status);
  // Forgets `node_id` as a restarted coordinator (NOT_FOUND) or one that
  // declared the node dead (FAILED_PRECONDITION) would: its heartbeats and
  // streams fail with `code`, and its open stream ends with it.
  void Forget(const std::string& node_id, absl::StatusCode code);
  // From now on `node_id`'s secret is refused (PERMISSION_DENIED), as when
  // the id belongs to another node.
  void RevokeSecret(const std::string& node_id);
  // Ends `node_id`'s open streams with UNAVAILABLE (as a restarting
  // coordinator does); the node stays known.
  void EndStreams(const std::string& node_id);
  // Queues a command for `node_id`'s stream (delivered when one is open).
  void Assign(const std::string& node_id, TaskAssignment assignment);
  void Cancel(const std::string& node_id, const std::string& task_id);
  // From now on every ReportTask response for `task_id` says cancel.
  void CancelOnReport(const std::string& task_id);

  // --- Observations.
  int registration_attempts() const;
  int heartbeat_attempts() const;
  // What the registered nodes announced, by registration order.
  std::vector<NodeInfo> registered() const;
  // Every RegisterNode request that got past FailNextRegistrations, in
  // order (node_id and node_secret: the identity the node re-asserted).
  std::vector<RegisterNodeRequest> registration_requests() const;
  // The running_task_ids of every WatchTasks request of `node_id`.
  std::vector<std::vector<std::string>> watch_requests(
      const std::string& node_id) const;
  // The reports received for `task_id`, in arrival order.
  std::vector<TaskReport> reports(const std::string& task_id) const;

  bool AwaitRegistrationAttempts(int n, absl::Duration timeout) const;
  bool AwaitHeartbeatAttempts(int n, absl::Duration timeout) const;
  // `n` successful heartbeats of `node_id`.
  bool AwaitHeartbeats(const std::string& node_id, int n,
                       absl::Duration timeout) const;
  // A WatchTasks stream of `node_id` is open.
  bool AwaitStream(const std::string& node_id, absl::Duration timeout) const;
  // The first report of `kind` for `task_id`.
  std::optional<TaskReport> AwaitReport(const std::string& task_id,
                                        TaskReport::Kind kind,
                                        absl::Duration timeout) const;

  // --- NodeService.
  grpc::Status RegisterNode(grpc::ServerContext* context,
                            const RegisterNodeRequest* request,
                            RegisterNodeResponse* response) override;
  grpc::Status Heartbeat(grpc::ServerContext* context,
                         const HeartbeatRequest* request,
                         HeartbeatResponse* response) override;
  grpc::Status WatchTasks(grpc::ServerContext* context,
                          const WatchTasksRequest* request,
                          grpc::ServerWriter<TaskCommand>* writer) override;
  grpc::Status ReportTask(grpc::ServerContext* context,
                          const TaskReport* request,
                          TaskReportResponse* response) override;

 private:
  struct Node {
    NodeInfo info;
    std::string secret;  // empty once revoked
    int heartbeats = 0;
    int stream_generation = 0;  // EndStreams ends streams of older ones
    absl::StatusCode lost = absl::StatusCode::kOk;
    std::deque<TaskCommand> queue;
    int streams = 0;  // open WatchTasks streams
  };

  explicit FakeCoordinator(Options options) : options_(options) {}
  // Waits until `cond` holds under mu_, at most `timeout`.
  template <typename Cond>
  bool Await(Cond cond, absl::Duration timeout) const;
  // The node's state for a call with `secret`, or the error the call gets.
  absl::StatusOr<Node*> FindLocked(const std::string& node_id,
                                   const std::string& secret)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Takes the commands queued for `node_id`; an error when the stream must
  // end (node lost, shutdown, client gone).
  absl::StatusOr<std::vector<TaskCommand>> NextCommands(
      const std::string& node_id, int generation, grpc::ServerContext* context);
  void Enqueue(const std::string& node_id, TaskCommand command);

  // Constant after Start.
  const Options options_;
  std::string address_;
  std::unique_ptr<grpc::Server> server_;

  mutable absl::Mutex mu_;
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
  int next_id_ ABSL_GUARDED_BY(mu_) = 1;
  int registration_attempts_ ABSL_GUARDED_BY(mu_) = 0;
  int heartbeat_attempts_ ABSL_GUARDED_BY(mu_) = 0;
  std::deque<absl::Status> registration_failures_ ABSL_GUARDED_BY(mu_);
  absl::Status heartbeat_failure_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> order_ ABSL_GUARDED_BY(mu_);  // ids, registered
  std::map<std::string, Node> nodes_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> cancel_on_report_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::vector<TaskReport>> reports_ ABSL_GUARDED_BY(mu_);
  std::vector<RegisterNodeRequest> registration_requests_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::vector<std::vector<std::string>>> watch_requests_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace testing
}  // namespace strata

#endif  // STRATA_SERVER_NODE_TESTING_FAKE_COORDINATOR_H_
