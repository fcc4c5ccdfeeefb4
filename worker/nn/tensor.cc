#include "worker/nn/tensor.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "proto/base/status_macros.h"

namespace strata {
namespace nn {

int64_t NumElements(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string ShapeToString(const Shape& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ","), "]");
}

Tensor::~Tensor() { Release(); }

Tensor::Tensor(Tensor&& o) noexcept { *this = std::move(o); }

Tensor& Tensor::operator=(Tensor&& o) noexcept {
  if (this != &o) {
    Release();
    backend_ = std::exchange(o.backend_, nullptr);
    data_ = std::exchange(o.data_, nullptr);
    size_ = std::exchange(o.size_, 0);
    capacity_ = std::exchange(o.capacity_, 0);
    shape_ = std::move(o.shape_);
    o.shape_.clear();
  }
  return *this;
}

void Tensor::Release() {
  if (data_ != nullptr) backend_->Free(data_);
  data_ = nullptr;
  size_ = capacity_ = 0;
}

absl::Status Tensor::EnsureShape(Backend* backend, const Shape& shape) {
  for (int64_t d : shape) {
    if (d < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("negative dimension in shape ", ShapeToString(shape)));
    }
  }
  const int64_t n = NumElements(shape);
  if (backend != backend_ || n > capacity_ || data_ == nullptr) {
    Release();
    STRATA_ASSIGN_OR_RETURN(data_, backend->Allocate(n));
    backend_ = backend;
    capacity_ = n;
  }
  size_ = n;
  shape_ = shape;
  return absl::OkStatus();
}

absl::StatusOr<Tensor> Tensor::Zeros(Backend* backend, const Shape& shape) {
  Tensor t;
  STRATA_RETURN_IF_ERROR(t.EnsureShape(backend, shape));
  STRATA_RETURN_IF_ERROR(backend->Fill(t.data_, t.size_, 0.0f));
  return t;
}

absl::StatusOr<Tensor> Tensor::FromHost(Backend* backend, const Shape& shape,
                                        absl::Span<const float> values) {
  Tensor t;
  STRATA_RETURN_IF_ERROR(t.EnsureShape(backend, shape));
  STRATA_RETURN_IF_ERROR(t.CopyFromHost(values));
  return t;
}

absl::Status Tensor::CopyFromHost(absl::Span<const float> values) {
  if (static_cast<int64_t>(values.size()) != size_) {
    return absl::InvalidArgumentError(
        absl::StrCat("CopyFromHost: ", values.size(), " values for tensor ",
                     ShapeToString(shape_)));
  }
  if (size_ == 0) return absl::OkStatus();
  return backend_->CopyFromHost(values.data(), size_, data_);
}

absl::Status Tensor::CopyToHost(absl::Span<float> out) const {
  if (static_cast<int64_t>(out.size()) != size_) {
    return absl::InvalidArgumentError(
        absl::StrCat("CopyToHost: buffer of ", out.size(),
                     " for tensor ", ShapeToString(shape_)));
  }
  if (size_ == 0) return absl::OkStatus();
  return backend_->CopyToHost(data_, size_, out.data());
}

absl::StatusOr<std::vector<float>> Tensor::ToHost() const {
  std::vector<float> out(size_);
  STRATA_RETURN_IF_ERROR(CopyToHost(absl::MakeSpan(out)));
  return out;
}

absl::Status Tensor::CopyFrom(const Tensor& other) {
  if (other.size_ != size_ || other.backend_ != backend_) {
    return absl::InvalidArgumentError(absl::StrCat(
        "CopyFrom: ", ShapeToString(other.shape_), " into ",
        ShapeToString(shape_), " (sizes or backends differ)"));
  }
  if (size_ == 0) return absl::OkStatus();
  return backend_->Copy(other.data_, size_, data_);
}

}  // namespace nn
}  // namespace strata
