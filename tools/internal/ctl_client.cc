#include "tools/internal/ctl_client.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace strata {
namespace ctl {
namespace {

constexpr absl::string_view kCoordinator = "coordinator";

}  // namespace

bool LooksUnreachable(const grpc::Status& status) {
  if (status.error_code() != grpc::StatusCode::UNAVAILABLE) return false;
  static const char* const kTransportHints[] = {
      "failed to connect",
      "Connection refused",
      "connect failed",
      "DNS resolution failed",
      "Socket closed",
      "Broken pipe",
      "Connection reset",
      "keepalive",
      "No route to host",
      "empty address list",
      "connections to all backends failing"};
  const std::string message = absl::AsciiStrToLower(status.error_message());
  for (const char* hint : kTransportHints) {
    if (absl::StrContains(message, absl::AsciiStrToLower(hint))) return true;
  }
  return false;
}

CtlClient::CtlClient(CtlClientOptions options) : options_(std::move(options)) {}

std::shared_ptr<grpc::Channel> CtlClient::ChannelTo(
    const std::string& address) {
  absl::MutexLock lock(&mu_);
  auto it = channels_.find(address);
  if (it != channels_.end()) return it->second;
  std::shared_ptr<grpc::Channel> channel = grpc::CreateCustomChannel(
      address, grpc::InsecureChannelCredentials(),
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
  const absl::StatusCode code =
      static_cast<absl::StatusCode>(status.error_code());
  if (LooksUnreachable(status)) {
    return absl::Status(code,
                        absl::StrCat(label, " ", address,
                                     " unreachable: ", status.error_message()));
  }
  if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    return absl::Status(
        code,
        absl::StrCat(method, " on ", label, " ", address, ": no reply within ",
                     absl::FormatDuration(options_.rpc_timeout), " (",
                     status.error_message(), ")"));
  }
  return absl::Status(code, absl::StrCat(method, " on ", label, " ", address,
                                         ": ", status.error_message()));
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

absl::StatusOr<ListTablesResponse> CtlClient::ListTables(
    absl::string_view label, const std::string& address) {
  auto stub = AdminService::NewStub(ChannelTo(address));
  grpc::ClientContext context;
  SetDeadline(&context);
  ListTablesResponse response;
  const grpc::Status status =
      stub->ListTables(&context, ListTablesRequest(), &response);
  if (!status.ok()) return Failure(status, "ListTables", label, address);
  return response;
}

absl::StatusOr<CheckpointResponse> CtlClient::Checkpoint(
    absl::string_view label, const std::string& address,
    uint64_t checkpoint_id) {
  auto stub = AdminService::NewStub(ChannelTo(address));
  grpc::ClientContext context;
  SetDeadline(&context);
  CheckpointRequest request;
  request.set_checkpoint_id(checkpoint_id);
  CheckpointResponse response;
  const grpc::Status status = stub->Checkpoint(&context, request, &response);
  if (!status.ok()) return Failure(status, "Checkpoint", label, address);
  return response;
}

absl::StatusOr<StatsResponse> CtlClient::GetStats(absl::string_view label,
                                                 const std::string& address,
                                                 const std::string& table) {
  auto stub = CompressionService::NewStub(ChannelTo(address));
  grpc::ClientContext context;
  SetDeadline(&context);
  StatsRequest request;
  request.set_table(table);
  StatsResponse response;
  const grpc::Status status = stub->GetStats(&context, request, &response);
  if (!status.ok()) return Failure(status, "GetStats", label, address);
  return response;
}

absl::StatusOr<CompressResponse> CtlClient::Compress(
    absl::string_view label, const std::string& address,
    const CompressRequest& request) {
  auto stub = CompressionService::NewStub(ChannelTo(address));
  grpc::ClientContext context;
  context.set_deadline(
      absl::ToChronoTime(absl::Now() + options_.rpc_timeout * 60));
  CompressResponse response;
  const grpc::Status status = stub->Compress(&context, request, &response);
  if (!status.ok()) return Failure(status, "Compress", label, address);
  return response;
}

absl::StatusOr<LoadResponse> CtlClient::Load(absl::string_view label,
                                             const std::string& address,
                                             uint64_t checkpoint_id) {
  auto stub = AdminService::NewStub(ChannelTo(address));
  grpc::ClientContext context;
  SetDeadline(&context);
  LoadRequest request;
  request.set_checkpoint_id(checkpoint_id);
  LoadResponse response;
  const grpc::Status status = stub->Load(&context, request, &response);
  if (!status.ok()) return Failure(status, "Load", label, address);
  return response;
}

}  // namespace ctl
}  // namespace strata
