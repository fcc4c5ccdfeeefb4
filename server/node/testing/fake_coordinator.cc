#include "server/node/testing/fake_coordinator.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "proto/rpc_util.h"

namespace strata {
namespace testing {

absl::StatusOr<std::unique_ptr<FakeCoordinator>> FakeCoordinator::Start(
    Options options) {
  std::unique_ptr<FakeCoordinator> fake(new FakeCoordinator(options));
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                           &port);
  builder.RegisterService(fake.get());
  fake->server_ = builder.BuildAndStart();
  if (fake->server_ == nullptr || port == 0) {
    return absl::UnavailableError("fake coordinator could not listen");
  }
  fake->address_ = absl::StrCat("127.0.0.1:", port);
  return fake;
}

FakeCoordinator::~FakeCoordinator() {
  {
    absl::MutexLock lock(&mu_);
    shutdown_ = true;
  }
  if (server_ != nullptr) {
    server_->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
    server_.reset();  // before the service (this) goes away
  }
}

// ------------------------------------------------------------------ script

void FakeCoordinator::FailNextRegistrations(
    std::vector<absl::Status> statuses) {
  absl::MutexLock lock(&mu_);
  for (absl::Status& s : statuses)
    registration_failures_.push_back(std::move(s));
}

void FakeCoordinator::FailHeartbeats(absl::Status status) {
  absl::MutexLock lock(&mu_);
  heartbeat_failure_ = std::move(status);
}

void FakeCoordinator::Forget(const std::string& node_id,
                             absl::StatusCode code) {
  absl::MutexLock lock(&mu_);
  nodes_[node_id].lost = code;
}

void FakeCoordinator::RevokeSecret(const std::string& node_id) {
  absl::MutexLock lock(&mu_);
  nodes_[node_id].secret.clear();
}

void FakeCoordinator::EndStreams(const std::string& node_id) {
  absl::MutexLock lock(&mu_);
  ++nodes_[node_id].stream_generation;
}

void FakeCoordinator::Enqueue(const std::string& node_id, TaskCommand command) {
  absl::MutexLock lock(&mu_);
  nodes_[node_id].queue.push_back(std::move(command));
}

void FakeCoordinator::Assign(const std::string& node_id,
                             TaskAssignment assignment) {
  TaskCommand command;
  *command.mutable_assign() = std::move(assignment);
  Enqueue(node_id, std::move(command));
}

void FakeCoordinator::Cancel(const std::string& node_id,
                             const std::string& task_id) {
  TaskCommand command;
  command.set_cancel_task_id(task_id);
  Enqueue(node_id, std::move(command));
}

void FakeCoordinator::CancelOnReport(const std::string& task_id) {
  absl::MutexLock lock(&mu_);
  cancel_on_report_.insert(task_id);
}

// ------------------------------------------------------------ observations

template <typename Cond>
bool FakeCoordinator::Await(Cond cond, absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  return mu_.AwaitWithTimeout(absl::Condition(&cond), timeout);
}

int FakeCoordinator::registration_attempts() const {
  absl::MutexLock lock(&mu_);
  return registration_attempts_;
}

int FakeCoordinator::heartbeat_attempts() const {
  absl::MutexLock lock(&mu_);
  return heartbeat_attempts_;
}

std::vector<NodeInfo> FakeCoordinator::registered() const {
  absl::MutexLock lock(&mu_);
  std::vector<NodeInfo> out;
  for (const std::string& id : order_) out.push_back(nodes_.at(id).info);
  return out;
}

std::vector<RegisterNodeRequest> FakeCoordinator::registration_requests()
    const {
  absl::MutexLock lock(&mu_);
  return registration_requests_;
}

std::vector<std::vector<std::string>> FakeCoordinator::watch_requests(
    const std::string& node_id) const {
  absl::MutexLock lock(&mu_);
  auto it = watch_requests_.find(node_id);
  return it == watch_requests_.end() ? std::vector<std::vector<std::string>>()
                                     : it->second;
}

std::vector<TaskReport> FakeCoordinator::reports(
    const std::string& task_id) const {
  absl::MutexLock lock(&mu_);
  auto it = reports_.find(task_id);
  return it == reports_.end() ? std::vector<TaskReport>() : it->second;
}

bool FakeCoordinator::AwaitRegistrationAttempts(int n,
                                                absl::Duration timeout) const {
  return Await([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(
                   mu_) { return registration_attempts_ >= n; },
               timeout);
}

bool FakeCoordinator::AwaitHeartbeatAttempts(int n,
                                             absl::Duration timeout) const {
  return Await([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(
                   mu_) { return heartbeat_attempts_ >= n; },
               timeout);
}

bool FakeCoordinator::AwaitHeartbeats(const std::string& node_id, int n,
                                      absl::Duration timeout) const {
  return Await(
      [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        auto it = nodes_.find(node_id);
        return it != nodes_.end() && it->second.heartbeats >= n;
      },
      timeout);
}

bool FakeCoordinator::AwaitStream(const std::string& node_id,
                                  absl::Duration timeout) const {
  return Await(
      [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        auto it = nodes_.find(node_id);
        return it != nodes_.end() && it->second.streams > 0;
      },
      timeout);
}

std::optional<TaskReport> FakeCoordinator::AwaitReport(
    const std::string& task_id, TaskReport::Kind kind,
    absl::Duration timeout) const {
  std::optional<TaskReport> found;
  Await(
      [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        auto it = reports_.find(task_id);
        if (it == reports_.end()) return false;
        for (const TaskReport& r : it->second) {
          if (r.kind() == kind) {
            found = r;
            return true;
          }
        }
        return false;
      },
      timeout);
  return found;
}

// ------------------------------------------------------------- NodeService

absl::StatusOr<FakeCoordinator::Node*> FakeCoordinator::FindLocked(
    const std::string& node_id, const std::string& secret) {
  auto it = nodes_.find(node_id);
  if (it == nodes_.end() || it->second.info.node_id().empty()) {
    return absl::NotFoundError(absl::StrCat("unknown node '", node_id, "'"));
  }
  if (it->second.secret.empty() || it->second.secret != secret) {
    return absl::PermissionDeniedError(
        absl::StrCat("wrong node secret for ", node_id));
  }
  if (it->second.lost != absl::StatusCode::kOk) {
    return absl::Status(it->second.lost,
                        absl::StrCat("node ", node_id, " was forgotten"));
  }
  return &it->second;
}

grpc::Status FakeCoordinator::RegisterNode(grpc::ServerContext*,
                                           const RegisterNodeRequest* request,
                                           RegisterNodeResponse* response) {
  absl::MutexLock lock(&mu_);
  ++registration_attempts_;
  if (!registration_failures_.empty()) {
    const absl::Status failure = registration_failures_.front();
    registration_failures_.pop_front();
    return ToGrpcStatus(failure);
  }
  registration_requests_.push_back(*request);
  if (auto known = nodes_.find(request->node_id());
      known != nodes_.end() && !known->second.info.node_id().empty()) {
    Node& node = known->second;
    if (node.secret.empty() || node.secret != request->node_secret()) {
      return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                          "wrong node secret for " + request->node_id());
    }
    if (node.lost == absl::StatusCode::kOk) {  // alive: keeps its id
      response->set_node_id(request->node_id());
      response->set_node_secret(node.secret);
      response->set_heartbeat_interval_ms(options_.heartbeat_interval_ms);
      return grpc::Status::OK;
    }
  }
  const std::string id = absl::StrCat("node-", next_id_++);
  Node& node = nodes_[id];
  node.info = request->node();
  node.info.set_node_id(id);
  node.secret = "secret-of-" + id;
  order_.push_back(id);
  response->set_node_id(id);
  response->set_node_secret(node.secret);
  response->set_heartbeat_interval_ms(options_.heartbeat_interval_ms);
  return grpc::Status::OK;
}

grpc::Status FakeCoordinator::Heartbeat(grpc::ServerContext*,
                                        const HeartbeatRequest* request,
                                        HeartbeatResponse*) {
  absl::MutexLock lock(&mu_);
  ++heartbeat_attempts_;
  if (!heartbeat_failure_.ok()) return ToGrpcStatus(heartbeat_failure_);
  absl::StatusOr<Node*> node =
      FindLocked(request->node_id(), request->node_secret());
  if (!node.ok()) return ToGrpcStatus(node.status());
  ++(*node)->heartbeats;
  return grpc::Status::OK;
}

absl::StatusOr<std::vector<TaskCommand>> FakeCoordinator::NextCommands(
    const std::string& node_id, int generation, grpc::ServerContext* context) {
  absl::MutexLock lock(&mu_);
  Node& node = nodes_.at(node_id);  // nodes are never erased
  auto news = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return shutdown_ || node.lost != absl::StatusCode::kOk ||
           node.stream_generation != generation || !node.queue.empty();
  };
  while (true) {
    mu_.AwaitWithTimeout(absl::Condition(&news), options_.stream_slice);
    if (shutdown_ || node.stream_generation != generation) {
      return absl::UnavailableError("coordinator shutting down");
    }
    if (node.lost != absl::StatusCode::kOk) {
      return absl::Status(node.lost,
                          absl::StrCat("node ", node_id, " was forgotten"));
    }
    if (context->IsCancelled()) return absl::CancelledError("client gone");
    if (!node.queue.empty()) {
      std::vector<TaskCommand> out(node.queue.begin(), node.queue.end());
      node.queue.clear();
      return out;
    }
  }
}

grpc::Status FakeCoordinator::WatchTasks(
    grpc::ServerContext* context, const WatchTasksRequest* request,
    grpc::ServerWriter<TaskCommand>* writer) {
  const std::string& id = request->node_id();
  int generation = 0;
  {
    absl::MutexLock lock(&mu_);
    absl::StatusOr<Node*> node = FindLocked(id, request->node_secret());
    if (!node.ok()) return ToGrpcStatus(node.status());
    ++(*node)->streams;
    generation = (*node)->stream_generation;
    watch_requests_[id].emplace_back(request->running_task_ids().begin(),
                                     request->running_task_ids().end());
  }
  absl::Status ended;
  while (ended.ok()) {
    absl::StatusOr<std::vector<TaskCommand>> commands =
        NextCommands(id, generation, context);
    if (!commands.ok()) {
      ended = commands.status();
      break;
    }
    for (size_t i = 0; i < commands->size(); ++i) {
      if (writer->Write((*commands)[i])) continue;
      // Keep what was not written for the node's next stream.
      absl::MutexLock lock(&mu_);
      std::deque<TaskCommand>& queue = nodes_.at(id).queue;
      queue.insert(queue.begin(), commands->begin() + i, commands->end());
      ended = absl::UnavailableError("could not write to the node");
      break;
    }
  }
  absl::MutexLock lock(&mu_);
  --nodes_.at(id).streams;
  return ToGrpcStatus(ended);
}

grpc::Status FakeCoordinator::ReportTask(grpc::ServerContext*,
                                         const TaskReport* request,
                                         TaskReportResponse* response) {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<Node*> node =
      FindLocked(request->node_id(), request->node_secret());
  if (!node.ok() &&
      node.status().code() == absl::StatusCode::kPermissionDenied) {
    return ToGrpcStatus(node.status());
  }
  reports_[request->task_id()].push_back(*request);
  response->set_cancel(cancel_on_report_.count(request->task_id()) > 0);
  return grpc::Status::OK;
}

}  // namespace testing
}  // namespace strata
