#include "worker/cnn/fc_service.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "glog/logging.h"
#include "grpcpp/grpcpp.h"
#include "proto/rpc_util.h"
#include "proto/base/status_macros.h"

namespace strata {
namespace cnn {
namespace {

absl::Status UnpackLabels(const std::string& bytes, int64_t n, int32_t* out) {
  if (bytes.size() != static_cast<size_t>(n) * 4) {
    return absl::InvalidArgumentError(
        absl::StrCat("labels have ", bytes.size(), " bytes for ", n, " rows"));
  }
  std::memcpy(out, bytes.data(), bytes.size());
  return absl::OkStatus();
}

// Arg-max of each row of logits [rows, k] equals the label.
std::vector<uint8_t> RowCorrect(const std::vector<float>& logits, int64_t k,
                                const std::vector<int32_t>& labels) {
  std::vector<uint8_t> ok(labels.size());
  for (size_t i = 0; i < labels.size(); ++i) {
    const float* row = logits.data() + i * k;
    ok[i] = (std::max_element(row, row + k) - row) == labels[i];
  }
  return ok;
}

}  // namespace

FcSession::FcSession(const CnnPlan& plan, std::unique_ptr<nn::Backend> backend,
                     std::shared_ptr<nn::Sequential> fc, Options options)
    : plan_(plan),
      options_(std::move(options)),
      ranks_(plan.ConvRanksOf(options_.fc_rank)),
      backend_(std::move(backend)),
      fc_(std::move(fc)),
      sgd_(fc_->Params(), nn::Sgd::Options{plan.spec.learning_rate(),
                                           plan.spec.momentum(),
                                           plan.spec.weight_decay()}) {
  if (options_.fc_rank > 0 && !options_.fc_addresses.empty()) {
    hub_ = StanzaFc::NewStub(grpc::CreateCustomChannel(
        options_.fc_addresses[0], grpc::InsecureChannelCredentials(),
        DefaultChannelArguments(kDefaultMaxMessageBytes)));
  }
}

int64_t FcSession::steps_done() const {
  absl::MutexLock lock(&mu_);
  return step_ - 1;
}

double FcSession::last_loss() const {
  absl::MutexLock lock(&mu_);
  return last_loss_;
}

absl::StatusOr<GradientBatch> FcSession::TrainStep(const ActivationBatch& in) {
  absl::MutexLock lock(&mu_);
  if (!failed_.ok()) return failed_;
  const uint32_t rank = in.conv_rank();
  if (!std::binary_search(ranks_.begin(), ranks_.end(), rank)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "conv rank ", rank, " is not served by FC node ", options_.fc_rank));
  }
  if (in.step() != step_ || inputs_.count(rank)) {
    return absl::FailedPreconditionError(
        absl::StrCat("conv worker ", rank, " sent step ", in.step(),
                     " while FC node ", options_.fc_rank, " is at step ", step_));
  }
  traffic_.conv_recv += in.ByteSizeLong();
  inputs_[rank] = in;
  const int64_t my_step = step_;
  if (inputs_.size() == ranks_.size()) {
    if (absl::Status s = RunStepLocked(); !s.ok()) {
      failed_ = s;
      return s;
    }
  } else {
    auto ready = [this, rank, my_step]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      auto it = results_.find(rank);
      return !failed_.ok() ||
             (it != results_.end() && it->second.step() == my_step);
    };
    const absl::Time start = absl::Now();
    if (!mu_.AwaitWithDeadline(absl::Condition(&ready),
                               start + options_.step_timeout)) {
      std::vector<uint32_t> missing;
      for (uint32_t r : ranks_) {
        if (!inputs_.count(r)) missing.push_back(r);
      }
      failed_ = absl::DeadlineExceededError(absl::StrCat(
          "FC node ", options_.fc_rank, " waited ",
          absl::FormatDuration(options_.step_timeout), " for step ", my_step,
          " of conv workers [", absl::StrJoin(missing, ","), "]"));
    }
    traffic_.comm_us += MicrosSince(start);
    if (!failed_.ok()) return failed_;
  }
  GradientBatch out = std::move(results_[rank]);
  results_.erase(rank);
  return out;
}

absl::Status FcSession::RunStepLocked() {
  const absl::Time start = absl::Now();
  const ActivationBatch& first = inputs_.begin()->second;
  const int64_t features = first.features();
  int64_t rows = 0;
  for (const auto& [r, in] : inputs_) {
    if (in.features() != features) {
      return absl::InvalidArgumentError(
          absl::StrCat("conv worker ", r, " sent ", in.features(),
                       " features per row; expected ", features));
    }
    rows += in.batch();
  }
  host_.resize(rows * features);
  labels_.resize(rows);
  int64_t offset = 0;
  for (const auto& [r, in] : inputs_) {
    STRATA_RETURN_IF_ERROR(UnpackFloats(
        in.activations(), in.format(),
        absl::MakeSpan(host_.data() + offset * features, in.batch() * features)));
    STRATA_RETURN_IF_ERROR(UnpackLabels(in.labels(), in.batch(), &labels_[offset]));
    offset += in.batch();
  }
  STRATA_RETURN_IF_ERROR(input_.EnsureShape(backend_.get(), {rows, features}));
  STRATA_RETURN_IF_ERROR(input_.CopyFromHost(host_));
  STRATA_ASSIGN_OR_RETURN(const nn::Tensor* logits, fc_->Forward(input_, true));
  STRATA_ASSIGN_OR_RETURN(std::vector<float> host_logits, logits->ToHost());
  const std::vector<uint8_t> correct =
      RowCorrect(host_logits, logits->dim(1), labels_);
  STRATA_ASSIGN_OR_RETURN(float loss, loss_.Compute(*logits, labels_));
  STRATA_RETURN_IF_ERROR(fc_->Backward(loss_.grad(), &dinput_));
  sgd_.set_learning_rate(plan_.LearningRate(step_));
  STRATA_RETURN_IF_ERROR(sgd_.Step());
  STRATA_RETURN_IF_ERROR(dinput_.CopyToHost(absl::MakeSpan(host_)));
  // Gradient of each worker's own mean loss: the merged mean divides by
  // rows = k x batch, the worker's by batch.
  const float scale = static_cast<float>(inputs_.size());
  if (scale != 1.0f) {
    for (float& g : host_) g *= scale;
  }
  offset = 0;
  for (const auto& [r, in] : inputs_) {
    GradientBatch& out = results_[r];
    out.set_step(step_);
    out.set_format(in.format());
    PackFloats(absl::MakeConstSpan(host_.data() + offset * features,
                                   in.batch() * features),
               in.format(), out.mutable_gradients());
    out.set_loss(loss);
    uint32_t c = 0;
    for (int64_t i = 0; i < in.batch(); ++i) c += correct[offset + i];
    out.set_correct(c);
    out.set_merged_rows(rows);
    traffic_.conv_sent += out.ByteSizeLong();
    offset += in.batch();
  }
  inputs_.clear();
  last_loss_ = loss;
  traffic_.compute_us += MicrosSince(start);
  const uint32_t every = std::max<uint32_t>(1, plan_.spec.fc_average_every());
  if (plan_.fc_nodes > 1 &&
      (step_ % every == 0 || step_ == plan_.total_steps)) {
    STRATA_RETURN_IF_ERROR(AverageLocked());
  }
  ++step_;
  return absl::OkStatus();
}

absl::StatusOr<std::vector<float>> FcSession::Weights() const {
  std::vector<float> all;
  for (nn::Parameter* p : fc_->Params()) {
    STRATA_ASSIGN_OR_RETURN(std::vector<float> v, p->value.ToHost());
    all.insert(all.end(), v.begin(), v.end());
  }
  return all;
}

absl::Status FcSession::SetWeightsLocked(const std::vector<float>& w) {
  size_t offset = 0;
  for (nn::Parameter* p : fc_->Params()) {
    if (offset + p->value.size() > w.size()) {
      return absl::InvalidArgumentError("averaged FC weights are too short");
    }
    STRATA_RETURN_IF_ERROR(p->value.CopyFromHost(
        absl::MakeConstSpan(w.data() + offset, p->value.size())));
    offset += p->value.size();
  }
  return absl::OkStatus();
}

absl::Status FcSession::AverageLocked() {
  const absl::Time start = absl::Now();
  STRATA_ASSIGN_OR_RETURN(std::vector<float> w, Weights());
  std::vector<float> mean;
  if (options_.fc_rank == 0) {
    STRATA_ASSIGN_OR_RETURN(mean, Average(0, step_, std::move(w)));
  } else {
    if (hub_ == nullptr) {
      return absl::FailedPreconditionError("FC node 0's address is unknown");
    }
    AverageFcRequest req;
    req.set_job_id(options_.job_id);
    req.set_fc_rank(options_.fc_rank);
    req.set_round(step_);
    PackFloats(w, FLOAT32, req.mutable_weights());
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(start + options_.step_timeout));
    AverageFcResponse resp;
    traffic_.fc_sent += req.ByteSizeLong();
    if (grpc::Status s = hub_->AverageFc(&ctx, req, &resp); !s.ok()) {
      const absl::Status st = FromGrpcStatus(s);
      return absl::Status(st.code(), absl::StrCat("averaging FC weights at step ",
                                                  step_, " with FC node 0 (",
                                                  options_.fc_addresses[0],
                                                  "): ", st.message()));
    }
    traffic_.fc_recv += resp.ByteSizeLong();
    mean.resize(w.size());
    STRATA_RETURN_IF_ERROR(UnpackFloats(resp.weights(), FLOAT32, absl::MakeSpan(mean)));
  }
  STRATA_RETURN_IF_ERROR(SetWeightsLocked(mean));
  traffic_.comm_us += MicrosSince(start);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<float>> FcSession::Average(
    uint32_t fc_rank, int64_t round, std::vector<float> weights) {
  absl::MutexLock lock(&avg_mu_);
  auto& in = avg_in_[round];
  if (in.count(fc_rank) || fc_rank >= plan_.fc_nodes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "FC node ", fc_rank, " sent round ", round, " twice or is unknown"));
  }
  in[fc_rank] = std::move(weights);
  if (in.size() == plan_.fc_nodes) {
    std::vector<float> mean(in.begin()->second.size(), 0.0f);
    for (const auto& [f, w] : in) {  // fc-rank order: deterministic
      if (w.size() != mean.size()) {
        return absl::InvalidArgumentError("FC nodes disagree on the FC size");
      }
      for (size_t i = 0; i < w.size(); ++i) mean[i] += w[i];
    }
    for (float& x : mean) x /= static_cast<float>(plan_.fc_nodes);
    avg_out_[round] = std::move(mean);
    avg_readers_[round] = plan_.fc_nodes;
    avg_in_.erase(round);
  }
  auto ready = [this, round]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(avg_mu_) {
    return avg_out_.count(round) > 0;
  };
  if (!avg_mu_.AwaitWithTimeout(absl::Condition(&ready),
                                options_.step_timeout)) {
    return absl::DeadlineExceededError(absl::StrCat(
        "FC averaging round ", round, ": not every FC node arrived within ",
        absl::FormatDuration(options_.step_timeout)));
  }
  std::vector<float> out = avg_out_[round];
  if (--avg_readers_[round] == 0) {
    avg_out_.erase(round);
    avg_readers_.erase(round);
  }
  return out;
}

absl::StatusOr<GradientBatch> FcSession::Eval(const ActivationBatch& in) {
  absl::MutexLock lock(&mu_);
  if (!failed_.ok()) return failed_;
  traffic_.conv_recv += in.ByteSizeLong();
  const int64_t rows = in.batch(), features = in.features();
  host_.resize(rows * features);
  labels_.resize(rows);
  STRATA_RETURN_IF_ERROR(UnpackFloats(in.activations(), in.format(),
                                  absl::MakeSpan(host_)));
  STRATA_RETURN_IF_ERROR(UnpackLabels(in.labels(), rows, labels_.data()));
  STRATA_RETURN_IF_ERROR(input_.EnsureShape(backend_.get(), {rows, features}));
  STRATA_RETURN_IF_ERROR(input_.CopyFromHost(host_));
  STRATA_ASSIGN_OR_RETURN(const nn::Tensor* logits, fc_->Forward(input_, false));
  STRATA_ASSIGN_OR_RETURN(std::vector<float> host_logits, logits->ToHost());
  const std::vector<uint8_t> ok =
      RowCorrect(host_logits, logits->dim(1), labels_);
  STRATA_ASSIGN_OR_RETURN(float loss, loss_.Compute(*logits, labels_));
  GradientBatch out;
  out.set_loss(loss);
  out.set_correct(std::count(ok.begin(), ok.end(), 1));
  out.set_merged_rows(rows);
  traffic_.conv_sent += out.ByteSizeLong();
  return out;
}

void FcSession::StreamEnded(uint32_t conv_rank, const absl::Status& status) {
  absl::MutexLock lock(&mu_);
  if (!status.ok() && failed_.ok()) {
    failed_ = absl::UnavailableError(absl::StrCat(
        "stream of conv worker ", conv_rank, " ended at FC step ", step_, ": ",
        status.message()));
  }
  ended_[conv_rank] = true;
}

void FcSession::Fail(const absl::Status& status) {
  absl::MutexLock lock(&mu_);
  if (failed_.ok()) failed_ = status;
}

absl::Status FcSession::WaitDone(absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  auto done = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return !failed_.ok() || ended_.size() == ranks_.size();
  };
  mu_.AwaitWithDeadline(absl::Condition(&done), deadline);
  if (!failed_.ok()) return failed_;
  if (ended_.size() == ranks_.size()) return absl::OkStatus();
  return absl::DeadlineExceededError("conv workers still streaming");
}

// ---------------------------------------------------------------- host

absl::Status FcServiceHost::Register(const std::string& job_id,
                                     std::shared_ptr<FcSession> session) {
  absl::MutexLock lock(&mu_);
  if (!sessions_.emplace(job_id, std::move(session)).second) {
    return absl::AlreadyExistsError(
        absl::StrCat("job ", job_id, " already has an FC session here"));
  }
  return absl::OkStatus();
}

void FcServiceHost::Unregister(const std::string& job_id) {
  absl::MutexLock lock(&mu_);
  sessions_.erase(job_id);
}

absl::StatusOr<std::shared_ptr<FcSession>> FcServiceHost::Find(
    const std::string& job_id) {
  absl::MutexLock lock(&mu_);
  auto present = [this, &job_id]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return sessions_.count(job_id) > 0;
  };
  if (!mu_.AwaitWithTimeout(absl::Condition(&present), options_.session_wait)) {
    return absl::NotFoundError(absl::StrCat(
        "no FC task of job '", job_id, "' started on this node within ",
        absl::FormatDuration(options_.session_wait)));
  }
  return sessions_[job_id];
}

grpc::Status FcServiceHost::Train(
    grpc::ServerContext* ctx,
    grpc::ServerReaderWriter<GradientBatch, ActivationBatch>* stream) {
  ActivationBatch in;
  if (!stream->Read(&in)) return grpc::Status::OK;
  absl::StatusOr<std::shared_ptr<FcSession>> session = Find(in.job_id());
  if (!session.ok()) return ToGrpcStatus(session.status());
  const uint32_t rank = in.conv_rank();
  do {
    absl::StatusOr<GradientBatch> out =
        in.eval() ? (*session)->Eval(in) : (*session)->TrainStep(in);
    if (!out.ok()) {
      (*session)->StreamEnded(rank, out.status());
      return ToGrpcStatus(out.status());
    }
    if (!stream->Write(*out)) {
      (*session)->StreamEnded(
          rank, absl::UnavailableError("could not write to the conv worker"));
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "write failed");
    }
  } while (stream->Read(&in));
  if (ctx->IsCancelled()) {
    (*session)->StreamEnded(
        rank, absl::UnavailableError("the conv worker went away"));
    return grpc::Status(grpc::StatusCode::CANCELLED, "stream cancelled");
  }
  (*session)->StreamEnded(rank, absl::OkStatus());
  return grpc::Status::OK;
}

grpc::Status FcServiceHost::AverageFc(grpc::ServerContext* ctx,
                                      const AverageFcRequest* req,
                                      AverageFcResponse* resp) {
  absl::StatusOr<std::shared_ptr<FcSession>> session = Find(req->job_id());
  if (!session.ok()) return ToGrpcStatus(session.status());
  std::vector<float> w(req->weights().size() / 4);
  if (absl::Status s = UnpackFloats(req->weights(), FLOAT32, absl::MakeSpan(w));
      !s.ok()) {
    return ToGrpcStatus(s);
  }
  (*session)->traffic().fc_recv += req->ByteSizeLong();
  absl::StatusOr<std::vector<float>> mean =
      (*session)->Average(req->fc_rank(), req->round(), std::move(w));
  if (!mean.ok()) return ToGrpcStatus(mean.status());
  PackFloats(*mean, FLOAT32, resp->mutable_weights());
  (*session)->traffic().fc_sent += resp->ByteSizeLong();
  return grpc::Status::OK;
}

absl::StatusOr<FcServer> StartFcServer(const std::string& listen,
                                       int max_message_bytes) {
  FcServer out;
  out.host = std::make_unique<FcServiceHost>();
  // `stratactl health` checks grpc.health.v1 on every node's address.
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), &port);
  builder.SetMaxReceiveMessageSize(max_message_bytes);
  builder.SetMaxSendMessageSize(max_message_bytes);
  builder.RegisterService(out.host.get());
  out.server = builder.BuildAndStart();
  if (out.server == nullptr || port == 0) {
    return absl::UnavailableError(absl::StrCat("could not listen on ", listen));
  }
  const size_t colon = listen.rfind(':');
  std::string host = listen.substr(0, colon);
  if (host.empty() || host == "0.0.0.0" || host == "[::]") host = "127.0.0.1";
  out.address = absl::StrCat(host, ":", port);
  return out;
}

}  // namespace cnn
}  // namespace strata
