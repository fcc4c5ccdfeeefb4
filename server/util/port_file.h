// Daemons started with --listen=HOST:0 pick a free port; --port_file tells
// scripts which one. The file appears atomically (write to a temporary file,
// then rename), so a reader never sees a partial address.
#ifndef STRATA_SERVER_UTIL_PORT_FILE_H_
#define STRATA_SERVER_UTIL_PORT_FILE_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace strata {

absl::Status WritePortFile(const std::string& path, const std::string& address);

// Replaces `path` with `contents` the same way (a temporary file created
// with permission bits `mode`, then rename; no fsync): the one writer of
// small state files (port files, a node's identity file). UNAVAILABLE
// naming the file when it cannot be written.
absl::Status WriteFileAtomically(const std::string& path,
                                 absl::string_view contents, int mode);

}  // namespace strata

#endif  // STRATA_SERVER_UTIL_PORT_FILE_H_
