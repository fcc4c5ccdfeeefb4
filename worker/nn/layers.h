// Layers of the NN engine: Conv2d (im2col + GEMM), MaxPool2d, ReLU, Linear,
// Dropout, Flatten. Each has a forward and a backward pass over Tensors of
// one Backend.
#ifndef STRATA_WORKER_NN_LAYERS_H_
#define STRATA_WORKER_NN_LAYERS_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "worker/nn/backend.h"
#include "worker/nn/tensor.h"

namespace strata {
namespace nn {

enum class InitKind { kHe, kXavier, kZero };

// A trainable tensor and its gradient. Owned by its layer.
struct Parameter {
  std::string name;  // "<layer>/weight" or "<layer>/bias"
  Shape shape;
  InitKind init = InitKind::kZero;
  int64_t fan_in = 0, fan_out = 0;
  Tensor value;
  Tensor grad;  // overwritten (not accumulated) by each Backward
};

// Base class. A layer owns its parameters and its scratch buffers (reused
// across steps; they grow only when the batch grows). Backward(x, y, dy, dx)
// must follow the Forward that produced y from x, since layers keep what
// they need from it (im2col columns, dropout mask). Not thread-safe.
class Layer {
 public:
  explicit Layer(std::string name) : name_(std::move(name)) {}
  virtual ~Layer() = default;

  const std::string& name() const { return name_; }
  virtual std::string Kind() const = 0;
  // Output shape for input `in` (with batch); INVALID_ARGUMENT if the input
  // does not fit the layer.
  virtual absl::StatusOr<Shape> OutputShape(const Shape& in) const = 0;
  // Binds the layer to `backend` and allocates and initialises parameters
  // from `seed`. FAILED_PRECONDITION if already bound to another backend.
  absl::Status Init(Backend* backend, uint64_t seed);
  bool initialized() const { return backend_ != nullptr; }

  // y is resized as needed. `training` switches dropout on.
  virtual absl::Status Forward(const Tensor& x, Tensor* y, bool training) = 0;
  // Writes parameter gradients and, when dx is non-null, dL/dx.
  virtual absl::Status Backward(const Tensor& x, const Tensor& y,
                                const Tensor& dy, Tensor* dx) = 0;

  std::vector<Parameter*> Params();
  int64_t NumParams() const;
  // FLOPs (2 per multiply-add of the GEMMs) for one pass at input shape in.
  virtual int64_t ForwardFlops(const Shape& in) const { return 0; }
  virtual int64_t BackwardFlops(const Shape& in, bool need_dx) const {
    return 0;
  }

 protected:
  Parameter* AddParam(const std::string& suffix, Shape shape, InitKind init,
                      int64_t fan_in, int64_t fan_out);
  absl::Status CheckInit() const;
  virtual absl::Status OnInit(uint64_t seed) { return absl::OkStatus(); }

  Backend* backend_ = nullptr;  // not owned

 private:
  std::string name_;
  std::vector<std::unique_ptr<Parameter>> params_;
};

class Conv2d : public Layer {
 public:
  struct Options {
    int64_t in_channels = 1;
    int64_t out_channels = 1;
    int64_t kernel = 3;
    int64_t stride = 1;
    int64_t pad = 0;
    InitKind init = InitKind::kHe;
  };
  Conv2d(std::string name, const Options& options);
  std::string Kind() const override { return "Conv2d"; }
  absl::StatusOr<Shape> OutputShape(const Shape& in) const override;
  absl::Status Forward(const Tensor& x, Tensor* y, bool training) override;
  absl::Status Backward(const Tensor& x, const Tensor& y, const Tensor& dy,
                        Tensor* dx) override;
  int64_t ForwardFlops(const Shape& in) const override;
  int64_t BackwardFlops(const Shape& in, bool need_dx) const override;
  const Options& options() const { return options_; }

 private:
  ConvGeometry Geometry(const Shape& in) const;

  const Options options_;
  Parameter* weight_;  // [out, in*k*k]
  Parameter* bias_;    // [out]
  Tensor col_;         // im2col of the last input; reused as dcol
  Tensor tmp_;         // [out, N*OH*OW]
};

class MaxPool2d : public Layer {
 public:
  MaxPool2d(std::string name, int64_t kernel, int64_t stride);
  std::string Kind() const override { return "MaxPool2d"; }
  absl::StatusOr<Shape> OutputShape(const Shape& in) const override;
  absl::Status Forward(const Tensor& x, Tensor* y, bool training) override;
  absl::Status Backward(const Tensor& x, const Tensor& y, const Tensor& dy,
                        Tensor* dx) override;

 private:
  ConvGeometry Geometry(const Shape& in) const;
  const int64_t kernel_, stride_;
};

class Relu : public Layer {
 public:
  explicit Relu(std::string name) : Layer(std::move(name)) {}
  std::string Kind() const override { return "ReLU"; }
  absl::StatusOr<Shape> OutputShape(const Shape& in) const override {
    return in;
  }
  absl::Status Forward(const Tensor& x, Tensor* y, bool training) override;
  absl::Status Backward(const Tensor& x, const Tensor& y, const Tensor& dy,
                        Tensor* dx) override;
};

// [N, ...] -> [N, prod(...)].
class Flatten : public Layer {
 public:
  explicit Flatten(std::string name) : Layer(std::move(name)) {}
  std::string Kind() const override { return "Flatten"; }
  absl::StatusOr<Shape> OutputShape(const Shape& in) const override;
  absl::Status Forward(const Tensor& x, Tensor* y, bool training) override;
  absl::Status Backward(const Tensor& x, const Tensor& y, const Tensor& dy,
                        Tensor* dx) override;
};

// y = x W^T + b for x of shape [N, in_features].
class Linear : public Layer {
 public:
  struct Options {
    int64_t in_features = 1;
    int64_t out_features = 1;
    InitKind init = InitKind::kHe;
  };
  Linear(std::string name, const Options& options);
  std::string Kind() const override { return "Linear"; }
  absl::StatusOr<Shape> OutputShape(const Shape& in) const override;
  absl::Status Forward(const Tensor& x, Tensor* y, bool training) override;
  absl::Status Backward(const Tensor& x, const Tensor& y, const Tensor& dy,
                        Tensor* dx) override;
  int64_t ForwardFlops(const Shape& in) const override;
  int64_t BackwardFlops(const Shape& in, bool need_dx) const override;

 private:
  const Options options_;
  Parameter* weight_;  // [out, in]
  Parameter* bias_;    // [out]
};

// Inverted dropout: in training, zeroes each element with probability p and
// scales the rest by 1/(1-p); identity at inference. The mask of the k-th
// training Forward is a pure function of (seed, k), drawn on the host, so
// CPU and GPU runs drop the same elements.
class Dropout : public Layer {
 public:
  Dropout(std::string name, float p);
  std::string Kind() const override { return "Dropout"; }
  absl::StatusOr<Shape> OutputShape(const Shape& in) const override {
    return in;
  }
  absl::Status Forward(const Tensor& x, Tensor* y, bool training) override;
  absl::Status Backward(const Tensor& x, const Tensor& y, const Tensor& dy,
                        Tensor* dx) override;
  // Makes the next training Forward draw mask number k (tests use it to
  // repeat a mask).
  void set_mask_counter(uint64_t k) { counter_ = k; }

 protected:
  absl::Status OnInit(uint64_t seed) override;

 private:
  const float p_;
  uint64_t seed_ = 0;
  uint64_t counter_ = 0;
  bool last_training_ = false;
  std::vector<float> host_mask_;
  Tensor mask_;
};

}  // namespace nn
}  // namespace strata

#endif  // STRATA_WORKER_NN_LAYERS_H_
