#include "tools/internal/format.h"

#include <cmath>
#include <limits>

#include "gtest/gtest.h"

namespace strata {
namespace ctl {
namespace {

TEST(FormatDurationTest, UsesAtMostTwoUnitsTruncated) {
  EXPECT_EQ(HumanDuration(absl::ZeroDuration()), "0s");
  EXPECT_EQ(HumanDuration(absl::Milliseconds(59999)), "59s");
  EXPECT_EQ(HumanDuration(absl::Seconds(65)), "1m05s");
  EXPECT_EQ(HumanDuration(absl::Seconds(3600 + 120 + 59)), "1h02m");
  EXPECT_EQ(HumanDuration(absl::Hours(76)), "3d04h");
}

TEST(FormatDurationTest, NegativeAndInfiniteAreDashes) {
  EXPECT_EQ(HumanDuration(absl::Seconds(-1)), "-");
  EXPECT_EQ(HumanDuration(absl::InfiniteDuration()), "-");
}

TEST(HumanRuntimeTest, TenthsBelowTenSeconds) {
  EXPECT_EQ(HumanRuntime(absl::ZeroDuration()), "0.0s");
  EXPECT_EQ(HumanRuntime(absl::Milliseconds(499)), "0.4s");
  EXPECT_EQ(HumanRuntime(absl::Milliseconds(9999)), "9.9s");
  EXPECT_EQ(HumanRuntime(absl::Seconds(10)), "10s");
  EXPECT_EQ(HumanRuntime(absl::Seconds(65)), "1m05s");
  EXPECT_EQ(HumanRuntime(absl::Seconds(-1)), "-");
}

TEST(FormatCountTest, GroupsThousands) {
  EXPECT_EQ(FormatCount(0), "0");
  EXPECT_EQ(FormatCount(999), "999");
  EXPECT_EQ(FormatCount(1000), "1,000");
  EXPECT_EQ(FormatCount(1234567), "1,234,567");
  EXPECT_EQ(FormatCount(-1234), "-1,234");
  EXPECT_EQ(FormatCount(std::numeric_limits<int64_t>::min()),
            "-9,223,372,036,854,775,808");
}

TEST(FormatBytesTest, UsesBinaryUnits) {
  EXPECT_EQ(FormatBytes(0), "0 B");
  EXPECT_EQ(FormatBytes(1023), "1023 B");
  EXPECT_EQ(FormatBytes(1536), "1.5 KiB");
  EXPECT_EQ(FormatBytes(uint64_t{3} << 30), "3.0 GiB");
  EXPECT_EQ(FormatBytes(~uint64_t{0}), "16.0 EiB");
}

TEST(FormatRateTest, OneDecimalBelowHundredThenWholeNumbers) {
  EXPECT_EQ(FormatRate(0), "0.0");
  EXPECT_EQ(FormatRate(12.34), "12.3");
  EXPECT_EQ(FormatRate(1234.5), "1,235");
  EXPECT_EQ(FormatRate(-1), "-");
  EXPECT_EQ(FormatRate(std::nan("")), "-");
  EXPECT_EQ(FormatRate(std::numeric_limits<double>::infinity()), "-");
}

TEST(FormatMetricsTest, KeepsOrderAndElidesBeyondLimit) {
  std::vector<std::pair<std::string, double>> m = {
      {"loss", 0.123456}, {"qps", 12345.0}, {"acc", 1}};
  EXPECT_EQ(FormatMetrics(m), "loss=0.1235 qps=12.3k acc=1");
  EXPECT_EQ(FormatMetrics(m, 2), "loss=0.1235 qps=12.3k ...");
  EXPECT_EQ(FormatMetrics({}), "");
}

TEST(FormatMetricsTest, LargeValuesGetSiSuffixes) {
  EXPECT_EQ(FormatMetricValue(6813000), "6.81M");
  EXPECT_EQ(FormatMetricValue(-2.5e9), "-2.5G");
  EXPECT_EQ(FormatMetricValue(9999), "9999");
  EXPECT_EQ(FormatMetricValue(0.82092), "0.8209");
}

TEST(FormatPercentTest, ClampsAndHandlesUnknownTotal) {
  EXPECT_EQ(FormatPercent(450, 1000), "45.0%");
  EXPECT_EQ(FormatPercent(2000, 1000), "100.0%");
  EXPECT_EQ(FormatPercent(-5, 1000), "0.0%");
  EXPECT_EQ(FormatPercent(5, 0), "-");
}

TEST(TruncateTest, AddsEllipsisOnlyWhenCut) {
  EXPECT_EQ(Truncate("short", 10), "short");
  EXPECT_EQ(Truncate("exactly10!", 10), "exactly10!");
  EXPECT_EQ(Truncate("a longer reason", 10), "a longe...");
  EXPECT_EQ(Truncate("abcdef", 2), "ab");
}

TEST(TableTest, PadsColumnsAndStripsTrailingSpaces) {
  Table table({"NAME", "ROWS", "NOTE"});
  table.SetAlign(1, Table::Align::kRight);
  table.AddRow({"embeddings", "1,000", ""});
  table.AddRow({"w", "7", "dense"});
  EXPECT_EQ(table.Render(),
            "NAME         ROWS  NOTE\n"
            "embeddings  1,000\n"
            "w               7  dense\n");
  EXPECT_EQ(table.num_rows(), 2u);
}

TEST(TableTest, HeaderOnlyWhenEmpty) {
  EXPECT_EQ(Table({"A", "B"}).Render(), "A  B\n");
}

TEST(TableDeathTest, RowWithWrongCellCountIsAProgrammerError) {
  Table table({"A", "B"});
  EXPECT_DEATH(table.AddRow({"only one"}), "");
}

}  // namespace
}  // namespace ctl
}  // namespace strata
