#include "tools/internal/ctl_client.h"

#include <utility>

#include "server/client/shard_rpc.h"

namespace strata {
namespace ctl {
namespace {

constexpr absl::string_view kCoordinator = "coordinator";

}  // namespace

CtlClient::CtlClient(CtlClientOptions options) : options_(std::move(options)) {}

std::shared_ptr<grpc::Channel> CtlClient::ChannelTo(
    const std::string& address) {
  absl::MutexLock lock(&mu_);
  auto it = channels_.find(address);
  if (it != channels_.end()) return it->second;
  std::shared_ptr<grpc::Channel> channel = grpc::CreateCustomChannel(
      address, security::ChannelCredentialsOf(options_.credentials),
      DefaultChannelArguments(options_.max_message_bytes));
  channels_.emplace(address, channel);
  return channel;
}

void CtlClient::SetDeadline(grpc::ClientContext* context) const {
  context->set_deadline(absl::ToChronoTime(absl::Now() + options_.rpc_timeout));
}

absl::Status CtlClient::Failure(const grpc::Status& status,
                                absl::string_view method,
                                absl::string_view label,
                                absl::string_view address) const {
  return DescribeRpcFailure(status, method, label, address,
                            options_.rpc_timeout);
}

absl::StatusOr<CtlClient::ServingStatus> CtlClient::CheckHealth(
    absl::string_view label, const std::string& address) {
  auto stub = grpc::health::v1::Health::NewStub(ChannelTo(address));
  grpc::ClientContext context;
  SetDeadline(&context);
  grpc::health::v1::HealthCheckRequest request;
  grpc::health::v1::HealthCheckResponse response;
  const grpc::Status status = stub->Check(&context, request, &response);
  if (!status.ok()) return Failure(status, "Health.Check", label, address);
  return response.status();
}

absl::StatusOr<std::string> CtlClient::SubmitJob(const JobSpec& spec) {
  auto stub = JobService::NewStub(ChannelTo(options_.coordinator));
  grpc::ClientContext context;
  SetDeadline(&context);
  SubmitJobRequest request;
  *request.mutable_spec() = spec;
  SubmitJobResponse response;
  const grpc::Status status = stub->SubmitJob(&context, request, &response);
  if (!status.ok()) {
    return Failure(status, "SubmitJob", kCoordinator, options_.coordinator);
  }
  return response.job_id();
}

absl::StatusOr<JobStatus> CtlClient::GetJob(const std::string& job_id) {
  auto stub = JobService::NewStub(ChannelTo(options_.coordinator));
  grpc::ClientContext context;
  SetDeadline(&context);
  GetJobRequest request;
  request.set_job_id(job_id);
  JobStatus response;
  const grpc::Status status = stub->GetJob(&context, request, &response);
  if (!status.ok()) {
    return Failure(status, "GetJob", kCoordinator, options_.coordinator);
  }
  return response;
}

absl::StatusOr<ListJobsResponse> CtlClient::ListJobs() {
  auto stub = JobService::NewStub(ChannelTo(options_.coordinator));
  grpc::ClientContext context;
  SetDeadline(&context);
  ListJobsResponse response;
  const grpc::Status status =
      stub->ListJobs(&context, ListJobsRequest(), &response);
  if (!status.ok()) {
    return Failure(status, "ListJobs", kCoordinator, options_.coordinator);
  }
  return response;
}

absl::StatusOr<JobState> CtlClient::CancelJob(const std::string& job_id) {
  auto stub = JobService::NewStub(ChannelTo(options_.coordinator));
  grpc::ClientContext context;
  SetDeadline(&context);
  CancelJobRequest request;
  request.set_job_id(job_id);
  CancelJobResponse response;
  const grpc::Status status = stub->CancelJob(&context, request, &response);
  if (!status.ok()) {
    return Failure(status, "CancelJob", kCoordinator, options_.coordinator);
  }
  return response.state();
}

absl::Status CtlClient::WatchJob(
    const std::string& job_id,
    const std::function<void(const JobEvent&)>& on_event) {
  auto stub = JobService::NewStub(ChannelTo(options_.coordinator));
  grpc::ClientContext context;
  if (options_.watch_timeout != absl::InfiniteDuration()) {
    context.set_deadline(
        absl::ToChronoTime(absl::Now() + options_.watch_timeout));
  }
  WatchJobRequest request;
  request.set_job_id(job_id);
  std::unique_ptr<grpc::ClientReader<JobEvent>> reader =
      stub->WatchJob(&context, request);
  JobEvent event;
  while (reader->Read(&event)) on_event(event);
  const grpc::Status status = reader->Finish();
  if (!status.ok()) {
    return Failure(status, "WatchJob", kCoordinator, options_.coordinator);
  }
  return absl::OkStatus();
}

absl::StatusOr<ClusterResponse> CtlClient::GetCluster() {
  auto stub = NodeService::NewStub(ChannelTo(options_.coordinator));
  grpc::ClientContext context;
  SetDeadline(&context);
  ClusterResponse response;
  const grpc::Status status =
      stub->GetCluster(&context, ClusterRequest(), &response);
  if (!status.ok()) {
    return Failure(status, "GetCluster", kCoordinator, options_.coordinator);
  }
  return response;
}

absl::StatusOr<ClusterCheckpointResponse> CtlClient::Checkpoint() {
  auto stub = ClusterAdminService::NewStub(ChannelTo(options_.coordinator));
  grpc::ClientContext context;
  SetDeadline(&context);
  ClusterCheckpointResponse response;
  const grpc::Status status =
      stub->Checkpoint(&context, ClusterCheckpointRequest(), &response);
  if (!status.ok()) {
    return Failure(status, "Checkpoint", kCoordinator, options_.coordinator);
  }
  return response;
}

absl::StatusOr<std::unique_ptr<PsAdminClient>> CtlClient::ConnectShards(
    const std::vector<std::string>& addresses) const {
  PsAdminClientOptions options;
  options.rpc_timeout = options_.rpc_timeout;
  options.max_retries = 0;
  options.max_message_bytes = options_.max_message_bytes;
  options.checkpoint_timeout_factor = 1;
  options.compress_timeout_factor = 60;
  options.credentials = options_.credentials;
  return PsAdminClient::Connect(addresses, options);
}

}  // namespace ctl
}  // namespace strata
