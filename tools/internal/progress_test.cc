#include "tools/internal/progress.h"

#include <sstream>

#include "gtest/gtest.h"

namespace strata {
namespace ctl {
namespace {

TEST(RenderBarTest, FillsProportionallyRoundingDown) {
  EXPECT_EQ(RenderBar(0, 100, 10), "[----------]");
  EXPECT_EQ(RenderBar(45, 100, 10), "[####------]");
  EXPECT_EQ(RenderBar(99, 100, 10), "[#########-]");
  EXPECT_EQ(RenderBar(100, 100, 10), "[##########]");
  EXPECT_EQ(RenderBar(250, 100, 10), "[##########]");
}

TEST(RenderBarTest, UnknownTotalDrawsEmptyBar) {
  EXPECT_EQ(RenderBar(5, 0, 4), "[----]");
  EXPECT_EQ(RenderBar(-5, 10, 4), "[----]");
}

TEST(RenderProgressLineTest, ShowsPercentStepsRateAndEta) {
  EXPECT_EQ(RenderProgressLine(450, 1000, absl::Seconds(30), 10),
            "[####------]  45.0%  450/1,000 steps  15.0 steps/s  ETA 36s");
}

TEST(RenderProgressLineTest, EtaUsesMinutesForLongRuns) {
  // 100 steps in 10 s -> 10 steps/s; 9,900 left -> 990 s = 16m30s.
  EXPECT_EQ(RenderProgressLine(100, 10000, absl::Seconds(10), 4),
            "[----]  1.0%  100/10,000 steps  10.0 steps/s  ETA 16m30s");
}

TEST(RenderProgressLineTest, UnknownRateGivesDashes) {
  EXPECT_EQ(RenderProgressLine(0, 1000, absl::ZeroDuration(), 4),
            "[----]  0.0%  0/1,000 steps  - steps/s  ETA -");
  // Known elapsed but no progress: rate 0, ETA unknown.
  EXPECT_EQ(RenderProgressLine(0, 1000, absl::Seconds(5), 4),
            "[----]  0.0%  0/1,000 steps  0.0 steps/s  ETA -");
}

TEST(RenderProgressLineTest, FinishedRunHasZeroEta) {
  EXPECT_EQ(RenderProgressLine(1000, 1000, absl::Seconds(4), 4),
            "[####]  100.0%  1,000/1,000 steps  250 steps/s  ETA 0s");
}

TEST(RenderProgressLineTest, EndedRunHasNoEta) {
  EXPECT_EQ(RenderProgressLine(450, 1000, absl::Seconds(30), 10,
                               /*show_eta=*/false),
            "[####------]  45.0%  450/1,000 steps  15.0 steps/s");
}

TEST(RenderProgressLineTest, UnknownTotalOmitsBarAndEta) {
  EXPECT_EQ(RenderProgressLine(1234, 0, absl::Seconds(2), 10),
            "1,234 steps  617 steps/s");
}

class ProgressReporterTest : public ::testing::Test {
 protected:
  ProgressUpdate At(std::string state, int64_t done, int64_t total,
                    int seconds) {
    ProgressUpdate u;
    u.state = std::move(state);
    u.done = done;
    u.total = total;
    u.time = start_ + absl::Seconds(seconds);
    return u;
  }

  ProgressReporter::Options Opts(ProgressReporter::Mode mode) {
    ProgressReporter::Options o;
    o.mode = mode;
    o.bar_width = 4;
    return o;
  }

  absl::Time start_ = absl::FromUnixSeconds(1000);
  FakeClock clock_;
  std::ostringstream out_;
};

TEST_F(ProgressReporterTest, PlainModePrintsOneLinePerUpdateWithMetrics) {
  ProgressReporter r(&out_, &clock_, Opts(ProgressReporter::Mode::kPlain));
  r.SetStartTime(start_);
  ProgressUpdate u = At("RUNNING", 50, 100, 10);
  u.metrics = {{"loss", 0.5}, {"qps", 2000}};
  u.message = "worker 0 writing";
  r.Update(u);
  EXPECT_EQ(out_.str(),
            "RUNNING  [##--]  50.0%  50/100 steps  5.0 steps/s  ETA 10s  "
            "loss=0.5 qps=2000  (worker 0 writing)\n");
}

TEST_F(ProgressReporterTest, PlainModeThrottlesExceptStateChanges) {
  ProgressReporter r(&out_, &clock_, Opts(ProgressReporter::Mode::kPlain));
  r.Update(At("PENDING", 0, 0, 0));
  r.Update(At("RUNNING", 1, 100, 1));  // state change: printed
  r.Update(At("RUNNING", 2, 100, 2));  // same wall-clock second: dropped
  clock_.Advance(absl::Milliseconds(999));
  r.Update(At("RUNNING", 3, 100, 3));  // still within 1 s: dropped
  clock_.Advance(absl::Milliseconds(1));
  r.Update(At("RUNNING", 4, 100, 4));                  // printed
  ProgressUpdate done = At("SUCCEEDED", 100, 100, 5);  // printed
  done.finished = true;
  r.Update(done);
  EXPECT_EQ(out_.str(),
            "PENDING\n"
            "RUNNING  [----]  1.0%  1/100 steps  1.0 steps/s  ETA 1m39s\n"
            "RUNNING  [----]  4.0%  4/100 steps  1.0 steps/s  ETA 1m36s\n"
            "SUCCEEDED  [####]  100.0%  100/100 steps  20.0 steps/s\n");
}

TEST_F(ProgressReporterTest, DefaultStartIsFirstUpdate) {
  ProgressReporter r(&out_, &clock_, Opts(ProgressReporter::Mode::kPlain));
  EXPECT_FALSE(r.has_start_time());
  r.Update(At("RUNNING", 10, 0, 100));
  EXPECT_TRUE(r.has_start_time());
  EXPECT_EQ(r.RenderPlain(At("RUNNING", 30, 0, 110)),
            "RUNNING  30 steps  3.0 steps/s\n");
}

TEST_F(ProgressReporterTest, TtyModeRedrawsInPlaceAndFinishEndsLine) {
  ProgressReporter r(&out_, &clock_, Opts(ProgressReporter::Mode::kTty));
  r.SetStartTime(start_);
  ProgressUpdate u = At("RUNNING", 25, 100, 5);
  u.metrics = {{"a", 1}, {"b", 2}, {"c", 3}, {"d", 4}, {"e", 5}};
  u.message = "not shown on a terminal";
  r.Update(u);
  clock_.Advance(absl::Milliseconds(100));
  r.Update(At("RUNNING", 50, 100, 10));
  r.Finish();
  r.Finish();  // idempotent
  EXPECT_EQ(out_.str(),
            "\rRUNNING  [#---]  25.0%  25/100 steps  5.0 steps/s  ETA 15s  "
            "a=1 b=2 c=3 d=4 ...\033[K"
            "\rRUNNING  [##--]  50.0%  50/100 steps  5.0 steps/s  ETA 10s"
            "\033[K\n");
}

TEST_F(ProgressReporterTest, TtyLineIsCutToTheTerminalWidth) {
  ProgressReporter::Options o = Opts(ProgressReporter::Mode::kTty);
  o.max_width = 20;
  ProgressReporter r(&out_, &clock_, o);
  EXPECT_EQ(r.RenderTty(At("RUNNING", 1, 10, 0)),
            "\rRUNNING  [----] ...\033[K");
  // Plain lines are never cut.
  EXPECT_EQ(r.RenderPlain(At("RUNNING", 1, 10, 0)),
            "RUNNING  [----]  10.0%  1/10 steps  - steps/s  ETA -\n");
}

TEST_F(ProgressReporterTest, TtyModeThrottlesRedraws) {
  ProgressReporter r(&out_, &clock_, Opts(ProgressReporter::Mode::kTty));
  r.Update(At("RUNNING", 1, 10, 0));
  r.Update(At("RUNNING", 2, 10, 1));  // no wall-clock time passed: dropped
  EXPECT_EQ(out_.str(),
            "\rRUNNING  [----]  10.0%  1/10 steps  - steps/s  ETA -\033[K");
}

TEST_F(ProgressReporterTest, FinishWithoutOutputWritesNothing) {
  ProgressReporter r(&out_, &clock_, Opts(ProgressReporter::Mode::kTty));
  r.Finish();
  EXPECT_EQ(out_.str(), "");
}

}  // namespace
}  // namespace ctl
}  // namespace strata
