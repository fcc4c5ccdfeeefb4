#include "server/util/port_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace strata {

absl::Status WriteFileAtomically(const std::string& path,
                                 absl::string_view contents, int mode) {
  // A temporary name unique to this process in the same directory, then
  // rename(2): readers never see a partial file.
  const std::string tmp = absl::StrCat(path, ".tmp.", getpid());
  const int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                      static_cast<mode_t>(mode));
  if (fd < 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot create ", tmp, ": ", std::strerror(errno)));
  }
  const bool written = write(fd, contents.data(), contents.size()) ==
                       static_cast<ssize_t>(contents.size());
  if (close(fd) != 0 || !written) {
    unlink(tmp.c_str());
    return absl::UnavailableError(absl::StrCat("cannot write ", tmp));
  }
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    unlink(tmp.c_str());
    return absl::UnavailableError(absl::StrCat("cannot rename ", tmp, " to ",
                                               path, ": ", std::strerror(err)));
  }
  return absl::OkStatus();
}

absl::Status WritePortFile(const std::string& path,
                           const std::string& address) {
  return WriteFileAtomically(path, address + "\n", 0644);
}

}  // namespace strata
