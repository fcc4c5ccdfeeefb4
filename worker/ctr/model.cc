#include "worker/ctr/model.h"

#include <cblas.h>

#include <cmath>
#include <random>

#include "absl/strings/str_cat.h"
#include "glog/logging.h"

namespace strata {
namespace ctr {

CtrMlp::CtrMlp(CtrModelConfig config) : config_(std::move(config)) {
  z_.resize(num_layers());
  a_.resize(num_layers());
}

std::pair<int, int> CtrMlp::LayerShape(int l) const {
  const int in = l == 0 ? input_dim() : config_.hidden[l - 1];
  const int out = l + 1 == num_layers() ? 1 : config_.hidden[l];
  return {in, out};
}

size_t CtrMlp::ParamSize(int i) const {
  const auto [in, out] = LayerShape(i / 2);
  return i % 2 == 0 ? static_cast<size_t>(in) * out : out;
}

float CtrMlp::InitStddev(int i) const {
  if (i % 2 == 1) return 0.0f;
  return std::sqrt(2.0f / LayerShape(i / 2).first);
}

MlpParams CtrMlp::InitParams(uint64_t seed) const {
  std::mt19937_64 rng(seed);
  MlpParams p(2 * num_layers());
  for (int i = 0; i < 2 * num_layers(); ++i) {
    p[i].assign(ParamSize(i), 0.0f);
    std::normal_distribution<float> normal(0.0f, InitStddev(i));
    if (i % 2 == 0) {
      for (float& v : p[i]) v = normal(rng);
    }
  }
  return p;
}

absl::Status CtrMlp::CheckParams(const MlpParams& params) const {
  if (params.size() != static_cast<size_t>(2 * num_layers())) {
    return absl::InvalidArgumentError(absl::StrCat(
        params.size(), " parameter tensors, want ", 2 * num_layers()));
  }
  for (size_t i = 0; i < params.size(); ++i) {
    if (params[i].size() != ParamSize(i)) {
      return absl::InvalidArgumentError(
          absl::StrCat("parameter tensor ", i, " has ", params[i].size(),
                       " elements, want ", ParamSize(i)));
    }
  }
  return absl::OkStatus();
}

void CtrMlp::Forward(const MlpParams& params, const float* x, int batch) {
  const float* in_act = x;
  for (int l = 0; l < num_layers(); ++l) {
    const auto [in, out] = LayerShape(l);
    std::vector<float>& z = z_[l];
    z.resize(static_cast<size_t>(batch) * out);
    const float* bias = params[2 * l + 1].data();
    for (int r = 0; r < batch; ++r) {
      std::copy(bias, bias + out, z.data() + static_cast<size_t>(r) * out);
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, batch, out, in, 1.0f,
                in_act, in, params[2 * l].data(), out, 1.0f, z.data(), out);
    if (l + 1 < num_layers()) {
      std::vector<float>& a = a_[l + 1];
      a.resize(z.size());
      for (size_t i = 0; i < z.size(); ++i) a[i] = z[i] > 0 ? z[i] : 0.0f;
      in_act = a.data();
    }
  }
}

void CtrMlp::Predict(const MlpParams& params, const float* x, int batch,
                     float* probs) {
  Forward(params, x, batch);
  const std::vector<float>& logit = z_.back();
  for (int r = 0; r < batch; ++r)
    probs[r] = 1.0f / (1.0f + std::exp(-logit[r]));
}

double CtrMlp::ForwardBackward(const MlpParams& params, const float* x,
                               const float* labels, int batch, MlpParams* grads,
                               float* dx, float* probs) {
  CHECK_GT(batch, 0);
  Forward(params, x, batch);
  grads->resize(params.size());
  const std::vector<float>& logit = z_.back();
  dz_.resize(batch);
  double loss = 0;
  for (int r = 0; r < batch; ++r) {
    const double z = logit[r], y = labels[r];
    // log(1 + e^z) - y z, computed without overflow.
    loss += std::max(z, 0.0) - y * z + std::log1p(std::exp(-std::fabs(z)));
    const float p = 1.0f / (1.0f + std::exp(-logit[r]));
    if (probs != nullptr) probs[r] = p;
    dz_[r] = (p - labels[r]) / batch;
  }
  for (int l = num_layers() - 1; l >= 0; --l) {
    const auto [in, out] = LayerShape(l);
    const float* in_act = l == 0 ? x : a_[l].data();
    std::vector<float>& dw = (*grads)[2 * l];
    std::vector<float>& db = (*grads)[2 * l + 1];
    dw.resize(static_cast<size_t>(in) * out);
    db.assign(out, 0.0f);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, in, out, batch, 1.0f,
                in_act, in, dz_.data(), out, 0.0f, dw.data(), out);
    for (int r = 0; r < batch; ++r) {
      for (int o = 0; o < out; ++o)
        db[o] += dz_[static_cast<size_t>(r) * out + o];
    }
    float* da = dx;
    if (l > 0) {
      da_.resize(static_cast<size_t>(batch) * in);
      da = da_.data();
    }
    if (da != nullptr) {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, batch, in, out, 1.0f,
                  dz_.data(), out, params[2 * l].data(), out, 0.0f, da, in);
    }
    if (l > 0) {
      // Through the ReLU of layer l - 1.
      const std::vector<float>& zp = z_[l - 1];
      dz_prev_.resize(da_.size());
      for (size_t i = 0; i < da_.size(); ++i) {
        dz_prev_[i] = zp[i] > 0 ? da_[i] : 0.0f;
      }
      dz_.swap(dz_prev_);
    }
  }
  return loss / batch;
}

}  // namespace ctr
}  // namespace strata
