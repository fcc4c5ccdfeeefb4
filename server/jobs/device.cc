#include "server/jobs/device.h"

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace strata {
namespace jobs {

std::string DeviceName::ToString() const {
  return gpu ? absl::StrCat("gpu:", gpu_index) : std::string("cpu");
}

absl::StatusOr<DeviceName> ParseDeviceName(absl::string_view name) {
  DeviceName device;
  if (name == "cpu") return device;
  if (absl::StartsWith(name, "gpu:")) {
    const absl::string_view digits = name.substr(4);
    bool all_digits = !digits.empty() && digits.size() <= 4;
    for (char c : digits) all_digits = all_digits && absl::ascii_isdigit(c);
    int index = -1;
    if (all_digits && absl::SimpleAtoi(digits, &index) && index >= 0 &&
        index <= kMaxGpuIndex) {
      device.gpu = true;
      device.gpu_index = index;
      return device;
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat("bad device \"", absl::CHexEscape(name),
                   "\": expected \"cpu\" or \"gpu:N\" (0 <= N <= ",
                   kMaxGpuIndex, ")"));
}

}  // namespace jobs
}  // namespace strata
