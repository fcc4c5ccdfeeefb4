#include "worker/nn/backend.h"

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace strata {
namespace nn {

std::string DeviceSpec::ToString() const {
  return kind == Kind::kCpu ? std::string("cpu") : absl::StrCat("gpu:", gpu_index);
}

absl::StatusOr<DeviceSpec> ParseDevice(absl::string_view device) {
  DeviceSpec spec;
  if (device == "cpu") return spec;
  if (absl::StartsWith(device, "gpu:")) {
    int index = -1;
    absl::string_view digits = device.substr(4);
    if (!digits.empty() && digits[0] != '+' && digits[0] != '-' &&
        absl::SimpleAtoi(digits, &index) && index >= 0) {
      spec.kind = DeviceSpec::Kind::kGpu;
      spec.gpu_index = index;
      return spec;
    }
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "bad device \"", device, "\": expected \"cpu\" or \"gpu:N\" (N >= 0)"));
}

}  // namespace nn
}  // namespace strata
