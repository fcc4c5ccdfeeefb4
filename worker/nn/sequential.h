// Sequential: a chain of layers, the model type of the NN engine, which can
// be split at a named layer into a conv part and an FC part.
#ifndef STRATA_WORKER_NN_SEQUENTIAL_H_
#define STRATA_WORKER_NN_SEQUENTIAL_H_

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "worker/nn/layers.h"
#include "worker/nn/tensor.h"

namespace strata {
namespace nn {

// Layers are shared (std::shared_ptr): the two halves of SplitAt use the
// very same layer objects, hence the same parameters, as the whole. Each
// Sequential owns its own activation and gradient buffers (reused across
// steps). Not thread-safe, and a model and its parts must not run
// concurrently since they share layer scratch buffers.
class Sequential {
 public:
  Sequential() = default;
  Sequential(Sequential&&) = default;
  Sequential& operator=(Sequential&&) = default;

  // Appends a layer. INVALID_ARGUMENT if its name is empty or taken.
  absl::Status Add(std::shared_ptr<Layer> layer);

  // Binds every layer to `backend`; layer parameters are initialised from
  // MixSeed(seed, parameter name), so a part initialised alone equals the
  // same part of the initialised whole.
  absl::Status Init(Backend* backend, uint64_t seed);

  // Shape of the output for input `in` (with batch dimension).
  absl::StatusOr<Shape> OutputShape(const Shape& in) const;

  // Runs all layers. The result stays valid until the next Forward. `x` must
  // stay alive and unchanged until Backward.
  absl::StatusOr<const Tensor*> Forward(const Tensor& x, bool training);
  // Back-propagates dL/doutput of the last Forward; writes every parameter's
  // gradient and, when dx is non-null, dL/dx.
  absl::Status Backward(const Tensor& dy, Tensor* dx);
  // As above, calling `after_layer(layer)` as soon as each layer's backward
  // pass is done (last layer first): its parameters' gradients are final
  // then, so a caller can start sending them while the earlier layers are
  // still being differentiated. An error from the callback stops the pass.
  absl::Status Backward(const Tensor& dy, Tensor* dx,
                        const std::function<absl::Status(Layer&)>& after_layer);

  // Splits after the layer named `boundary`: first = layers up to and
  // including it, second = the rest. NOT_FOUND for an unknown name.
  absl::StatusOr<std::pair<Sequential, Sequential>> SplitAt(
      absl::string_view boundary) const;

  std::vector<Parameter*> Params() const;
  int64_t NumParams() const;
  int64_t ForwardFlops(const Shape& in) const;
  // Backward FLOPs; need_dx says whether the first layer's dL/dx is wanted.
  int64_t BackwardFlops(const Shape& in, bool need_dx) const;
  const std::vector<std::shared_ptr<Layer>>& layers() const { return layers_; }

 private:
  std::vector<std::shared_ptr<Layer>> layers_;
  const Tensor* input_ = nullptr;  // not owned; set by Forward
  std::vector<Tensor> acts_;       // acts_[i] = output of layer i
  Tensor grad_a_, grad_b_;         // ping-pong dL/d(activation) buffers
};

}  // namespace nn
}  // namespace strata

#endif  // STRATA_WORKER_NN_SEQUENTIAL_H_
