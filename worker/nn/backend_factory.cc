#include "worker/nn/backend_factory.h"

#include "proto/base/status_macros.h"
#include "worker/nn/cpu_backend.h"
#include "worker/nn/cuda/cuda_backend.h"

namespace strata {
namespace nn {

absl::StatusOr<std::unique_ptr<Backend>> CreateBackend(
    absl::string_view device) {
  STRATA_ASSIGN_OR_RETURN(DeviceSpec spec, ParseDevice(device));
  if (spec.kind == DeviceSpec::Kind::kCpu) {
    return std::unique_ptr<Backend>(new CpuBackend());
  }
  return CreateCudaContext(spec.gpu_index);
}

}  // namespace nn
}  // namespace strata
