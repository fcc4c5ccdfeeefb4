// Readers and parsers for the Linux /proc files behind the standard
// Prometheus process_* metrics. Plain functions, no state, no prometheus
// dependency; the parsers take file contents so tests can feed fixed text.
#ifndef STRATA_SERVER_METRICS_INTERNAL_PROCESS_STATS_H_
#define STRATA_SERVER_METRICS_INTERNAL_PROCESS_STATS_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace strata {
namespace metrics_internal {

// The fields of /proc/<pid>/stat that the process_* metrics use, converted
// to base units.
struct ProcStat {
  double cpu_seconds = 0;               // utime + stime
  double virtual_memory_bytes = 0;      // vsize
  double resident_memory_bytes = 0;     // rss pages * page size
  double threads = 0;                   // num_threads
  double start_seconds_after_boot = 0;  // starttime
};

// Parses the one line of /proc/<pid>/stat. The command name (field 2) is in
// parentheses and may itself contain spaces and ')', so fields are counted
// from the last ')'. `ticks_per_second` is sysconf(_SC_CLK_TCK), `page_size`
// sysconf(_SC_PAGESIZE); both must be > 0. INVALID_ARGUMENT when the line is
// truncated or a field is not a number.
absl::StatusOr<ProcStat> ParseProcStat(absl::string_view stat,
                                       double ticks_per_second,
                                       double page_size);

// The boot time in seconds since the Unix epoch: the "btime" line of
// /proc/stat. NOT_FOUND without one, INVALID_ARGUMENT if it is malformed.
absl::StatusOr<double> ParseBootTime(absl::string_view proc_stat);

// The soft "Max open files" limit from /proc/<pid>/limits; "unlimited" is
// +infinity. NOT_FOUND without that row, INVALID_ARGUMENT if malformed.
absl::StatusOr<double> ParseMaxOpenFiles(absl::string_view limits);

// Reads a whole (typically /proc) file. /proc files report size 0, so this
// reads until EOF. NOT_FOUND if it does not exist, other errno-derived codes
// otherwise.
absl::StatusOr<std::string> ReadProcFile(const std::string& path);

// Number of entries in `fd_dir` (normally /proc/self/fd), not counting "."
// and ".." nor the descriptor this function opens to read the directory.
absl::StatusOr<int64_t> CountOpenFds(const std::string& fd_dir);

}  // namespace metrics_internal
}  // namespace strata

#endif  // STRATA_SERVER_METRICS_INTERNAL_PROCESS_STATS_H_
