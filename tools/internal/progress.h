// Progress display for long-running jobs (`stratactl watch`): a bar with
// percentage, steps, rate and ETA, drawn in place on a terminal or as
// throttled plain lines when the output is a file or pipe.
#ifndef STRATA_TOOLS_INTERNAL_PROGRESS_H_
#define STRATA_TOOLS_INTERNAL_PROGRESS_H_

#include <cstdint>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "server/util/clock.h"

namespace strata {
namespace ctl {

// "[#########---------------------]": `width` cells, the filled share being
// done/total rounded down. Unknown total (<= 0) draws an empty bar.
std::string RenderBar(int64_t done, int64_t total, int width);

// The progress part of a line, a pure function of its inputs:
//   "[###---]  45.0%  450/1,000 steps  15.0 steps/s  ETA 36s"
// or, with an unknown total (<= 0), "450 steps  15.0 steps/s". The rate is
// done/elapsed ("-" when elapsed <= 0); the ETA is (total - done)/rate
// ("-" when the rate is unknown or zero, "0s" once done >= total) and is
// left out when `show_eta` is false (a run that has ended).
std::string RenderProgressLine(int64_t done, int64_t total,
                               absl::Duration elapsed, int bar_width,
                               bool show_eta = true);

// One observation of a job's progress.
struct ProgressUpdate {
  std::string state;  // e.g. "RUNNING"; a change always prints
  int64_t done = 0;
  int64_t total = 0;  // <= 0 when unknown
  absl::Time time;    // when the progress was measured
  std::vector<std::pair<std::string, double>> metrics;  // shown in order
  std::string message;                                  // plain mode only
  bool finished = false;  // the run has ended: no ETA is shown
};

// Writes progress to a stream. In TTY mode each update redraws a single line
// in place ("\r" ... "\033[K"); in plain mode each printed update is one line.
// Elapsed time (for rate and ETA) is measured from the start time, by
// default the time of the first update. Throttling uses `clock`, so replayed
// history prints compactly. Borrows `out` and `clock`, which must outlive
// it. Not thread-safe.
class ProgressReporter {
 public:
  enum class Mode { kTty, kPlain };
  struct Options {
    Mode mode = Mode::kPlain;
    // Plain mode prints at most one line per interval except on a state
    // change: shorter intervals show progress sooner, longer ones keep logs
    // small.
    absl::Duration min_plain_interval = absl::Seconds(1);
    // TTY mode redraws at most this often (state changes always redraw);
    // redrawing on every event of a fast job only makes the line flicker.
    absl::Duration min_tty_interval = absl::Milliseconds(100);
    int bar_width = 30;
    size_t max_metrics = 4;  // metrics shown per line; 0 = all
    // TTY mode: the line is cut to this many bytes (0 = never), since a
    // line that wraps can no longer be redrawn in place with "\r".
    size_t max_width = 0;
  };

  ProgressReporter(std::ostream* out, const Clock* clock, Options options);

  // Start of the measured run (e.g. the job's start time). Overrides the
  // default of the first update's time.
  void SetStartTime(absl::Time start) { start_ = start; }
  bool has_start_time() const { return start_.has_value(); }

  // Shows `update` unless throttled.
  void Update(const ProgressUpdate& update);
  // Ends the in-place line (TTY mode) so later output starts on a new line.
  void Finish();

  // The text Update writes for `update` (exposed for tests).
  std::string RenderTty(const ProgressUpdate& update) const;
  std::string RenderPlain(const ProgressUpdate& update) const;

 private:
  absl::Duration Elapsed(absl::Time at) const;
  std::string Body(const ProgressUpdate& update) const;

  // Constant after construction.
  std::ostream* const out_;
  const Clock* const clock_;
  const Options options_;

  absl::optional<absl::Time> start_;
  std::string last_state_;
  bool printed_any_ = false;
  bool tty_line_open_ = false;
  absl::Time last_print_ = absl::InfinitePast();
};

}  // namespace ctl
}  // namespace strata

#endif  // STRATA_TOOLS_INTERNAL_PROGRESS_H_
