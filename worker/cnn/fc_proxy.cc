#include "worker/cnn/fc_proxy.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "proto/rpc_util.h"

namespace strata {
namespace cnn {
namespace {

// The child's deadline is the caller's, so a relayed call never outlives
// the call it serves.
void InheritDeadline(const grpc::ServerContext& from,
                     grpc::ClientContext* to) {
  to->set_deadline(from.deadline());
  // The child may still be starting: wait for its socket, not fail.
  to->set_wait_for_ready(true);
}

}  // namespace

absl::Status FcProxy::AddRoute(const std::string& job_id,
                               const std::string& child_address) {
  grpc::ChannelArguments args =
      DefaultChannelArguments(options_.max_message_bytes);
  // A child starts in well under a second; retry its socket quickly.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 50);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 50);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  auto stub = std::shared_ptr<StanzaFc::Stub>(StanzaFc::NewStub(
      grpc::CreateCustomChannel(child_address,
                                grpc::InsecureChannelCredentials(), args)));
  absl::MutexLock lock(&mu_);
  if (!routes_.emplace(job_id, std::move(stub)).second) {
    return absl::AlreadyExistsError(
        absl::StrCat("job '", job_id, "' already has an FC task here"));
  }
  return absl::OkStatus();
}

void FcProxy::RemoveRoute(const std::string& job_id) {
  absl::MutexLock lock(&mu_);
  routes_.erase(job_id);
}

absl::StatusOr<std::shared_ptr<StanzaFc::Stub>> FcProxy::Find(
    const std::string& job_id) {
  absl::MutexLock lock(&mu_);
  auto present = [this, &job_id]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return routes_.count(job_id) > 0;
  };
  if (!mu_.AwaitWithTimeout(absl::Condition(&present), options_.session_wait)) {
    return absl::NotFoundError(absl::StrCat(
        "no FC task of job '", job_id, "' started on this node within ",
        absl::FormatDuration(options_.session_wait)));
  }
  return routes_[job_id];
}

grpc::Status FcProxy::Train(
    grpc::ServerContext* ctx,
    grpc::ServerReaderWriter<GradientBatch, ActivationBatch>* stream) {
  ActivationBatch in;
  if (!stream->Read(&in)) return grpc::Status::OK;  // an empty stream
  absl::StatusOr<std::shared_ptr<StanzaFc::Stub>> stub = Find(in.job_id());
  if (!stub.ok()) return ToGrpcStatus(stub.status());
  grpc::ClientContext child_ctx;
  InheritDeadline(*ctx, &child_ctx);
  std::unique_ptr<grpc::ClientReaderWriter<ActivationBatch, GradientBatch>>
      child = (*stub)->Train(&child_ctx);
  // The FC service answers every batch with exactly one GradientBatch, in
  // order (or ends the stream with a status), so relaying in lockstep
  // keeps one thread per stream and always ends with the child's status.
  GradientBatch out;
  do {
    if (!child->Write(in) || !child->Read(&out)) return child->Finish();
    if (!stream->Write(out)) {
      child_ctx.TryCancel();
      (void)child->Finish();
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "write failed");
    }
  } while (stream->Read(&in));
  if (ctx->IsCancelled()) {
    child_ctx.TryCancel();
    (void)child->Finish();
    return grpc::Status(grpc::StatusCode::CANCELLED, "stream cancelled");
  }
  child->WritesDone();
  return child->Finish();
}

grpc::Status FcProxy::AverageFc(grpc::ServerContext* ctx,
                                const AverageFcRequest* req,
                                AverageFcResponse* resp) {
  absl::StatusOr<std::shared_ptr<StanzaFc::Stub>> stub = Find(req->job_id());
  if (!stub.ok()) return ToGrpcStatus(stub.status());
  grpc::ClientContext child_ctx;
  InheritDeadline(*ctx, &child_ctx);
  return (*stub)->AverageFc(&child_ctx, *req, resp);
}

}  // namespace cnn
}  // namespace strata
