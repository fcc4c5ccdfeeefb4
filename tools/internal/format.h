// Text formatting for stratactl: aligned tables, human-readable durations,
// counts, byte sizes and rates, metric lists. Pure functions of their
// inputs, no I/O. (--json output is protobuf's JSON mapping: see ToJson in
// command_util.h.)
#ifndef STRATA_TOOLS_INTERNAL_FORMAT_H_
#define STRATA_TOOLS_INTERNAL_FORMAT_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace strata {
namespace ctl {

// Compact duration with two units at most, truncated (not rounded):
// "0s", "59s", "1m05s", "1h02m", "3d04h". Negative or infinite -> "-".
std::string HumanDuration(absl::Duration d);

// Like HumanDuration, but with tenths of a second below 10 s ("0.4s",
// "9.9s"), for run times where short runs are common.
std::string HumanRuntime(absl::Duration d);

// Integer with thousands separators: 1234567 -> "1,234,567".
std::string FormatCount(int64_t n);

// Binary byte size: "0 B", "512 B", "1.5 KiB", "12.3 MiB", "2.0 GiB".
std::string FormatBytes(uint64_t bytes);

// Rate: one decimal below 100 ("12.3"), whole numbers with separators from
// 100 on ("1,234"). Negative, NaN or infinite -> "-".
std::string FormatRate(double per_second);

// A metric value with 4 significant digits ("0.1235", "1.235e+04").
std::string FormatMetricValue(double value);

// "name=value" pairs separated by a space, in the given order; at most
// `max_entries` pairs (0 = all), followed by " ..." when some are left out.
std::string FormatMetrics(
    const std::vector<std::pair<std::string, double>>& metrics,
    size_t max_entries = 0);

// "45.0%" for done/total; "-" when total <= 0. Clamped to [0, 100].
std::string FormatPercent(int64_t done, int64_t total);

// `s` cut to at most `max_chars` bytes, ending in "..." when cut.
std::string Truncate(absl::string_view s, size_t max_chars);

// A plain-text table: a header row and data rows, columns padded to their
// widest cell and separated by two spaces, no trailing spaces, one line per
// row ending in '\n'. Widths count bytes (cells are expected to be ASCII).
// Not thread-safe.
class Table {
 public:
  enum class Align { kLeft, kRight };

  explicit Table(std::vector<std::string> headers);

  // Alignment of column `column` (default left). CHECKs the index.
  void SetAlign(size_t column, Align align);
  // CHECKs that `cells` has one entry per header.
  void AddRow(std::vector<std::string> cells);
  size_t num_rows() const { return rows_.size(); }
  std::string Render() const;

 private:
  std::vector<std::string> headers_;
  std::vector<Align> align_;
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace ctl
}  // namespace strata

#endif  // STRATA_TOOLS_INTERNAL_FORMAT_H_
