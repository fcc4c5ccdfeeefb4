// Reading job specifications (`stratactl submit SPEC_FILE`). A spec is a
// strata.JobSpec in protobuf text format (.textproto, .pbtxt, any extension
// but .json) or in protobuf JSON (.json). Errors name the file and, where
// the input pins it down, the 1-based line and column.
#ifndef STRATA_TOOLS_INTERNAL_SPEC_IO_H_
#define STRATA_TOOLS_INTERNAL_SPEC_IO_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "proto/job.pb.h"

namespace strata {
namespace ctl {

enum class SpecFormat { kText, kJson };

// kJson for names ending in ".json" (any case), kText otherwise.
SpecFormat SpecFormatForPath(absl::string_view path);

// Parses `content`; `source_name` prefixes every error message. Unknown
// fields are errors in both formats. Errors (all INVALID_ARGUMENT):
//   "<source>:<line>:<col>: <parser message>" for syntax and field errors
//   (JSON errors without a position in the input omit line and column),
//   "<source>: the spec sets no job ..." when no job kind is chosen.
absl::StatusOr<JobSpec> ParseJobSpec(absl::string_view content,
                                     SpecFormat format,
                                     absl::string_view source_name);

// Reads and parses the file at `path` in the format its name implies.
// NOT_FOUND if it does not exist, PERMISSION_DENIED if unreadable,
// INVALID_ARGUMENT if it is a directory, larger than 16 MiB or malformed.
absl::StatusOr<JobSpec> LoadJobSpec(const std::string& path);

}  // namespace ctl
}  // namespace strata

#endif  // STRATA_TOOLS_INTERNAL_SPEC_IO_H_
