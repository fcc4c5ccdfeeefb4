#include "worker/nn/backend.h"

#include "absl/strings/str_cat.h"
#include "proto/base/status_macros.h"
#include "server/jobs/device.h"

namespace strata {
namespace nn {

std::string DeviceSpec::ToString() const {
  return kind == Kind::kCpu ? std::string("cpu") : absl::StrCat("gpu:", gpu_index);
}

absl::StatusOr<DeviceSpec> ParseDevice(absl::string_view device) {
  // One parser for the coordinator and the workers (server/jobs/device.h).
  STRATA_ASSIGN_OR_RETURN(const jobs::DeviceName name,
                          jobs::ParseDeviceName(device));
  DeviceSpec spec;
  if (name.gpu) {
    spec.kind = DeviceSpec::Kind::kGpu;
    spec.gpu_index = name.gpu_index;
  }
  return spec;
}

}  // namespace nn
}  // namespace strata
