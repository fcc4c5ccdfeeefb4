#include "server/util/env_testing.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "proto/base/status_macros.h"

namespace strata {

// Forwards to the wrapped file through the env, which applies the faults.
// Not thread-safe (like every WritableFile).
class FaultInjectionEnv::File final : public WritableFile {
 public:
  File(FaultInjectionEnv* env, std::unique_ptr<WritableFile> base)
      : env_(env), base_(std::move(base)) {}
  absl::Status Append(absl::string_view data) override {
    return env_->Append(base_.get(), data);
  }
  absl::Status Sync() override { return env_->SyncFile(base_.get()); }
  absl::Status Close() override { return env_->CloseFile(base_.get()); }

 private:
  FaultInjectionEnv* const env_;
  const std::unique_ptr<WritableFile> base_;
};

void FaultInjectionEnv::FailWritesAfter(int64_t bytes) {
  absl::MutexLock lock(&mu_);
  write_budget_ = std::max<int64_t>(bytes, 0);
  crash_on_write_fault_ = false;
}

void FaultInjectionEnv::CrashAfter(int64_t bytes) {
  absl::MutexLock lock(&mu_);
  write_budget_ = std::max<int64_t>(bytes, 0);
  crash_on_write_fault_ = true;
}

void FaultInjectionEnv::Crash() {
  absl::MutexLock lock(&mu_);
  crashed_ = true;
}

void FaultInjectionEnv::FailSync(bool fail) {
  absl::MutexLock lock(&mu_);
  fail_sync_ = fail;
}

void FaultInjectionEnv::FailRename(bool fail) {
  absl::MutexLock lock(&mu_);
  fail_rename_ = fail;
}

void FaultInjectionEnv::Reset() {
  absl::MutexLock lock(&mu_);
  write_budget_ = -1;
  crash_on_write_fault_ = false;
  crashed_ = false;
  fail_sync_ = false;
  fail_rename_ = false;
}

bool FaultInjectionEnv::crashed() const {
  absl::MutexLock lock(&mu_);
  return crashed_;
}

int64_t FaultInjectionEnv::bytes_written() const {
  absl::MutexLock lock(&mu_);
  return bytes_written_;
}

absl::Status FaultInjectionEnv::CheckAlive() const {
  if (crashed_) return absl::UnavailableError("simulated crash");
  return absl::OkStatus();
}

absl::Status FaultInjectionEnv::Append(WritableFile* file,
                                       absl::string_view data) {
  absl::MutexLock lock(&mu_);
  STRATA_RETURN_IF_ERROR(CheckAlive());
  if (write_budget_ < 0 || static_cast<int64_t>(data.size()) <= write_budget_) {
    if (write_budget_ >= 0) write_budget_ -= data.size();
    bytes_written_ += data.size();
    return file->Append(data);
  }
  // The fault fires: the prefix that fits reaches the file, the rest is lost.
  const absl::string_view prefix = data.substr(0, write_budget_);
  bytes_written_ += prefix.size();
  write_budget_ = 0;
  STRATA_RETURN_IF_ERROR(file->Append(prefix));
  if (crash_on_write_fault_) {
    crashed_ = true;
    return absl::UnavailableError("simulated crash during write");
  }
  return absl::ResourceExhaustedError("injected fault: no space left");
}

absl::Status FaultInjectionEnv::SyncFile(WritableFile* file) {
  absl::MutexLock lock(&mu_);
  STRATA_RETURN_IF_ERROR(CheckAlive());
  if (fail_sync_) return absl::InternalError("injected fault: fsync failed");
  return file->Sync();
}

absl::Status FaultInjectionEnv::CloseFile(WritableFile* file) {
  absl::MutexLock lock(&mu_);
  STRATA_RETURN_IF_ERROR(CheckAlive());
  return file->Close();
}

absl::StatusOr<std::unique_ptr<WritableFile>>
FaultInjectionEnv::NewWritableFile(const std::string& path) {
  absl::MutexLock lock(&mu_);
  STRATA_RETURN_IF_ERROR(CheckAlive());
  STRATA_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> file,
                          base_->NewWritableFile(path));
  return std::unique_ptr<WritableFile>(new File(this, std::move(file)));
}

absl::StatusOr<std::string> FaultInjectionEnv::ReadFileToString(
    const std::string& path) {
  absl::MutexLock lock(&mu_);
  return base_->ReadFileToString(path);
}

absl::Status FaultInjectionEnv::RenameFile(const std::string& from,
                                           const std::string& to) {
  absl::MutexLock lock(&mu_);
  STRATA_RETURN_IF_ERROR(CheckAlive());
  if (fail_rename_) {
    return absl::InternalError(
        absl::StrCat("injected fault: rename ", from, " to ", to));
  }
  return base_->RenameFile(from, to);
}

absl::Status FaultInjectionEnv::DeleteFile(const std::string& path) {
  absl::MutexLock lock(&mu_);
  STRATA_RETURN_IF_ERROR(CheckAlive());
  return base_->DeleteFile(path);
}

absl::Status FaultInjectionEnv::DeleteDir(const std::string& path) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = CheckAlive(); !s.ok()) return s;
  return base_->DeleteDir(path);
}

absl::Status FaultInjectionEnv::CreateDir(const std::string& path) {
  absl::MutexLock lock(&mu_);
  STRATA_RETURN_IF_ERROR(CheckAlive());
  return base_->CreateDir(path);
}

absl::StatusOr<std::vector<std::string>> FaultInjectionEnv::GetChildren(
    const std::string& dir) {
  absl::MutexLock lock(&mu_);
  return base_->GetChildren(dir);
}

absl::Status FaultInjectionEnv::FileExists(const std::string& path) {
  absl::MutexLock lock(&mu_);
  return base_->FileExists(path);
}

absl::Status FaultInjectionEnv::SyncDir(const std::string& dir) {
  absl::MutexLock lock(&mu_);
  STRATA_RETURN_IF_ERROR(CheckAlive());
  if (fail_sync_) {
    return absl::InternalError(absl::StrCat("injected fault: fsync dir ", dir));
  }
  return base_->SyncDir(dir);
}

}  // namespace strata
