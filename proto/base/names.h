// The one rule for the names a client gives things (tables, dense tensors,
// roles): short, and drawn from a small alphabet that is safe in file names,
// metric labels, logs and URLs. Plain C++ (no protobuf, no gRPC), so the job
// specs and the parameter-server shard share it.
#ifndef STRATA_PROTO_BASE_NAMES_H_
#define STRATA_PROTO_BASE_NAMES_H_

#include <cstddef>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace strata {

// Longest name, in bytes.
inline constexpr size_t kMaxNameBytes = 128;

// OK for 1..max_bytes of [A-Za-z0-9_.:/-]; otherwise INVALID_ARGUMENT
//   "<what> is <n> bytes; it must be 1 to <max_bytes>"
//   "<what> '<value, C-escaped>' may hold only letters, digits and _ . : / -"
absl::Status CheckName(absl::string_view what, absl::string_view value,
                       size_t max_bytes = kMaxNameBytes);

// True for the name of a job-scoped tensor, "job-<digits>/<something>":
// what a job's tasks create under its id (FC snapshots, CNN tensors) and
// the coordinator drops when the job ends.
bool IsJobScopedName(absl::string_view name);

}  // namespace strata

#endif  // STRATA_PROTO_BASE_NAMES_H_
