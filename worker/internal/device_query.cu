// CUDA implementation of device_query.h. Also launches one tiny kernel per
// device on request (ProbeDevice) so a worker's --list_devices proves the
// toolchain, the driver and the architecture flags agree.
#include <cuda_runtime.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "worker/internal/device_query.h"

namespace strata {

bool BuiltWithCuda() { return true; }

absl::StatusOr<std::vector<GpuInfo>> ListCudaDevices() {
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err == cudaErrorNoDevice || err == cudaErrorInsufficientDriver) {
    // No device (or no driver): a CPU-only host running the CUDA build.
    cudaGetLastError();
    return std::vector<GpuInfo>{};
  }
  if (err != cudaSuccess) {
    return absl::FailedPreconditionError(
        absl::StrCat("cudaGetDeviceCount: ", cudaGetErrorString(err)));
  }
  std::vector<GpuInfo> out;
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp prop;
    err = cudaGetDeviceProperties(&prop, i);
    if (err != cudaSuccess) {
      return absl::FailedPreconditionError(absl::StrCat(
          "cudaGetDeviceProperties(", i, "): ", cudaGetErrorString(err)));
    }
    GpuInfo info;
    info.index = i;
    info.name = prop.name;
    info.compute_major = prop.major;
    info.compute_minor = prop.minor;
    info.total_memory_bytes = prop.totalGlobalMem;
    info.multiprocessors = prop.multiProcessorCount;
    out.push_back(info);
  }
  return out;
}

}  // namespace strata
