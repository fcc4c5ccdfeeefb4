#include "server/metrics/internal/process_stats.h"

#include <fcntl.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace strata {
namespace metrics_internal {
namespace {

// A /proc/self/stat line in the kernel's format whose command name contains a
// space and a ')', which a naive split on spaces would misparse.
// utime=250 stime=150 num_threads=7 starttime=12345 vsize=104857600 rss=2560.
constexpr char kStatLine[] =
    "4242 (my ps) srv) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 150 0 0 20 "
    "0 7 0 12345 104857600 2560 18446744073709551615 1 1 0 0 0 0 0 4096 "
    "16898 0 0 0 17 3 0 0 0 0 0 0 0 0 0 0 0 0 0\n";

TEST(ParseProcStatTest, CountsFieldsFromTheLastParenthesis) {
  absl::StatusOr<ProcStat> stat = ParseProcStat(kStatLine, 100, 4096);
  ASSERT_TRUE(stat.ok()) << stat.status();
  EXPECT_DOUBLE_EQ(stat->cpu_seconds, 4.0);  // (250 + 150) / 100
  EXPECT_DOUBLE_EQ(stat->threads, 7);
  EXPECT_DOUBLE_EQ(stat->start_seconds_after_boot, 123.45);
  EXPECT_DOUBLE_EQ(stat->virtual_memory_bytes, 104857600);
  EXPECT_DOUBLE_EQ(stat->resident_memory_bytes, 2560.0 * 4096);
}

TEST(ParseProcStatTest, RejectsTruncatedLine) {
  absl::StatusOr<ProcStat> stat =
      ParseProcStat("4242 (ps) S 1 4242 4242 0 -1", 100, 4096);
  EXPECT_EQ(stat.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ParseProcStatTest, RejectsLineWithoutCommandName) {
  EXPECT_EQ(ParseProcStat("4242 ps S 1", 100, 4096).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ParseProcStatTest, RejectsNonNumericField) {
  std::string line = kStatLine;
  line.replace(line.find(" 250 "), 5, " x50 ");
  absl::StatusOr<ProcStat> stat = ParseProcStat(line, 100, 4096);
  EXPECT_EQ(stat.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(stat.status().message().find("field 14"), std::string::npos)
      << stat.status();
}

TEST(ParseProcStatTest, RejectsZeroTickRate) {
  EXPECT_EQ(ParseProcStat(kStatLine, 0, 4096).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ParseBootTimeTest, ReadsBtimeLine) {
  absl::StatusOr<double> btime = ParseBootTime(
      "cpu  1 2 3 4\nintr 5\nctxt 99\nbtime 1700000000\nprocesses 12\n");
  ASSERT_TRUE(btime.ok()) << btime.status();
  EXPECT_DOUBLE_EQ(*btime, 1700000000);
}

TEST(ParseBootTimeTest, MissingBtimeIsNotFound) {
  EXPECT_EQ(ParseBootTime("cpu 1 2 3\nctxt 4\n").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(ParseBootTimeTest, MalformedBtimeIsInvalidArgument) {
  EXPECT_EQ(ParseBootTime("btime soon\n").status().code(),
            absl::StatusCode::kInvalidArgument);
}

constexpr char kLimits[] =
    "Limit                     Soft Limit           Hard Limit           Units"
    "     \n"
    "Max cpu time              unlimited            unlimited            "
    "seconds   \n"
    "Max open files            1024                 524288               files"
    "     \n"
    "Max locked memory         8388608              8388608              bytes"
    "     \n";

TEST(ParseMaxOpenFilesTest, ReturnsTheSoftLimit) {
  absl::StatusOr<double> max = ParseMaxOpenFiles(kLimits);
  ASSERT_TRUE(max.ok()) << max.status();
  EXPECT_DOUBLE_EQ(*max, 1024);
}

TEST(ParseMaxOpenFilesTest, UnlimitedIsInfinity) {
  absl::StatusOr<double> max = ParseMaxOpenFiles(
      "Max open files            unlimited            unlimited  files\n");
  ASSERT_TRUE(max.ok()) << max.status();
  EXPECT_TRUE(std::isinf(*max));
}

TEST(ParseMaxOpenFilesTest, MissingRowIsNotFound) {
  EXPECT_EQ(ParseMaxOpenFiles("Max cpu time  unlimited  unlimited  seconds\n")
                .status()
                .code(),
            absl::StatusCode::kNotFound);
}

TEST(ReadProcFileTest, ReadsFilesThatReportSizeZero) {
  absl::StatusOr<std::string> stat = ReadProcFile("/proc/self/stat");
  ASSERT_TRUE(stat.ok()) << stat.status();
  EXPECT_EQ(stat->rfind(absl::StrCat(getpid(), " ("), 0), 0u) << *stat;
}

TEST(ReadProcFileTest, MissingFileIsNotFound) {
  EXPECT_EQ(ReadProcFile("/proc/self/no_such_file").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(CountOpenFdsTest, SeesANewlyOpenedDescriptor) {
  absl::StatusOr<int64_t> before = CountOpenFds("/proc/self/fd");
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_GE(*before, 3);  // at least stdin, stdout and stderr
  const int fd = ::open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  absl::StatusOr<int64_t> during = CountOpenFds("/proc/self/fd");
  ::close(fd);
  ASSERT_TRUE(during.ok()) << during.status();
  EXPECT_EQ(*during, *before + 1);
}

TEST(CountOpenFdsTest, MissingDirectoryIsNotFound) {
  EXPECT_EQ(CountOpenFds("/proc/self/no_such_dir").status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace metrics_internal
}  // namespace strata
