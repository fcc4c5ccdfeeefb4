#include "server/storage/update_count.h"

#include <memory>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "proto/base/status_macros.h"

namespace strata {
namespace {

constexpr absl::string_view kMagic = "strata-update-count 1";

struct CountFile {
  uint64_t applied = 0;
  std::vector<std::pair<uint64_t, uint64_t>> cuts;
};

std::string Serialize(uint64_t applied,
                      const std::vector<std::pair<uint64_t, uint64_t>>& cuts) {
  std::string out = absl::StrCat(kMagic, "\napplied ", applied, "\n");
  for (const auto& [id, count] : cuts) {
    absl::StrAppend(&out, "cut ", id, " ", count, "\n");
  }
  return out;
}

absl::StatusOr<CountFile> Parse(const std::string& path,
                                absl::string_view text) {
  const auto bad = [&](absl::string_view line) {
    return absl::DataLossError(
        absl::StrCat("update count file ", path, ": bad line '", line, "'"));
  };
  std::vector<absl::string_view> lines =
      absl::StrSplit(text, '\n', absl::SkipEmpty());
  if (lines.empty() || lines[0] != kMagic) {
    return bad(lines.empty() ? "" : lines[0]);
  }
  CountFile out;
  bool have_applied = false;
  for (size_t i = 1; i < lines.size(); ++i) {
    std::vector<absl::string_view> f = absl::StrSplit(lines[i], ' ');
    std::pair<uint64_t, uint64_t> cut;
    if (f.size() == 2 && f[0] == "applied" &&
        absl::SimpleAtoi(f[1], &out.applied)) {
      have_applied = true;
    } else if (f.size() == 3 && f[0] == "cut" &&
               absl::SimpleAtoi(f[1], &cut.first) &&
               absl::SimpleAtoi(f[2], &cut.second)) {
      out.cuts.push_back(cut);
    } else {
      return bad(lines[i]);
    }
  }
  if (!have_applied) return bad("(no applied line)");
  return out;
}

}  // namespace

std::string UpdateCountFileName(uint32_t shard_id, uint32_t num_shards) {
  return absl::StrCat("updates-shard-", shard_id, "-of-", num_shards, ".txt");
}

void UpdateCount::RecordCut(uint64_t checkpoint_id, uint64_t count) {
  absl::MutexLock lock(&mu_);
  cuts_.emplace_back(checkpoint_id, count);
  if (cuts_.size() > kMaxUpdateCuts) cuts_.erase(cuts_.begin());
  ++cuts_version_;
}

absl::StatusOr<std::optional<uint64_t>> UpdateCount::Recover(
    std::optional<uint64_t> loaded) {
  if (path_.empty()) return std::optional<uint64_t>();
  absl::StatusOr<std::string> text = env_->ReadFileToString(path_);
  if (absl::IsNotFound(text.status())) return std::optional<uint64_t>();
  STRATA_RETURN_IF_ERROR(text.status());
  STRATA_ASSIGN_OR_RETURN(CountFile file, Parse(path_, *text));
  std::optional<uint64_t> cut;
  if (!loaded.has_value()) cut = 0;
  for (const auto& [id, count] : file.cuts) {
    if (loaded.has_value() && id == *loaded) cut = count;
  }
  absl::MutexLock lock(&mu_);
  cuts_ = std::move(file.cuts);
  ++cuts_version_;
  lost_at_start_.reset();
  if (cut.has_value()) {
    lost_at_start_ = file.applied > *cut ? file.applied - *cut : 0;
    applied_.store(*cut);
  } else {
    // Unknown cut: go on from the file's count, so counts stay monotonic.
    applied_.store(file.applied);
  }
  return lost_at_start_;
}

std::optional<uint64_t> UpdateCount::lost_at_start() const {
  absl::MutexLock lock(&mu_);
  return lost_at_start_;
}

absl::Status UpdateCount::Persist() {
  if (path_.empty()) return absl::OkStatus();
  absl::MutexLock io(&io_mu_);
  std::string text;
  std::pair<uint64_t, uint64_t> state;
  {
    absl::MutexLock lock(&mu_);
    state = {applied(), cuts_version_};
    if (written_ == state) return absl::OkStatus();
    text = Serialize(state.first, cuts_);
  }
  const std::string tmp = absl::StrCat(path_, ".tmp");
  STRATA_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> file,
                          env_->NewWritableFile(tmp));
  STRATA_RETURN_IF_ERROR(file->Append(text));
  STRATA_RETURN_IF_ERROR(file->Close());
  STRATA_RETURN_IF_ERROR(env_->RenameFile(tmp, path_));
  absl::MutexLock lock(&mu_);
  written_ = state;
  return absl::OkStatus();
}

}  // namespace strata
