#include "server/metrics/internal/process_stats.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <limits>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "proto/base/status_macros.h"

namespace strata {
namespace metrics_internal {
namespace {

absl::Status ErrnoStatus(int err, absl::string_view what) {
  const std::string message = absl::StrCat(what, ": ", std::strerror(err));
  if (err == ENOENT) return absl::NotFoundError(message);
  if (err == EACCES || err == EPERM) {
    return absl::PermissionDeniedError(message);
  }
  return absl::UnavailableError(message);
}

// Fields of /proc/<pid>/stat counted from 1 (pid) as in proc(5). The slice
// after the command name starts with field 3 (state).
constexpr int kFirstFieldAfterComm = 3;
constexpr int kUtime = 14;
constexpr int kStime = 15;
constexpr int kNumThreads = 20;
constexpr int kStartTime = 22;
constexpr int kVsize = 23;
constexpr int kRss = 24;

}  // namespace

absl::StatusOr<ProcStat> ParseProcStat(absl::string_view stat,
                                       double ticks_per_second,
                                       double page_size) {
  if (!(ticks_per_second > 0) || !(page_size > 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("ticks_per_second (", ticks_per_second,
                     ") and page_size (", page_size, ") must be > 0"));
  }
  const size_t paren = stat.rfind(')');
  if (paren == absl::string_view::npos) {
    return absl::InvalidArgumentError(
        "/proc stat line has no ')' closing the command name");
  }
  const std::vector<absl::string_view> fields =
      absl::StrSplit(stat.substr(paren + 1), ' ', absl::SkipWhitespace());
  if (fields.size() < kRss - kFirstFieldAfterComm + 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("/proc stat line has ", fields.size(),
                     " fields after the command name; need at least ",
                     kRss - kFirstFieldAfterComm + 1));
  }
  auto field = [&](int index, double* out) -> absl::Status {
    absl::string_view text =
        absl::StripAsciiWhitespace(fields[index - kFirstFieldAfterComm]);
    if (!absl::SimpleAtod(text, out)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "/proc stat field ", index, " is not a number: '", text, "'"));
    }
    return absl::OkStatus();
  };
  double utime, stime, threads, start, vsize, rss;
  for (auto [index, out] : {std::pair<int, double*>{kUtime, &utime},
                            {kStime, &stime},
                            {kNumThreads, &threads},
                            {kStartTime, &start},
                            {kVsize, &vsize},
                            {kRss, &rss}}) {
    STRATA_RETURN_IF_ERROR(field(index, out));
  }
  ProcStat result;
  result.cpu_seconds = (utime + stime) / ticks_per_second;
  result.virtual_memory_bytes = vsize;
  result.resident_memory_bytes = rss * page_size;
  result.threads = threads;
  result.start_seconds_after_boot = start / ticks_per_second;
  return result;
}

absl::StatusOr<double> ParseBootTime(absl::string_view proc_stat) {
  for (absl::string_view line : absl::StrSplit(proc_stat, '\n')) {
    if (!absl::ConsumePrefix(&line, "btime ")) continue;
    double seconds = 0;
    if (!absl::SimpleAtod(absl::StripAsciiWhitespace(line), &seconds)) {
      return absl::InvalidArgumentError(
          absl::StrCat("/proc/stat btime is not a number: '", line, "'"));
    }
    return seconds;
  }
  return absl::NotFoundError("/proc/stat has no btime line");
}

absl::StatusOr<double> ParseMaxOpenFiles(absl::string_view limits) {
  for (absl::string_view line : absl::StrSplit(limits, '\n')) {
    if (!absl::ConsumePrefix(&line, "Max open files")) continue;
    // Columns: soft limit, hard limit, units.
    const std::vector<absl::string_view> columns =
        absl::StrSplit(line, ' ', absl::SkipWhitespace());
    if (columns.empty()) break;
    if (columns[0] == "unlimited") {
      return std::numeric_limits<double>::infinity();
    }
    double soft = 0;
    if (!absl::SimpleAtod(columns[0], &soft)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "'Max open files' soft limit is not a number: '", columns[0], "'"));
    }
    return soft;
  }
  return absl::NotFoundError("limits file has no 'Max open files' row");
}

absl::StatusOr<std::string> ReadProcFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, absl::StrCat("open ", path));
  std::string contents;
  char buffer[4096];
  while (true) {
    const ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      return ErrnoStatus(err, absl::StrCat("read ", path));
    }
    if (n == 0) break;
    contents.append(buffer, static_cast<size_t>(n));
  }
  ::close(fd);
  return contents;
}

absl::StatusOr<int64_t> CountOpenFds(const std::string& fd_dir) {
  DIR* dir = ::opendir(fd_dir.c_str());
  if (dir == nullptr) return ErrnoStatus(errno, absl::StrCat("open ", fd_dir));
  const std::string own_fd = absl::StrCat(::dirfd(dir));
  int64_t count = 0;
  errno = 0;
  while (const struct dirent* entry = ::readdir(dir)) {
    const absl::string_view name = entry->d_name;
    if (name != "." && name != ".." && name != own_fd) ++count;
  }
  const int err = errno;
  ::closedir(dir);
  if (err != 0) return ErrnoStatus(err, absl::StrCat("read ", fd_dir));
  return count;
}

}  // namespace metrics_internal
}  // namespace strata
