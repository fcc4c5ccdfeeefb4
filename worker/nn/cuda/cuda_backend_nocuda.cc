// CPU-only build of cuda_backend.h: every entry point explains the fix.
#include "worker/nn/cuda/cuda_backend.h"

namespace strata {
namespace nn {
namespace {

absl::Status NoCuda() {
  return absl::FailedPreconditionError(
      "this binary was built without CUDA; rebuild with "
      "`bazel build --config=cuda` to use device \"gpu:N\"");
}

}  // namespace

bool CudaBackendBuilt() { return false; }

absl::StatusOr<int> CudaDeviceCount() { return NoCuda(); }

absl::StatusOr<std::unique_ptr<Backend>> CreateCudaContext(int index) {
  return NoCuda();
}

}  // namespace nn
}  // namespace strata
