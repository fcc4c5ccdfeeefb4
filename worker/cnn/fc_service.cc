#include "worker/cnn/fc_service.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "glog/logging.h"
#include "grpcpp/grpcpp.h"
#include "proto/base/status_macros.h"
#include "proto/rpc_util.h"
#include "server/util/server_threads.h"
#include "worker/nn/model_zoo.h"

namespace strata {
namespace cnn {
namespace {

// `s` with `prefix` before its message; OK stays OK.
absl::Status Prefixed(const absl::Status& s, absl::string_view prefix) {
  if (s.ok()) return s;
  return absl::Status(s.code(), absl::StrCat(prefix, s.message()));
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

absl::Status RoundDropped(int64_t round, absl::Duration timeout) {
  return absl::DeadlineExceededError(
      absl::StrCat("FC averaging round ", round,
                   " was dropped: not every FC node arrived within ",
                   absl::FormatDuration(timeout)));
}

int64_t Product(const nn::Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

}  // namespace

absl::StatusOr<std::shared_ptr<FcSession>> FcSession::Create(
    const CnnPlan& plan, std::unique_ptr<nn::Backend> backend,
    Options options) {
  STRATA_ASSIGN_OR_RETURN(nn::Model model, BuildJobModel(plan.spec));
  STRATA_ASSIGN_OR_RETURN(const nn::ModelSummary summary, nn::Summarize(model));
  STRATA_ASSIGN_OR_RETURN(auto parts, model.Split());
  auto fc = std::make_shared<nn::Sequential>(std::move(parts.second));
  STRATA_RETURN_IF_ERROR(fc->Init(backend.get(), plan.spec.seed()));
  return std::shared_ptr<FcSession>(
      new FcSession(plan, std::move(backend), std::move(fc),
                    Product(summary.conv.output_shape),
                    Product(summary.fc.output_shape), std::move(options)));
}

FcSession::FcSession(const CnnPlan& plan, std::unique_ptr<nn::Backend> backend,
                     std::shared_ptr<nn::Sequential> fc, int64_t features,
                     int64_t classes, Options options)
    : plan_(plan),
      options_(std::move(options)),
      ranks_(plan.ConvRanksOf(options_.fc_rank)),
      features_(features),
      classes_(classes),
      backend_(std::move(backend)),
      fc_(std::move(fc)),
      fc_params_(fc_->NumParams()),
      step_(options_.start_step),
      sgd_(fc_->Params(),
           nn::Sgd::Options{plan.spec.learning_rate(), plan.spec.momentum(),
                            plan.spec.weight_decay()}) {
  if (options_.fc_rank > 0 && !options_.fc_addresses.empty()) {
    hub_ = StanzaFc::NewStub(grpc::CreateCustomChannel(
        options_.fc_addresses[0],
        security::ChannelCredentialsOf(options_.credentials),
        DefaultChannelArguments(kDefaultMaxMessageBytes)));
  }
  avg_done_ = options_.start_step - 1;  // rounds before the start are done
}

int64_t FcSession::steps_done() const {
  absl::MutexLock lock(&mu_);
  return step_ - 1;
}

double FcSession::last_loss() const {
  absl::MutexLock lock(&mu_);
  return last_loss_;
}

bool FcSession::Authorized(absl::string_view secret) const {
  const std::string& want = options_.job_secret;
  if (want.empty() || secret.size() != want.size()) return false;
  unsigned char diff = 0;  // no early exit: the time does not depend on it
  for (size_t i = 0; i < want.size(); ++i) {
    diff |= static_cast<unsigned char>(want[i] ^ secret[i]);
  }
  return diff == 0;
}

absl::Status FcSession::Claim(absl::string_view secret, uint32_t conv_rank) {
  if (!Authorized(secret)) {
    return absl::PermissionDeniedError(
        absl::StrCat("a stream for conv rank ", conv_rank, " of job ",
                     options_.job_id, " has a wrong or missing job secret"));
  }
  if (!std::binary_search(ranks_.begin(), ranks_.end(), conv_rank)) {
    return absl::InvalidArgumentError(absl::StrCat("conv rank ", conv_rank,
                                                   " is not served by FC node ",
                                                   options_.fc_rank));
  }
  absl::MutexLock lock(&mu_);
  if (!held_.insert(conv_rank).second) {
    return absl::AlreadyExistsError(
        absl::StrCat("conv rank ", conv_rank,
                     " already has a stream to FC node ", options_.fc_rank));
  }
  return absl::OkStatus();
}

void FcSession::Release(uint32_t conv_rank, StreamEnd end,
                        const absl::Status& why) {
  absl::MutexLock lock(&mu_);
  if (held_.erase(conv_rank) == 0) return;
  if (end == StreamEnd::kClean) ended_.insert(conv_rank);
  if (end == StreamEnd::kBroken && failed_.ok()) {
    failed_ = absl::UnavailableError(
        absl::StrCat("stream of conv worker ", conv_rank, " ended at FC step ",
                     step_, ": ", why.message()));
  }
}

absl::StatusOr<FcSession::Input> FcSession::Decode(
    uint32_t rank, const ActivationBatch& in) const {
  const std::string who = absl::StrCat("conv worker ", rank);
  if (!WireFormat_IsValid(in.format())) {
    return absl::InvalidArgumentError(absl::StrCat(
        who, " sent unknown wire format ", static_cast<int>(in.format())));
  }
  if (in.features() != features_) {
    return absl::InvalidArgumentError(
        absl::StrCat(who, " sent ", in.features(),
                     " features per row; the FC part takes ", features_));
  }
  if (!in.eval() && (in.step() < 1 || in.step() > plan_.total_steps)) {
    return absl::OutOfRangeError(absl::StrCat(who, " sent step ", in.step(),
                                              "; the job's steps are 1..",
                                              plan_.total_steps));
  }
  if (!in.eval() && in.batch() != plan_.batch) {
    return absl::InvalidArgumentError(
        absl::StrCat(who, " sent ", in.batch(), " rows at step ", in.step(),
                     "; the job's batch is ", plan_.batch));
  }
  const int64_t max_eval = plan_.spec.eval_batch();
  if (in.eval() && (in.batch() < 1 || in.batch() > max_eval)) {
    return absl::InvalidArgumentError(
        absl::StrCat(who, " sent an evaluation batch of ", in.batch(),
                     " rows; expected 1..", max_eval));
  }
  Input out;
  out.step = in.eval() ? 0 : in.step();
  out.format = in.format();
  out.rows = in.batch();
  out.wire_bytes = in.ByteSizeLong();
  out.x.resize(out.rows * features_);
  STRATA_RETURN_IF_ERROR(Prefixed(
      UnpackFloats(in.activations(), in.format(), absl::MakeSpan(out.x)),
      absl::StrCat(who, "'s activations: ")));
  STRATA_RETURN_IF_ERROR(CheckFinite(out.x, absl::StrCat(who, "'s batch")));
  if (in.labels().size() != static_cast<size_t>(out.rows) * sizeof(int32_t)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "labels have ", in.labels().size(), " bytes for ", out.rows, " rows"));
  }
  out.labels.resize(out.rows);
  std::memcpy(out.labels.data(), in.labels().data(), in.labels().size());
  for (int64_t i = 0; i < out.rows; ++i) {
    if (out.labels[i] < 0 || out.labels[i] >= classes_) {
      return absl::OutOfRangeError(
          absl::StrCat(who, " sent label ", out.labels[i], " at row ", i,
                       "; the model has ", classes_, " classes"));
    }
  }
  return out;
}

absl::StatusOr<GradientBatch> FcSession::Handle(uint32_t conv_rank,
                                                const ActivationBatch& in) {
  {
    absl::MutexLock lock(&mu_);
    if (!held_.count(conv_rank)) {
      return absl::FailedPreconditionError(
          absl::StrCat("conv rank ", conv_rank, " is not held by this stream"));
    }
  }
  STRATA_ASSIGN_OR_RETURN(Input input, Decode(conv_rank, in));
  if (in.eval()) return Eval(input);
  return TrainStep(conv_rank, std::move(input));
}

absl::StatusOr<GradientBatch> FcSession::TrainStep(uint32_t rank, Input in) {
  absl::MutexLock lock(&mu_);
  if (!failed_.ok()) return failed_;
  if (in.step != step_ || inputs_.count(rank)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "conv worker ", rank, " sent step ", in.step, " while FC node ",
        options_.fc_rank, " is at step ", step_));
  }
  traffic_.conv_recv += in.wire_bytes;
  inputs_[rank] = std::move(in);
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
  int64_t rows = 0;
  for (const auto& [r, in] : inputs_) rows += in.rows;
  host_.resize(rows * features_);
  labels_.resize(rows);
  int64_t offset = 0;
  for (const auto& [r, in] : inputs_) {
    std::copy(in.x.begin(), in.x.end(), host_.begin() + offset * features_);
    std::copy(in.labels.begin(), in.labels.end(), labels_.begin() + offset);
    offset += in.rows;
  }
  STRATA_RETURN_IF_ERROR(input_.EnsureShape(backend_.get(), {rows, features_}));
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
    out.set_format(in.format);
    PackFloats(absl::MakeConstSpan(host_.data() + offset * features_,
                                   in.rows * features_),
               in.format, out.mutable_gradients());
    out.set_loss(loss);
    uint32_t c = 0;
    for (int64_t i = 0; i < in.rows; ++i) c += correct[offset + i];
    out.set_correct(c);
    out.set_merged_rows(rows);
    traffic_.conv_sent += out.ByteSizeLong();
    offset += in.rows;
  }
  inputs_.clear();
  last_loss_ = loss;
  traffic_.compute_us += MicrosSince(start);
  if (plan_.AveragesAfter(step_)) STRATA_RETURN_IF_ERROR(AverageLocked());
  const int64_t every = options_.checkpoint_every;
  if (options_.checkpoint && every > 0 && step_ % every == 0 &&
      step_ < plan_.total_steps) {
    STRATA_RETURN_IF_ERROR(CheckpointLocked());
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

absl::Status FcSession::Restore(const std::vector<float>& weights,
                                const std::vector<float>& velocity) {
  if (static_cast<int64_t>(weights.size()) != fc_params_ ||
      velocity.size() != weights.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "an FC snapshot of ", weights.size(), " weights and ", velocity.size(),
        " momentum values for an FC part of ", fc_params_));
  }
  absl::MutexLock lock(&mu_);
  STRATA_RETURN_IF_ERROR(SetWeightsLocked(weights));
  return sgd_.SetVelocity(velocity);
}

absl::Status FcSession::CheckpointLocked() {
  const absl::Time start = absl::Now();
  STRATA_ASSIGN_OR_RETURN(std::vector<float> w, Weights());
  STRATA_ASSIGN_OR_RETURN(std::vector<float> v, sgd_.Velocity());
  STRATA_RETURN_IF_ERROR(
      Prefixed(options_.checkpoint(step_, w, v),
               absl::StrCat("FC node ", options_.fc_rank, " snapshot at step ",
                            step_, ": ")));
  traffic_.checkpoint_us += MicrosSince(start);
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
    req.set_job_secret(options_.job_secret);
    PackFloats(w, FLOAT32, req.mutable_weights());
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(start + options_.step_timeout));
    AverageFcResponse resp;
    traffic_.fc_sent += req.ByteSizeLong();
    if (grpc::Status s = hub_->AverageFc(&ctx, req, &resp); !s.ok()) {
      return Prefixed(
          FromGrpcStatus(s),
          absl::StrCat("averaging FC weights at step ", step_,
                       " with FC node 0 (", options_.fc_addresses[0], "): "));
    }
    traffic_.fc_recv += resp.ByteSizeLong();
    mean.resize(w.size());
    STRATA_RETURN_IF_ERROR(
        UnpackFloats(resp.weights(), FLOAT32, absl::MakeSpan(mean)));
  }
  STRATA_RETURN_IF_ERROR(SetWeightsLocked(mean));
  traffic_.comm_us += MicrosSince(start);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<float>> FcSession::ServeAverage(
    const AverageFcRequest& req) {
  if (!Authorized(req.job_secret())) {
    return absl::PermissionDeniedError(
        absl::StrCat("an AverageFc call for job ", options_.job_id,
                     " has a wrong or missing job secret"));
  }
  if (options_.fc_rank != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("FC node ", options_.fc_rank, " of job ", options_.job_id,
                     " does not average; FC node 0 does"));
  }
  if (req.fc_rank() == 0) {
    return absl::InvalidArgumentError(
        "FC rank 0 averages in-process; AverageFc callers are FC ranks >= 1");
  }
  traffic_.fc_recv += req.ByteSizeLong();
  std::vector<float> w(fc_params_);
  STRATA_RETURN_IF_ERROR(
      Prefixed(UnpackFloats(req.weights(), FLOAT32, absl::MakeSpan(w)),
               absl::StrCat("the weights of FC node ", req.fc_rank(), ": ")));
  return Average(req.fc_rank(), req.round(), std::move(w));
}

absl::Status FcSession::AdmitAverageLocked(uint32_t fc_rank, int64_t round) {
  if (round != 0 && round == avg_dropped_) {
    return RoundDropped(round, options_.step_timeout);
  }
  const int64_t next = plan_.NextAveragingStep(avg_done_);
  if (round != next || next == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("FC node ", fc_rank, " sent averaging round ", round,
                     "; FC node 0 expects ",
                     next == 0 ? "none (every round is done)"
                               : absl::StrCat("round ", next)));
  }
  if (avg_open_ != round) {
    avg_open_ = round;
    avg_deadline_ = absl::Now() + options_.step_timeout;
    avg_in_.clear();
  }
  if (avg_in_.count(fc_rank)) {
    return absl::AlreadyExistsError(absl::StrCat(
        "FC node ", fc_rank, " already sent averaging round ", round));
  }
  return absl::OkStatus();
}

void FcSession::CloseRoundLocked(int64_t round) {
  std::vector<float> mean(fc_params_, 0.0f);
  for (const auto& [f, w] : avg_in_) {  // fc-rank order: deterministic
    for (size_t i = 0; i < w.size(); ++i) mean[i] += w[i];
  }
  for (float& x : mean) x /= static_cast<float>(plan_.fc_nodes);
  // Every reader of an earlier round read it before sending this one.
  avg_out_.erase(avg_out_.begin(), avg_out_.lower_bound(round));
  avg_readers_.erase(avg_readers_.begin(), avg_readers_.lower_bound(round));
  avg_out_[round] = std::move(mean);
  avg_readers_[round] = plan_.fc_nodes;
  avg_done_ = round;
  avg_open_ = 0;
  avg_in_.clear();
}

absl::StatusOr<std::vector<float>> FcSession::Average(
    uint32_t fc_rank, int64_t round, std::vector<float> weights) {
  if (fc_rank >= plan_.fc_nodes) {
    return absl::InvalidArgumentError(
        absl::StrCat("FC rank ", fc_rank, " is not one of the job's ",
                     plan_.fc_nodes, " FC nodes"));
  }
  if (static_cast<int64_t>(weights.size()) != fc_params_) {
    return absl::InvalidArgumentError(
        absl::StrCat("FC node ", fc_rank, " sent ", weights.size(),
                     " weights; the FC part has ", fc_params_));
  }
  STRATA_RETURN_IF_ERROR(
      CheckFinite(weights, absl::StrCat("the weights of FC node ", fc_rank)));
  absl::MutexLock lock(&avg_mu_);
  STRATA_RETURN_IF_ERROR(AdmitAverageLocked(fc_rank, round));
  avg_in_[fc_rank] = std::move(weights);
  if (avg_in_.size() == plan_.fc_nodes) CloseRoundLocked(round);
  auto ready = [this, round]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(avg_mu_) {
    return avg_out_.count(round) > 0 || avg_open_ != round;
  };
  if (!avg_mu_.AwaitWithDeadline(absl::Condition(&ready), avg_deadline_)) {
    // The first waiter to time out drops the round; the others wake.
    avg_open_ = 0;
    avg_in_.clear();
    avg_done_ = avg_dropped_ = round;
  }
  auto it = avg_out_.find(round);
  if (it == avg_out_.end()) return RoundDropped(round, options_.step_timeout);
  std::vector<float> out = it->second;
  if (--avg_readers_[round] == 0) {
    avg_out_.erase(round);
    avg_readers_.erase(round);
  }
  return out;
}

absl::StatusOr<GradientBatch> FcSession::Eval(const Input& in) {
  absl::MutexLock lock(&mu_);
  if (!failed_.ok()) return failed_;
  traffic_.conv_recv += in.wire_bytes;
  STRATA_RETURN_IF_ERROR(
      input_.EnsureShape(backend_.get(), {in.rows, features_}));
  STRATA_RETURN_IF_ERROR(input_.CopyFromHost(in.x));
  STRATA_ASSIGN_OR_RETURN(const nn::Tensor* logits, fc_->Forward(input_, false));
  STRATA_ASSIGN_OR_RETURN(std::vector<float> host_logits, logits->ToHost());
  const std::vector<uint8_t> ok =
      RowCorrect(host_logits, logits->dim(1), in.labels);
  STRATA_ASSIGN_OR_RETURN(float loss, loss_.Compute(*logits, in.labels));
  GradientBatch out;
  out.set_loss(loss);
  out.set_correct(std::count(ok.begin(), ok.end(), 1));
  out.set_merged_rows(in.rows);
  traffic_.conv_sent += out.ByteSizeLong();
  return out;
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

// ---------------------------------------------------------------- stream

FcStream::~FcStream() {
  End(absl::CancelledError("the stream handler ended without a status"));
}

absl::Status FcStream::Open(const ActivationBatch& first) {
  STRATA_ASSIGN_OR_RETURN(std::shared_ptr<FcSession> session,
                          find_(first.job_id()));
  STRATA_RETURN_IF_ERROR(session->Claim(first.job_secret(), first.conv_rank()));
  job_id_ = first.job_id();
  session_ = std::move(session);
  rank_ = first.conv_rank();
  holds_ = true;
  return absl::OkStatus();
}

absl::Status FcStream::CheckSender(const ActivationBatch& in) const {
  if (!in.job_id().empty() && in.job_id() != job_id_) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a stream of job ", job_id_, " sent a batch of job ", in.job_id()));
  }
  if (in.conv_rank() != 0 && in.conv_rank() != rank_) {
    return absl::InvalidArgumentError(
        absl::StrCat("the stream of conv rank ", rank_,
                     " sent a batch of conv rank ", in.conv_rank()));
  }
  if (!in.job_secret().empty() && !session_->Authorized(in.job_secret())) {
    return absl::PermissionDeniedError(absl::StrCat(
        "the stream of conv rank ", rank_, " sent a wrong job secret"));
  }
  return absl::OkStatus();
}

absl::Status FcStream::Refuse(absl::Status status) {
  if (holds_) session_->Release(rank_, StreamEnd::kRejected, status);
  holds_ = false;
  return status;
}

absl::StatusOr<GradientBatch> FcStream::Handle(const ActivationBatch& in) {
  if (session_ == nullptr) {
    STRATA_RETURN_IF_ERROR(Open(in));
  } else if (!holds_) {
    return absl::FailedPreconditionError("the stream has ended");
  } else if (absl::Status s = CheckSender(in); !s.ok()) {
    return Refuse(s);
  }
  absl::StatusOr<GradientBatch> out = session_->Handle(rank_, in);
  if (!out.ok()) return Refuse(out.status());
  return out;
}

void FcStream::End(const absl::Status& status) {
  if (!holds_) return;
  session_->Release(rank_, status.ok() ? StreamEnd::kClean : StreamEnd::kBroken,
                    status);
  holds_ = false;
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
  FcStream fc([this](const std::string& job_id) { return Find(job_id); });
  ActivationBatch in;
  while (stream->Read(&in)) {
    absl::StatusOr<GradientBatch> out = fc.Handle(in);
    if (!out.ok()) return ToGrpcStatus(out.status());
    if (!stream->Write(*out)) {
      fc.End(absl::UnavailableError("could not write to the conv worker"));
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "write failed");
    }
  }
  if (ctx->IsCancelled()) {
    fc.End(absl::UnavailableError("the conv worker went away"));
    return grpc::Status(grpc::StatusCode::CANCELLED, "stream cancelled");
  }
  fc.End(absl::OkStatus());
  return grpc::Status::OK;
}

grpc::Status FcServiceHost::AverageFc(grpc::ServerContext* ctx,
                                      const AverageFcRequest* req,
                                      AverageFcResponse* resp) {
  absl::StatusOr<std::shared_ptr<FcSession>> session = Find(req->job_id());
  if (!session.ok()) return ToGrpcStatus(session.status());
  absl::StatusOr<std::vector<float>> mean = (*session)->ServeAverage(*req);
  if (!mean.ok()) return ToGrpcStatus(mean.status());
  PackFloats(*mean, FLOAT32, resp->mutable_weights());
  (*session)->traffic().fc_sent += resp->ByteSizeLong();
  return grpc::Status::OK;
}

absl::StatusOr<StanzaServer> ServeStanzaFc(
    const std::string& listen, int max_message_bytes,
    StanzaFc::Service* service,
    std::shared_ptr<const security::Credentials> credentials) {
  // `stratactl health` checks grpc.health.v1 on every node's address.
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  int port = 0;
  STRATA_RETURN_IF_ERROR(
      security::ConfigureServerWith(credentials, listen, &builder, &port));
  builder.SetMaxReceiveMessageSize(max_message_bytes);
  builder.SetMaxSendMessageSize(max_message_bytes);
  // The FC node is a task's child process: the defaults, no flags.
  ApplyServerThreadOptions(ServerThreadOptions(), &builder);
  builder.RegisterService(service);
  StanzaServer out;
  out.server = builder.BuildAndStart();
  const bool unix_socket = absl::StartsWith(listen, "unix:");
  if (out.server == nullptr || (port == 0 && !unix_socket)) {
    return absl::UnavailableError(absl::StrCat("could not listen on ", listen));
  }
  if (unix_socket) {
    out.address = listen;
    return out;
  }
  const size_t colon = listen.rfind(':');
  std::string host = listen.substr(0, colon);
  if (host.empty() || host == "0.0.0.0" || host == "[::]") host = "127.0.0.1";
  out.address = absl::StrCat(host, ":", port);
  return out;
}

absl::StatusOr<FcServer> StartFcServer(const std::string& listen,
                                       int max_message_bytes) {
  FcServer out;
  out.host = std::make_unique<FcServiceHost>();
  STRATA_ASSIGN_OR_RETURN(
      StanzaServer served,
      ServeStanzaFc(listen, max_message_bytes, out.host.get()));
  out.server = std::move(served.server);
  out.address = std::move(served.address);
  return out;
}

}  // namespace cnn
}  // namespace strata
