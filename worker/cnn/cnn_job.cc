#include "worker/cnn/cnn_job.h"

#include <algorithm>

#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "proto/base/status_macros.h"
#include "server/jobs/cnn_model_spec.h"

namespace strata {
namespace cnn {

int64_t MicrosSince(absl::Time start) {
  return absl::ToInt64Microseconds(absl::Now() - start);
}

absl::StatusOr<nn::Model> BuildJobModel(const CnnTrainSpec& spec) {
  STRATA_ASSIGN_OR_RETURN(const jobs::CnnModelDef def, jobs::CnnModelOf(spec));
  return nn::BuildModel(def);
}

absl::StatusOr<CnnPlan> CnnPlan::Make(const CnnTrainSpec& spec,
                                      int64_t train_size) {
  // The spec is prepared (server/jobs: defaults applied, checked); these
  // guards only keep an unprepared one from dividing by zero.
  if (spec.num_conv_workers() == 0 || spec.batch_size() == 0 ||
      (spec.mode() == CnnTrainSpec::STANZA) != (spec.num_fc_nodes() > 0) ||
      (spec.steps() == 0 && spec.epochs() == 0)) {
    return absl::InvalidArgumentError(
        "cnn_train spec was not prepared (jobs::PrepareJobSpec)");
  }
  CnnPlan p;
  p.spec = spec;
  p.conv_workers = spec.num_conv_workers();
  p.fc_nodes = spec.num_fc_nodes();
  p.batch = spec.batch_size();
  p.train_size = train_size;
  const int64_t global = p.batch * p.conv_workers;
  p.steps_per_epoch = train_size / global;
  if (p.steps_per_epoch == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cnn_train: ", train_size, " training images hold no global batch of ",
        p.conv_workers, " x ", p.batch));
  }
  p.total_steps =
      spec.steps() != 0 ? spec.steps() : p.steps_per_epoch * spec.epochs();
  return p;
}

float CnnPlan::LearningRate(int64_t step) const {
  const float decay = spec.lr_epoch_decay();
  return spec.learning_rate() *
         static_cast<float>(std::pow(decay, static_cast<double>(Epoch(step))));
}

std::vector<uint32_t> CnnPlan::ConvRanksOf(uint32_t fc_rank) const {
  std::vector<uint32_t> out;
  for (uint32_t r = 0; r < conv_workers; ++r) {
    if (FcOf(r) == fc_rank) out.push_back(r);
  }
  return out;
}

bool CnnPlan::AveragesAfter(int64_t step) const {
  return fc_nodes > 1 && step >= 1 && step <= total_steps &&
         NextAveragingStep(step - 1) == step;
}

int64_t CnnPlan::NextAveragingStep(int64_t step) const {
  if (step < 0 || step >= total_steps) return 0;
  const int64_t every = std::max<uint32_t>(1, spec.fc_average_every());
  return std::min(total_steps, (step / every + 1) * every);
}

namespace {
int64_t EvalEvery(const CnnPlan& p) {
  const uint32_t every = p.spec.data().eval_every_steps();
  return every != 0 ? every : p.steps_per_epoch;
}
}  // namespace

bool CnnPlan::EvaluatesAfter(int64_t step) const {
  return step >= 1 && step < total_steps && step % EvalEvery(*this) == 0;
}

int64_t CnnPlan::Evaluations() const {
  return (total_steps - 1) / EvalEvery(*this) + 1;
}

bool Augments(const CnnTrainSpec& spec) {
  return !spec.data().cifar10_dir().empty();
}

absl::StatusOr<CnnData> LoadCnnData(const CnnTrainSpec& spec,
                                    const std::vector<int64_t>& shape,
                                    const nn::ReadOptions& read) {
  CnnData d;
  const CnnDataSpec& ds = spec.data();
  if (!ds.mnist_dir().empty()) {
    STRATA_ASSIGN_OR_RETURN(d.train,
                            nn::ReadMnistSplit(ds.mnist_dir(), true, read));
    STRATA_ASSIGN_OR_RETURN(d.test,
                            nn::ReadMnistSplit(ds.mnist_dir(), false, read));
  } else if (!ds.cifar10_dir().empty()) {
    STRATA_ASSIGN_OR_RETURN(d.train,
                            nn::ReadCifar10Split(ds.cifar10_dir(), true, read));
    STRATA_ASSIGN_OR_RETURN(
        d.test, nn::ReadCifar10Split(ds.cifar10_dir(), false, read));
  } else {
    const int64_t n_train = ds.synthetic_train() ? ds.synthetic_train() : 4096;
    const int64_t n_test = ds.synthetic_test() ? ds.synthetic_test() : 1024;
    // One draw, split, so both parts share the class templates.
    nn::Dataset all = nn::SeparableImages(n_train + n_test, shape[0], shape[1],
                                          shape[2], 10, ds.seed() ? ds.seed() : 7);
    const int64_t isz = all.ImageSize();
    d.test = all;
    d.test.images.erase(d.test.images.begin(),
                        d.test.images.begin() + n_train * isz);
    d.test.labels.erase(d.test.labels.begin(),
                        d.test.labels.begin() + n_train);
    all.Truncate(n_train);
    d.train = std::move(all);
  }
  if (ds.max_train() > 0) d.train.Truncate(ds.max_train());
  if (ds.max_test() > 0) d.test.Truncate(ds.max_test());
  if (d.train.channels != shape[0] || d.train.height != shape[1] ||
      d.train.width != shape[2]) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cnn_train: images are ", d.train.channels, "x", d.train.height, "x",
        d.train.width, " but ",
        spec.has_model_spec() ? "model_spec" : "model " + spec.model(),
        " wants ", shape[0], "x",
        shape[1], "x", shape[2]));
  }
  STRATA_ASSIGN_OR_RETURN(nn::ChannelStats stats, nn::ComputeChannelStats(d.train));
  STRATA_RETURN_IF_ERROR(nn::Normalize(stats, &d.train));
  STRATA_RETURN_IF_ERROR(nn::Normalize(stats, &d.test));
  return d;
}

absl::Status BatchSource::Get(int64_t step, uint32_t rank,
                              std::vector<float>* images,
                              std::vector<int32_t>* labels) {
  const int64_t epoch = plan_->Epoch(step);
  if (epoch != epoch_) {
    order_ = nn::ShuffledIndices(data_->size(), plan_->spec.seed() + epoch);
    epoch_ = epoch;
  }
  const int64_t within = (step - 1) % plan_->steps_per_epoch;
  const int64_t start =
      within * plan_->batch * plan_->conv_workers + rank * plan_->batch;
  images->resize(plan_->batch * data_->ImageSize());
  labels->resize(plan_->batch);
  STRATA_RETURN_IF_ERROR(nn::GatherBatch(*data_, order_, start, plan_->batch,
                                         absl::MakeSpan(*images),
                                         absl::MakeSpan(*labels)));
  if (Augments(plan_->spec)) {
    // Seeded by (job seed, step) and the image's place in the global
    // batch: the same whatever the mode or the number of conv workers.
    const uint64_t seed =
        plan_->spec.seed() * 0x9e3779b97f4a7c15ull + static_cast<uint64_t>(step);
    nn::RandomCropFlip(data_->channels, data_->height, data_->width,
                       kCifarCropPad, seed, rank * plan_->batch,
                       absl::MakeSpan(*images));
  }
  return absl::OkStatus();
}

DenseSync::DenseSync(PsClient* client, std::vector<nn::Parameter*> params,
                     Options options, Traffic* traffic)
    : client_(client),
      params_(std::move(params)),
      options_(std::move(options)),
      traffic_(traffic) {
  for (nn::Parameter* p : params_) {
    velocity_.emplace_back(p->value.size(), 0.0f);
    host_.emplace_back(p->value.size(), 0.0f);
  }
  steps_.assign(params_.size(), 0);
}

absl::Status DenseSync::Init() {
  for (size_t i = 0; i < params_.size(); ++i) {
    nn::Parameter* p = params_[i];
    DenseConfig c;
    c.set_name(absl::StrCat(options_.prefix, "/", p->name));
    c.set_size(p->value.size());
    for (int64_t d : p->shape) c.add_shape(d);
    c.mutable_optimizer()->set_type(OptimizerConfig::SGD);
    c.mutable_optimizer()->set_learning_rate(1.0f);
    c.set_sync(options_.bsp ? BSP : ASYNC);
    c.set_num_workers(options_.bsp ? options_.num_workers : 0);
    STRATA_RETURN_IF_ERROR(
        client_->admin().CreateDense(c, /*if_not_exists=*/true).status());
  }
  if (options_.resume) {
    for (size_t i = 0; i < params_.size(); ++i) {
      const std::string name =
          absl::StrCat(options_.prefix, "/", params_[i]->name);
      STRATA_ASSIGN_OR_RETURN(steps_[i],
                              client_->PullDense(name, 0, &host_[i]));
    }
    if (options_.bsp) {
      first_step_ =
          std::max<int64_t>(1, *std::min_element(steps_.begin(), steps_.end()));
    }
  }
  for (size_t i = 0; i < params_.size(); ++i) {
    if (!options_.bsp && options_.rank != 0) break;
    if (steps_[i] > 0) continue;  // resuming: already initialised
    STRATA_RETURN_IF_ERROR(params_[i]->value.CopyToHost(absl::MakeSpan(host_[i])));
    for (float& x : host_[i]) x = -x;
    const std::string name = absl::StrCat(options_.prefix, "/", params_[i]->name);
    STRATA_RETURN_IF_ERROR(
        client_->PushDense(name, host_[i], 0, options_.rank).status());
    traffic_->ps_sent += 4 * host_[i].size() + name.size();
  }
  if (options_.bsp || options_.rank == 0) return absl::OkStatus();
  // ASYNC: wait until rank 0's initial values landed (step >= 1).
  const absl::Time deadline = absl::Now() + options_.init_timeout;
  for (size_t i = 0; i < params_.size(); ++i) {
    const std::string name = absl::StrCat(options_.prefix, "/", params_[i]->name);
    while (true) {
      STRATA_ASSIGN_OR_RETURN(int64_t s, client_->PullDense(name, 0, &host_[i]));
      if (s >= 1) break;
      if (absl::Now() > deadline) {
        return absl::DeadlineExceededError(
            absl::StrCat("rank 0 did not initialise ", name, " within ",
                         absl::FormatDuration(options_.init_timeout)));
      }
      absl::SleepFor(absl::Milliseconds(20));
    }
  }
  return absl::OkStatus();
}

absl::Status DenseSync::Pull(int64_t step) {
  for (size_t i = 0; i < params_.size(); ++i) {
    const std::string name = absl::StrCat(options_.prefix, "/", params_[i]->name);
    STRATA_RETURN_IF_ERROR(client_->PullDense(name, step, &host_[i]).status());
    traffic_->ps_recv += 4 * host_[i].size();
    traffic_->ps_sent += name.size();
    STRATA_RETURN_IF_ERROR(params_[i]->value.CopyFromHost(host_[i]));
  }
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> DenseSync::PushOne(size_t i, std::vector<float> g,
                                            int64_t step, float lr) {
  // Resuming: this tensor completed `step` before the restart.
  if (options_.bsp && step < steps_[i]) return 0;
  const float m = options_.momentum, wd = options_.weight_decay;
  std::vector<float>& v = velocity_[i];
  std::vector<float>& w = host_[i];  // the values of the last Pull
  for (size_t k = 0; k < g.size(); ++k) {
    v[k] = m * v[k] + g[k] + wd * w[k];
    g[k] = lr * v[k];
  }
  const std::string name = absl::StrCat(options_.prefix, "/", params_[i]->name);
  STRATA_RETURN_IF_ERROR(client_->PushDense(name, g, step, options_.rank).status());
  return 4 * g.size() + name.size();
}

absl::Status DenseSync::Push(int64_t step, float lr) {
  for (size_t i = 0; i < params_.size(); ++i) {
    std::vector<float> g(params_[i]->grad.size());
    STRATA_RETURN_IF_ERROR(params_[i]->grad.CopyToHost(absl::MakeSpan(g)));
    STRATA_ASSIGN_OR_RETURN(uint64_t sent, PushOne(i, std::move(g), step, lr));
    traffic_->ps_sent += sent;
  }
  return absl::OkStatus();
}

absl::Status DenseSync::PushLayerAsync(nn::Layer& layer, int64_t step,
                                       float lr) {
  for (nn::Parameter* p : layer.Params()) {
    const auto it = std::find(params_.begin(), params_.end(), p);
    if (it == params_.end()) {
      return absl::InternalError(
          absl::StrCat("parameter ", p->name, " is not synchronised"));
    }
    // The device-to-host copy stays on this thread (the backend's stream).
    std::vector<float> g(p->grad.size());
    STRATA_RETURN_IF_ERROR(p->grad.CopyToHost(absl::MakeSpan(g)));
    const size_t i = static_cast<size_t>(it - params_.begin());
    pending_.push_back(std::async(
        std::launch::async, [this, i, g = std::move(g), step, lr]() mutable {
          return PushOne(i, std::move(g), step, lr);
        }));
  }
  return absl::OkStatus();
}

absl::Status DenseSync::WaitPushes() {
  absl::Status first;
  for (auto& f : pending_) {
    absl::StatusOr<uint64_t> sent = f.get();
    if (sent.ok()) {
      traffic_->ps_sent += *sent;
    } else if (first.ok()) {
      first = sent.status();
    }
  }
  pending_.clear();
  return first;
}

}  // namespace cnn
}  // namespace strata
