#include "proto/base/names.h"

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace strata {

absl::Status CheckName(absl::string_view what, absl::string_view value,
                       size_t max_bytes) {
  if (value.empty() || value.size() > max_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, " is ", value.size(), " bytes; it must be 1 to ", max_bytes));
  }
  for (char c : value) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    (c >= '0' && c <= '9') || c == '_' || c == '.' ||
                    c == ':' || c == '/' || c == '-';
    if (!ok) {
      return absl::InvalidArgumentError(absl::StrCat(
          what, " '", absl::CHexEscape(value),
          "' may hold only letters, digits and _ . : / -"));
    }
  }
  return absl::OkStatus();
}

bool IsJobScopedName(absl::string_view name) {
  if (!absl::ConsumePrefix(&name, "job-")) return false;
  size_t digits = 0;
  while (digits < name.size() && absl::ascii_isdigit(name[digits])) ++digits;
  return digits > 0 && digits + 1 < name.size() && name[digits] == '/';
}

}  // namespace strata
