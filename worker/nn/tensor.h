// Tensor: a float32 array with a shape (NCHW for images), stored in memory
// of one Backend.
#ifndef STRATA_WORKER_NN_TENSOR_H_
#define STRATA_WORKER_NN_TENSOR_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "worker/nn/backend.h"

namespace strata {
namespace nn {

using Shape = std::vector<int64_t>;

int64_t NumElements(const Shape& shape);
std::string ShapeToString(const Shape& shape);

// Owns its storage, allocated from (and freed back to) `backend`, which is
// not owned and must outlive the tensor. Move-only. Storage is reused by
// Reshape/EnsureShape when the capacity suffices, so steady-state training
// allocates nothing. Not thread-safe.
class Tensor {
 public:
  Tensor() = default;
  ~Tensor();
  Tensor(Tensor&& other) noexcept;
  Tensor& operator=(Tensor&& other) noexcept;
  Tensor(const Tensor&) = delete;
  Tensor& operator=(const Tensor&) = delete;

  // A zero-filled tensor. INVALID_ARGUMENT for a negative dimension.
  static absl::StatusOr<Tensor> Zeros(Backend* backend, const Shape& shape);
  static absl::StatusOr<Tensor> FromHost(Backend* backend, const Shape& shape,
                                         absl::Span<const float> values);

  // Gives the tensor `shape` on `backend`, reallocating only when the
  // capacity is too small or the backend differs. Contents are unspecified
  // after a reallocation.
  absl::Status EnsureShape(Backend* backend, const Shape& shape);

  const Shape& shape() const { return shape_; }
  int64_t dim(int i) const { return shape_[i]; }
  int64_t size() const { return size_; }
  bool empty() const { return data_ == nullptr; }
  float* data() { return data_; }
  const float* data() const { return data_; }
  Backend* backend() const { return backend_; }

  absl::Status CopyFromHost(absl::Span<const float> values);
  absl::Status CopyToHost(absl::Span<float> out) const;
  absl::StatusOr<std::vector<float>> ToHost() const;
  absl::Status CopyFrom(const Tensor& other);  // same size, same backend

 private:
  void Release();

  Backend* backend_ = nullptr;
  float* data_ = nullptr;
  int64_t size_ = 0;
  int64_t capacity_ = 0;
  Shape shape_;
};

}  // namespace nn
}  // namespace strata

#endif  // STRATA_WORKER_NN_TENSOR_H_
