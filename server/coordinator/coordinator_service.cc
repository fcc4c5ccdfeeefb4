#include "server/coordinator/coordinator_service.h"

#include <optional>
#include <utility>
#include <vector>

#include "proto/rpc_util.h"
#include "server/security/identity.h"

namespace strata {
namespace {

grpc::Status ClientGone() {
  return grpc::Status(grpc::StatusCode::CANCELLED, "client cancelled");
}

grpc::Status ShuttingDown() {
  return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                      "coordinator is shutting down");
}

using Caller = std::optional<security::Identity>;

// Runs `body` (returning an absl::Status) with the call's caller, or fails
// the call with CallerIdentity's error (UNAUTHENTICATED).
template <typename Body>
grpc::Status AsCaller(const grpc::ServerContext& context, Body body) {
  absl::StatusOr<Caller> caller = security::CallerIdentity(context);
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  return ToGrpcStatus(body(*caller));
}

}  // namespace

JobServiceImpl::JobServiceImpl(Coordinator* coordinator,
                               CoordinatorServiceOptions options)
    : coordinator_(coordinator), options_(options) {}

grpc::Status JobServiceImpl::SubmitJob(grpc::ServerContext* context,
                                       const SubmitJobRequest* request,
                                       SubmitJobResponse* response) {
  return AsCaller(*context, [&](const Caller& caller) -> absl::Status {
    absl::StatusOr<std::string> id = coordinator_->jobs().Submit(
        request->spec(), security::CallerUri(caller));
    if (!id.ok()) return id.status();
    response->set_job_id(*id);
    return absl::OkStatus();
  });
}

grpc::Status JobServiceImpl::GetJob(grpc::ServerContext* context,
                                    const GetJobRequest* request,
                                    JobStatus* response) {
  absl::StatusOr<JobStatus> status =
      coordinator_->jobs().Get(request->job_id());
  if (!status.ok()) return ToGrpcStatus(status.status());
  *response = *std::move(status);
  return grpc::Status::OK;
}

grpc::Status JobServiceImpl::ListJobs(grpc::ServerContext* context,
                                      const ListJobsRequest* request,
                                      ListJobsResponse* response) {
  for (JobStatus& job : coordinator_->jobs().List()) {
    *response->add_jobs() = std::move(job);
  }
  return grpc::Status::OK;
}

grpc::Status JobServiceImpl::CancelJob(grpc::ServerContext* context,
                                       const CancelJobRequest* request,
                                       CancelJobResponse* response) {
  return AsCaller(*context, [&](const Caller& caller) -> absl::Status {
    absl::StatusOr<JobState> state =
        coordinator_->CancelJob(request->job_id(), caller);
    if (!state.ok()) return state.status();
    response->set_state(*state);
    return absl::OkStatus();
  });
}

grpc::Status JobServiceImpl::WatchJob(grpc::ServerContext* context,
                                      const WatchJobRequest* request,
                                      grpc::ServerWriter<JobEvent>* writer) {
  size_t next = 0;
  while (true) {
    if (context->IsCancelled()) return ClientGone();
    if (coordinator_->shutting_down()) return ShuttingDown();
    absl::StatusOr<EventBatch> batch = coordinator_->jobs().WaitForEvents(
        request->job_id(), next, absl::Now() + options_.stream_slice);
    if (!batch.ok()) return ToGrpcStatus(batch.status());
    for (const JobEvent& event : batch->events) {
      if (!writer->Write(event)) return ClientGone();
    }
    next = batch->next_index;
    if (batch->done) return grpc::Status::OK;
  }
}

ClusterAdminServiceImpl::ClusterAdminServiceImpl(Coordinator* coordinator)
    : coordinator_(coordinator) {}

grpc::Status ClusterAdminServiceImpl::Checkpoint(
    grpc::ServerContext* context, const ClusterCheckpointRequest* request,
    ClusterCheckpointResponse* response) {
  absl::StatusOr<CheckpointPolicy::Written> written =
      coordinator_->Checkpoint();
  if (!written.ok()) return ToGrpcStatus(written.status());
  response->set_checkpoint_id(written->checkpoint_id);
  for (CheckpointResponse& shard : written->shards) {
    *response->add_shards() = std::move(shard);
  }
  for (std::string& address : written->addresses) {
    response->add_addresses(std::move(address));
  }
  return grpc::Status::OK;
}

NodeServiceImpl::NodeServiceImpl(Coordinator* coordinator,
                                 CoordinatorServiceOptions options)
    : coordinator_(coordinator), options_(options) {}

grpc::Status NodeServiceImpl::RegisterNode(grpc::ServerContext* context,
                                           const RegisterNodeRequest* request,
                                           RegisterNodeResponse* response) {
  return AsCaller(*context, [&](const Caller& caller) -> absl::Status {
    absl::StatusOr<RegisterNodeResponse> registered =
        coordinator_->RegisterNode(
            request->node(), {request->node_id(), request->node_secret()},
            caller);
    if (!registered.ok()) return registered.status();
    *response = *std::move(registered);
    return absl::OkStatus();
  });
}

grpc::Status NodeServiceImpl::Heartbeat(grpc::ServerContext* context,
                                        const HeartbeatRequest* request,
                                        HeartbeatResponse* response) {
  return AsCaller(*context, [&](const Caller& caller) {
    return coordinator_->registry().Heartbeat(request->node_id(),
                                              request->node_secret(), caller);
  });
}

grpc::Status NodeServiceImpl::GetCluster(grpc::ServerContext* context,
                                         const ClusterRequest* request,
                                         ClusterResponse* response) {
  *response = coordinator_->Cluster();
  return grpc::Status::OK;
}

grpc::Status NodeServiceImpl::WatchTasks(
    grpc::ServerContext* context, const WatchTasksRequest* request,
    grpc::ServerWriter<TaskCommand>* writer) {
  const std::string& node_id = request->node_id();
  absl::StatusOr<Caller> caller = security::CallerIdentity(*context);
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  absl::StatusOr<uint64_t> stream = coordinator_->OpenTaskStream(
      node_id, request->node_secret(),
      {request->running_task_ids().begin(), request->running_task_ids().end()},
      *caller);
  if (!stream.ok()) return ToGrpcStatus(stream.status());
  // Some clients wait for the initial metadata before reading.
  writer->SendInitialMetadata();
  while (true) {
    if (context->IsCancelled()) {
      coordinator_->TaskStreamGone(node_id, *stream);
      return ClientGone();
    }
    absl::StatusOr<std::vector<TaskCommand>> commands =
        coordinator_->NextCommands(node_id, *stream,
                                   absl::Now() + options_.stream_slice);
    if (!commands.ok()) return ToGrpcStatus(commands.status());
    for (size_t i = 0; i < commands->size(); ++i) {
      if (!writer->Write((*commands)[i])) {
        // The stream broke: keep the unsent commands for the next stream.
        coordinator_->ReturnCommands(
            node_id,
            std::vector<TaskCommand>(commands->begin() + i, commands->end()));
        coordinator_->TaskStreamGone(node_id, *stream);
        return ClientGone();
      }
    }
  }
}

grpc::Status NodeServiceImpl::ReportTask(grpc::ServerContext* context,
                                         const TaskReport* request,
                                         TaskReportResponse* response) {
  return AsCaller(*context, [&](const Caller& caller) -> absl::Status {
    absl::StatusOr<TaskReportResponse> result =
        coordinator_->ReportTask(*request, caller);
    if (!result.ok()) return result.status();
    *response = *std::move(result);
    return absl::OkStatus();
  });
}

}  // namespace strata
