#include "server/util/env.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace strata {
namespace {

std::string ErrnoMessage(int error_number) {
  char buf[256];
  // GNU strerror_r returns a pointer that may or may not point into buf.
  const char* msg = strerror_r(error_number, buf, sizeof(buf));
  return msg;
}

// Owns one open file descriptor. Not thread-safe (see WritableFile).
class PosixWritableFile final : public WritableFile {
 public:
  PosixWritableFile(std::string path, int fd)
      : path_(std::move(path)), fd_(fd) {}
  ~PosixWritableFile() override {
    if (fd_ >= 0) ::close(fd_);
  }

  absl::Status Append(absl::string_view data) override {
    if (fd_ < 0) return Closed();
    while (!data.empty()) {
      const ssize_t n = ::write(fd_, data.data(), data.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return ErrnoToStatus(errno, absl::StrCat("write to ", path_));
      }
      data.remove_prefix(static_cast<size_t>(n));
    }
    return absl::OkStatus();
  }

  absl::Status Sync() override {
    if (fd_ < 0) return Closed();
    if (::fsync(fd_) != 0) {
      return ErrnoToStatus(errno, absl::StrCat("fsync ", path_));
    }
    return absl::OkStatus();
  }

  absl::Status Close() override {
    if (fd_ < 0) return Closed();
    const int rc = ::close(fd_);
    fd_ = -1;
    if (rc != 0) return ErrnoToStatus(errno, absl::StrCat("close ", path_));
    return absl::OkStatus();
  }

 private:
  absl::Status Closed() const {
    return absl::FailedPreconditionError(
        absl::StrCat("file ", path_, " is already closed"));
  }

  const std::string path_;
  int fd_;
};

class PosixEnv final : public Env {
 public:
  absl::StatusOr<std::unique_ptr<WritableFile>> NewWritableFile(
      const std::string& path) override {
    const int fd =
        ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return ErrnoToStatus(errno, absl::StrCat("open ", path));
    return std::unique_ptr<WritableFile>(new PosixWritableFile(path, fd));
  }

  absl::StatusOr<std::string> ReadFileToString(
      const std::string& path) override;

  absl::Status RenameFile(const std::string& from,
                          const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) {
      return ErrnoToStatus(errno, absl::StrCat("rename ", from, " to ", to));
    }
    return absl::OkStatus();
  }

  absl::Status DeleteFile(const std::string& path) override {
    if (::unlink(path.c_str()) != 0) {
      return ErrnoToStatus(errno, absl::StrCat("delete ", path));
    }
    return absl::OkStatus();
  }

  absl::Status DeleteDir(const std::string& path) override {
    if (::rmdir(path.c_str()) != 0) {
      return ErrnoToStatus(errno, absl::StrCat("rmdir ", path));
    }
    return absl::OkStatus();
  }

  absl::Status CreateDir(const std::string& path) override;

  absl::StatusOr<std::vector<std::string>> GetChildren(
      const std::string& dir) override;

  absl::Status FileExists(const std::string& path) override {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) {
      return ErrnoToStatus(errno, absl::StrCat("stat ", path));
    }
    return absl::OkStatus();
  }

  absl::Status SyncDir(const std::string& dir) override {
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return ErrnoToStatus(errno, absl::StrCat("open dir ", dir));
    absl::Status status;
    if (::fsync(fd) != 0) {
      status = ErrnoToStatus(errno, absl::StrCat("fsync dir ", dir));
    }
    ::close(fd);
    return status;
  }
};

absl::StatusOr<std::string> PosixEnv::ReadFileToString(
    const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoToStatus(errno, absl::StrCat("open ", path));
  // Size the buffer from fstat (+1 so EOF is seen without regrowing), then
  // grow geometrically in case the file is growing: no quadratic copying.
  struct stat st;
  size_t expected = 0;
  if (::fstat(fd, &st) == 0 && st.st_size > 0) {
    expected = static_cast<size_t>(st.st_size);
  }
  std::string contents(expected + 1, '\0');
  constexpr size_t kMinGrowth = 1 << 20;
  size_t used = 0;
  while (true) {
    if (used == contents.size()) {
      contents.resize(contents.size() +
                      std::max(kMinGrowth, contents.size() / 2));
    }
    const ssize_t n = ::read(fd, &contents[used], contents.size() - used);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      return ErrnoToStatus(err, absl::StrCat("read ", path));
    }
    if (n == 0) break;
    used += static_cast<size_t>(n);
  }
  ::close(fd);
  contents.resize(used);
  return contents;
}

absl::Status PosixEnv::CreateDir(const std::string& path) {
  if (path.empty()) {
    return absl::InvalidArgumentError("CreateDir: empty path");
  }
  // Create each prefix ending before a '/', then the full path.
  for (size_t pos = path.find('/', 1);; pos = path.find('/', pos + 1)) {
    const std::string prefix =
        pos == std::string::npos ? path : path.substr(0, pos);
    if (::mkdir(prefix.c_str(), 0755) != 0 && errno != EEXIST) {
      return ErrnoToStatus(errno, absl::StrCat("mkdir ", prefix));
    }
    if (pos == std::string::npos) break;
  }
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    return ErrnoToStatus(errno, absl::StrCat("stat ", path));
  }
  if (!S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat("CreateDir: ", path, " exists and is not a directory"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> PosixEnv::GetChildren(
    const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return ErrnoToStatus(errno, absl::StrCat("opendir ", dir));
  std::vector<std::string> names;
  while (true) {
    errno = 0;
    struct dirent* entry = ::readdir(d);
    if (entry == nullptr) {
      const int err = errno;
      ::closedir(d);
      if (err != 0) return ErrnoToStatus(err, absl::StrCat("readdir ", dir));
      return names;
    }
    const absl::string_view name = entry->d_name;
    if (name != "." && name != "..") names.emplace_back(name);
  }
}

}  // namespace

Env* DefaultEnv() {
  static Env* const env = new PosixEnv();
  return env;
}

absl::Status ErrnoToStatus(int error_number, absl::string_view context) {
  const std::string message = absl::StrCat(
      context, ": ", ErrnoMessage(error_number), " (errno ", error_number, ")");
  switch (error_number) {
    case ENOENT:
      return absl::NotFoundError(message);
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(message);
    case ENOSPC:
    case EDQUOT:
      return absl::ResourceExhaustedError(message);
    case EEXIST:
      return absl::AlreadyExistsError(message);
    default:
      return absl::InternalError(message);
  }
}

std::string JoinPath(absl::string_view a, absl::string_view b) {
  if (a.empty()) return std::string(b);
  if (b.empty()) return std::string(a);
  const bool a_slash = a.back() == '/';
  const bool b_slash = b.front() == '/';
  if (a_slash && b_slash) return absl::StrCat(a, b.substr(1));
  if (a_slash || b_slash) return absl::StrCat(a, b);
  return absl::StrCat(a, "/", b);
}

}  // namespace strata
