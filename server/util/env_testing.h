// Test helper: an Env that injects filesystem faults, for crash-consistency
// tests of code that writes files (checkpoints). Test-only (testonly = True).
#ifndef STRATA_SERVER_UTIL_ENV_TESTING_H_
#define STRATA_SERVER_UTIL_ENV_TESTING_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "server/util/env.h"

namespace strata {

// Wraps another Env (not owned; must outlive this one) and forwards every
// call, except where a fault has been armed:
//
//  - FailWritesAfter(n): once n more bytes have been appended (over all files
//    opened through this env), the append that crosses the limit writes only
//    the bytes up to the limit and fails with RESOURCE_EXHAUSTED, like a full
//    disk. Later appends fail the same way; other calls keep working.
//  - CrashAfter(n): the same, but when it triggers the env "crashes": every
//    later mutating call (append, sync, close, rename, delete, rmdir, mkdir,
//    open for writing, directory sync) fails with UNAVAILABLE "simulated crash"
//    and nothing more reaches the disk, so partially written files stay exactly
//    as a killed process would leave them. Reads keep working, so a test can
//    then look at the disk like a restarted process.
//  - FailSync / FailRename: every file or directory sync / rename fails with
//    INTERNAL "injected fault".
//
// Thread-safe; calls into the wrapped env are serialised by one mutex.
class FaultInjectionEnv final : public Env {
 public:
  explicit FaultInjectionEnv(Env* base) : base_(base) {}

  void FailWritesAfter(int64_t bytes);
  void CrashAfter(int64_t bytes);
  void Crash();
  void FailSync(bool fail);
  void FailRename(bool fail);
  // Disarms every fault and "restarts" a crashed env.
  void Reset();

  bool crashed() const;
  // Bytes passed to the wrapped env's Append so far.
  int64_t bytes_written() const;

  absl::StatusOr<std::unique_ptr<WritableFile>> NewWritableFile(
      const std::string& path) override;
  absl::StatusOr<std::string> ReadFileToString(
      const std::string& path) override;
  absl::Status RenameFile(const std::string& from,
                          const std::string& to) override;
  absl::Status DeleteFile(const std::string& path) override;
  absl::Status DeleteDir(const std::string& path) override;
  absl::Status CreateDir(const std::string& path) override;
  absl::StatusOr<std::vector<std::string>> GetChildren(
      const std::string& dir) override;
  absl::Status FileExists(const std::string& path) override;
  absl::Status SyncDir(const std::string& dir) override;

 private:
  class File;

  // Status for a mutating call: UNAVAILABLE after a crash, else OK.
  absl::Status CheckAlive() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status Append(WritableFile* file, absl::string_view data);
  absl::Status SyncFile(WritableFile* file);
  absl::Status CloseFile(WritableFile* file);

  // Constant after construction.
  Env* const base_;

  mutable absl::Mutex mu_;
  // Bytes that may still be appended before the armed fault fires; negative
  // means no write fault is armed.
  int64_t write_budget_ ABSL_GUARDED_BY(mu_) = -1;
  bool crash_on_write_fault_ ABSL_GUARDED_BY(mu_) = false;
  bool crashed_ ABSL_GUARDED_BY(mu_) = false;
  bool fail_sync_ ABSL_GUARDED_BY(mu_) = false;
  bool fail_rename_ ABSL_GUARDED_BY(mu_) = false;
  int64_t bytes_written_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace strata

#endif  // STRATA_SERVER_UTIL_ENV_TESTING_H_
