#include "tools/internal/format.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "glog/logging.h"

namespace strata {
namespace ctl {

std::string HumanDuration(absl::Duration d) {
  if (d < absl::ZeroDuration() || d == absl::InfiniteDuration()) return "-";
  const int64_t s = absl::ToInt64Seconds(d);
  if (s < 60) return absl::StrCat(s, "s");
  if (s < 3600) return absl::StrFormat("%dm%02ds", s / 60, s % 60);
  if (s < 86400) return absl::StrFormat("%dh%02dm", s / 3600, (s % 3600) / 60);
  return absl::StrFormat("%dd%02dh", s / 86400, (s % 86400) / 3600);
}

std::string HumanRuntime(absl::Duration d) {
  if (d >= absl::ZeroDuration() && d < absl::Seconds(10)) {
    return absl::StrFormat("%.1fs", absl::ToDoubleSeconds(absl::Trunc(
                                        d, absl::Milliseconds(100))));
  }
  return HumanDuration(d);
}

std::string FormatCount(int64_t n) {
  // Work on the magnitude as unsigned so INT64_MIN does not overflow.
  const bool negative = n < 0;
  uint64_t magnitude =
      negative ? 0 - static_cast<uint64_t>(n) : static_cast<uint64_t>(n);
  const std::string digits = absl::StrCat(magnitude);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return negative ? "-" + out : out;
}

std::string FormatBytes(uint64_t bytes) {
  if (bytes < 1024) return absl::StrCat(bytes, " B");
  static const char* const kUnits[] = {"KiB", "MiB", "GiB",
                                       "TiB", "PiB", "EiB"};
  double value = static_cast<double>(bytes) / 1024.0;
  size_t unit = 0;
  while (value >= 1024.0 && unit + 1 < sizeof(kUnits) / sizeof(kUnits[0])) {
    value /= 1024.0;
    ++unit;
  }
  return absl::StrFormat("%.1f %s", value, kUnits[unit]);
}

std::string FormatRate(double per_second) {
  if (!std::isfinite(per_second) || per_second < 0) return "-";
  if (per_second < 99.95) return absl::StrFormat("%.1f", per_second);
  return FormatCount(static_cast<int64_t>(std::llround(per_second)));
}

std::string FormatMetricValue(double value) {
  // Large values (throughputs, counts) with an SI suffix, so "6.81M" rather
  // than "6.813e+06"; small and fractional ones (loss, AUC) as %.4g.
  const double a = std::fabs(value);
  if (a >= 1e9) return absl::StrFormat("%.3gG", value / 1e9);
  if (a >= 1e6) return absl::StrFormat("%.3gM", value / 1e6);
  if (a >= 1e4) return absl::StrFormat("%.3gk", value / 1e3);
  return absl::StrFormat("%.4g", value);
}

std::string FormatMetrics(
    const std::vector<std::pair<std::string, double>>& metrics,
    size_t max_entries) {
  std::vector<std::string> parts;
  for (const auto& [name, value] : metrics) {
    if (max_entries > 0 && parts.size() == max_entries) {
      parts.push_back("...");
      break;
    }
    parts.push_back(absl::StrCat(name, "=", FormatMetricValue(value)));
  }
  return absl::StrJoin(parts, " ");
}

std::string FormatPercent(int64_t done, int64_t total) {
  if (total <= 0) return "-";
  double fraction = static_cast<double>(done) / static_cast<double>(total);
  fraction = std::min(1.0, std::max(0.0, fraction));
  return absl::StrFormat("%.1f%%", 100.0 * fraction);
}

std::string Truncate(absl::string_view s, size_t max_chars) {
  if (s.size() <= max_chars) return std::string(s);
  if (max_chars <= 3) return std::string(s.substr(0, max_chars));
  return absl::StrCat(s.substr(0, max_chars - 3), "...");
}

Table::Table(std::vector<std::string> headers)
    : headers_(std::move(headers)), align_(headers_.size(), Align::kLeft) {}

void Table::SetAlign(size_t column, Align align) {
  CHECK_LT(column, align_.size());
  align_[column] = align;
}

void Table::AddRow(std::vector<std::string> cells) {
  CHECK_EQ(cells.size(), headers_.size());
  rows_.push_back(std::move(cells));
}

std::string Table::Render() const {
  std::vector<size_t> width(headers_.size());
  for (size_t c = 0; c < headers_.size(); ++c) width[c] = headers_[c].size();
  for (const auto& row : rows_) {
    for (size_t c = 0; c < row.size(); ++c) {
      width[c] = std::max(width[c], row[c].size());
    }
  }
  std::string out;
  auto append_row = [&](const std::vector<std::string>& row) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c) {
      if (c > 0) line += "  ";
      const std::string pad(width[c] - row[c].size(), ' ');
      line += align_[c] == Align::kRight ? pad + row[c] : row[c] + pad;
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  };
  append_row(headers_);
  for (const auto& row : rows_) append_row(row);
  return out;
}

}  // namespace ctl
}  // namespace strata
