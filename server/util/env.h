// Filesystem seam. Library code that touches files (checkpoints) takes an
// Env* so tests can inject faults (FaultInjectionEnv in env_testing.h) and
// exercise crash-consistency without crashing the process.
#ifndef STRATA_SERVER_UTIL_ENV_H_
#define STRATA_SERVER_UTIL_ENV_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace strata {

// A file opened for appending. Not thread-safe: one writer at a time. The
// destructor closes the file if Close() was not called (ignoring errors), so
// callers that care about durability must call Sync() and Close().
class WritableFile {
 public:
  virtual ~WritableFile() = default;
  // Appends `data` in full or returns an error (partial data may have reached
  // the file, exactly as with a crash).
  virtual absl::Status Append(absl::string_view data) = 0;
  // Flushes file data and metadata to stable storage (fsync).
  virtual absl::Status Sync() = 0;
  // Closes the file; further calls fail with FAILED_PRECONDITION.
  virtual absl::Status Close() = 0;
};

// Filesystem operations. Implementations are thread-safe; DefaultEnv() is a
// process-wide singleton that is never destroyed. Errors carry the path and
// the system's message, with errno mapped by ErrnoToStatus.
class Env {
 public:
  virtual ~Env() = default;

  // Creates (or truncates) `path` for writing.
  virtual absl::StatusOr<std::unique_ptr<WritableFile>> NewWritableFile(
      const std::string& path) = 0;
  // Reads the whole file.
  virtual absl::StatusOr<std::string> ReadFileToString(
      const std::string& path) = 0;
  // Atomically replaces `to` with `from` (POSIX rename). Both must be on the
  // same filesystem. Call SyncDir on the parent to make it durable.
  virtual absl::Status RenameFile(const std::string& from,
                                  const std::string& to) = 0;
  virtual absl::Status DeleteFile(const std::string& path) = 0;
  // Removes an empty directory (POSIX rmdir; a non-empty one is an error).
  virtual absl::Status DeleteDir(const std::string& path) = 0;
  // Creates `path` and any missing parents; OK if it already exists as a
  // directory.
  virtual absl::Status CreateDir(const std::string& path) = 0;
  // Names (not paths) of the entries of `dir`, excluding "." and "..", in
  // no particular order.
  virtual absl::StatusOr<std::vector<std::string>> GetChildren(
      const std::string& dir) = 0;
  // OK if `path` exists; NOT_FOUND if it does not; other codes on errors.
  virtual absl::Status FileExists(const std::string& path) = 0;
  // fsyncs the directory itself so that entries created or renamed in it
  // survive a power loss.
  virtual absl::Status SyncDir(const std::string& dir) = 0;
};

// The POSIX implementation.
Env* DefaultEnv();

// Maps an errno value to a status: ENOENT -> NOT_FOUND, EACCES/EPERM ->
// PERMISSION_DENIED, ENOSPC/EDQUOT -> RESOURCE_EXHAUSTED, EEXIST ->
// ALREADY_EXISTS, everything else -> INTERNAL. The message is
// "<context>: <strerror> (errno N)".
absl::Status ErrnoToStatus(int error_number, absl::string_view context);

// Joins two path components with exactly one '/'.
std::string JoinPath(absl::string_view a, absl::string_view b);

}  // namespace strata

#endif  // STRATA_SERVER_UTIL_ENV_H_
