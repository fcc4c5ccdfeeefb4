#include "tools/internal/progress.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "tools/internal/format.h"

namespace strata {
namespace ctl {

std::string RenderBar(int64_t done, int64_t total, int width) {
  int filled = 0;
  if (total > 0 && done > 0) {
    const double fraction =
        std::min(1.0, static_cast<double>(done) / static_cast<double>(total));
    filled = static_cast<int>(fraction * width);
  }
  return absl::StrCat("[", std::string(filled, '#'),
                      std::string(width - filled, '-'), "]");
}

std::string RenderProgressLine(int64_t done, int64_t total,
                               absl::Duration elapsed, int bar_width,
                               bool show_eta) {
  double rate = -1;  // unknown
  if (elapsed > absl::ZeroDuration()) {
    rate = static_cast<double>(done) / absl::ToDoubleSeconds(elapsed);
  }
  const std::string rate_part = absl::StrCat(FormatRate(rate), " steps/s");
  if (total <= 0) {
    return absl::StrCat(FormatCount(done), " steps  ", rate_part);
  }
  std::string line = absl::StrCat(
      RenderBar(done, total, bar_width), "  ", FormatPercent(done, total), "  ",
      FormatCount(done), "/", FormatCount(total), " steps  ", rate_part);
  if (!show_eta) return line;
  std::string eta = "-";
  if (done >= total) {
    eta = "0s";
  } else if (rate > 0) {
    eta =
        HumanDuration(absl::Seconds(static_cast<double>(total - done) / rate));
  }
  return absl::StrCat(line, "  ETA ", eta);
}

ProgressReporter::ProgressReporter(std::ostream* out, const Clock* clock,
                                   Options options)
    : out_(out), clock_(clock), options_(options) {}

absl::Duration ProgressReporter::Elapsed(absl::Time at) const {
  return start_.has_value() ? at - *start_ : absl::ZeroDuration();
}

std::string ProgressReporter::Body(const ProgressUpdate& update) const {
  std::string line = update.state;
  if (update.done > 0 || update.total > 0) {
    absl::StrAppend(
        &line, "  ",
        RenderProgressLine(update.done, update.total, Elapsed(update.time),
                           options_.bar_width, !update.finished));
  }
  const std::string metrics =
      FormatMetrics(update.metrics, options_.max_metrics);
  if (!metrics.empty()) absl::StrAppend(&line, "  ", metrics);
  return line;
}

std::string ProgressReporter::RenderTty(const ProgressUpdate& update) const {
  std::string body = Body(update);
  // Leave the last column free: some terminals wrap when it is written.
  if (options_.max_width > 1) body = Truncate(body, options_.max_width - 1);
  return absl::StrCat("\r", body, "\033[K");
}

std::string ProgressReporter::RenderPlain(const ProgressUpdate& update) const {
  std::string line = Body(update);
  if (!update.message.empty())
    absl::StrAppend(&line, "  (", update.message, ")");
  return line + "\n";
}

void ProgressReporter::Update(const ProgressUpdate& update) {
  if (!start_.has_value()) start_ = update.time;
  const absl::Time now = clock_->Now();
  const bool state_changed = !printed_any_ || update.state != last_state_;
  const absl::Duration interval = options_.mode == Mode::kTty
                                      ? options_.min_tty_interval
                                      : options_.min_plain_interval;
  if (!state_changed && now - last_print_ < interval) return;
  if (options_.mode == Mode::kTty) {
    *out_ << RenderTty(update) << std::flush;
    tty_line_open_ = true;
  } else {
    *out_ << RenderPlain(update) << std::flush;
  }
  printed_any_ = true;
  last_state_ = update.state;
  last_print_ = now;
}

void ProgressReporter::Finish() {
  if (tty_line_open_) *out_ << "\n" << std::flush;
  tty_line_open_ = false;
}

}  // namespace ctl
}  // namespace strata
