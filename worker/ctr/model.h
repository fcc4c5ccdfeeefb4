// The CTR model's dense part: an MLP over the concatenated field embeddings,
// ReLU hidden layers, one logit, sigmoid, logistic loss. Forward and
// backward use cblas_sgemm. The embeddings themselves live in a sparse
// table on the shards; this class only sees their concatenation x and
// returns dL/dx for the worker to push.
#ifndef STRATA_WORKER_CTR_MODEL_H_
#define STRATA_WORKER_CTR_MODEL_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"

namespace strata {
namespace ctr {

struct CtrModelConfig {
  int num_fields = 39;
  int dim = 16;  // embedding dimension per field
  // Hidden layer widths. Wider layers fit interactions better but cost
  // O(batch x in x out) flops per layer on the worker.
  std::vector<int> hidden = {64, 32};
};

// Dense parameters, in the order w0, b0, w1, b1, ..., w_L, b_L; w_l is
// [in_l x out_l] row-major, the last layer has out = 1.
using MlpParams = std::vector<std::vector<float>>;

// Not thread-safe: owns per-batch workspaces. Parameters are passed in, so
// one instance serves any parameter version.
class CtrMlp {
 public:
  explicit CtrMlp(CtrModelConfig config);

  const CtrModelConfig& config() const { return config_; }
  int input_dim() const { return config_.num_fields * config_.dim; }
  int num_layers() const { return static_cast<int>(config_.hidden.size()) + 1; }
  // (in, out) of layer l.
  std::pair<int, int> LayerShape(int l) const;
  // Element count of parameter tensor i (w0, b0, w1, ...).
  size_t ParamSize(int i) const;
  // Standard deviation of He initialisation for tensor i (0 for biases).
  float InitStddev(int i) const;
  // He-normal weights, zero biases; deterministic in `seed` (tests).
  MlpParams InitParams(uint64_t seed) const;
  // INVALID_ARGUMENT unless `params` has the right number and sizes.
  absl::Status CheckParams(const MlpParams& params) const;

  // probs[i] = sigmoid(logit of row i of x [batch x input_dim]).
  void Predict(const MlpParams& params, const float* x, int batch,
               float* probs);
  // Mean logistic loss over the batch; fills grads (shaped like params) and
  // dx [batch x input_dim] with the gradients of that mean. probs may be
  // null.
  double ForwardBackward(const MlpParams& params, const float* x,
                         const float* labels, int batch, MlpParams* grads,
                         float* dx, float* probs = nullptr);

 private:
  void Forward(const MlpParams& params, const float* x, int batch);

  // Constant after construction.
  const CtrModelConfig config_;
  // Workspaces: pre-activations z_[l] and activations a_[l] (a_[0] unused:
  // the input is x), resized per batch.
  std::vector<std::vector<float>> z_, a_;
  std::vector<float> dz_, dz_prev_, da_;
};

}  // namespace ctr
}  // namespace strata

#endif  // STRATA_WORKER_CTR_MODEL_H_
