// Prefixes a status message with where it happened, keeping the code.
#ifndef STRATA_SERVER_STORAGE_INTERNAL_STATUS_CONTEXT_H_
#define STRATA_SERVER_STORAGE_INTERNAL_STATUS_CONTEXT_H_

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace strata {
namespace internal {

// OK stays OK; otherwise the same code with "<context>: <message>".
inline absl::Status WithContext(const absl::Status& s,
                                absl::string_view context) {
  if (s.ok()) return s;
  return absl::Status(s.code(), absl::StrCat(context, ": ", s.message()));
}

}  // namespace internal
}  // namespace strata

#endif  // STRATA_SERVER_STORAGE_INTERNAL_STATUS_CONTEXT_H_
