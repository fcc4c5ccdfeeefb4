// CPU-only build of device_query.h.
#include "worker/internal/device_query.h"

#include "absl/status/status.h"

namespace strata {

bool BuiltWithCuda() { return false; }

absl::StatusOr<std::vector<GpuInfo>> ListCudaDevices() {
  return absl::FailedPreconditionError(
      "this binary was built without CUDA; rebuild with "
      "`bazel build --config=cuda` on a machine with /usr/local/cuda");
}

}  // namespace strata
