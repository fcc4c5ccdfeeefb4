// Daemons started with --listen=HOST:0 pick a free port; --port_file tells
// scripts which one. The file appears atomically (write to a temporary file,
// then rename), so a reader never sees a partial address.
#ifndef STRATA_SERVER_UTIL_PORT_FILE_H_
#define STRATA_SERVER_UTIL_PORT_FILE_H_

#include <string>

#include "absl/status/status.h"

namespace strata {

absl::Status WritePortFile(const std::string& path, const std::string& address);

}  // namespace strata

#endif  // STRATA_SERVER_UTIL_PORT_FILE_H_
