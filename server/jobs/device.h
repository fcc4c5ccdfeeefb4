// Device names of job specs and of the NN engine: "cpu" or "gpu:N". The one
// parser both the coordinator (admission) and the workers (the NN engine's
// backend factory) use, so a spec accepted by one is accepted by the other.
// Plain C++, no protobuf.
#ifndef STRATA_SERVER_JOBS_DEVICE_H_
#define STRATA_SERVER_JOBS_DEVICE_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace strata {
namespace jobs {

// Highest GPU index a device name may carry.
inline constexpr int kMaxGpuIndex = 1023;

// A parsed device name. A plain value type.
struct DeviceName {
  bool gpu = false;
  int gpu_index = 0;  // meaningful when gpu
  std::string ToString() const;
};

// "cpu" or "gpu:N" with N a decimal in [0, kMaxGpuIndex] (no sign, no
// spaces). INVALID_ARGUMENT otherwise.
absl::StatusOr<DeviceName> ParseDeviceName(absl::string_view name);

}  // namespace jobs
}  // namespace strata

#endif  // STRATA_SERVER_JOBS_DEVICE_H_
