#include "worker/ctr/criteo.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "glog/logging.h"
#include "gtest/gtest.h"

namespace strata {
namespace ctr {
namespace {

// A well-formed line: label, ints 0..12 (some missing), 26 hex values.
std::string Line(int label, int salt, bool missing = false) {
  std::vector<std::string> cols = {absl::StrCat(label)};
  for (int i = 0; i < kNumIntFields; ++i) {
    cols.push_back(missing && i % 4 == 0 ? "" : absl::StrCat(i * 7 + salt));
  }
  for (int j = 0; j < kNumCatFields; ++j) {
    cols.push_back(
        missing && j % 5 == 0 ? "" : absl::StrCat(absl::Hex(j * 977 + salt)));
  }
  return absl::StrJoin(cols, "\t");
}

std::string WriteFile(const std::string& name, const std::string& content) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string path = absl::StrCat(tmp ? tmp : "/tmp", "/", name);
  std::ofstream(path, std::ios::binary) << content;
  return path;
}

std::vector<CtrExample> ReadAll(CriteoReaderOptions o, int64_t* malformed) {
  auto r = CriteoReader::Open(o);
  EXPECT_TRUE(r.ok()) << r.status();
  std::vector<CtrExample> out;
  CtrExample ex;
  while (true) {
    absl::StatusOr<bool> more = (*r)->Next(&ex);
    EXPECT_TRUE(more.ok()) << more.status();
    if (!more.ok() || !*more) break;
    out.push_back(ex);
  }
  if (malformed != nullptr) *malformed = (*r)->malformed();
  return out;
}

TEST(KeyLayoutTest, FieldIsTheTopEightBits) {
  for (int f : {0, 1, 12, 13, 38}) {
    const uint64_t k = FeatureKey(f, 12345);
    EXPECT_EQ(FieldOfKey(k), f);
    EXPECT_EQ(k >> 56, static_cast<uint64_t>(f));
  }
  EXPECT_NE(FeatureKey(3, 1) & kHashMask, FeatureKey(4, 1) & kHashMask);
  EXPECT_NE(FeatureKey(3, 1), FeatureKey(3, 2));
}

// Feature keys are what the parameter server stores: these were computed
// before the key hash moved to proto/base/hash.h. Never update them.
TEST(KeyLayoutTest, KeysMatchGoldenValues) {
  EXPECT_EQ(FeatureKey(0, 1), 0x00b4fda8c892b50eULL);
  EXPECT_EQ(FeatureKey(13, 0xabc), 0x0d03ba12965e2df3ULL);
  EXPECT_EQ(FeatureKey(38, MissingValue()), 0x26da4c29231b95e1ULL);
  // Integers (bucketized, one negative, missing) and hex values, any case.
  std::string line = "1\t5\t\t-3\t1000";
  for (int i = 4; i < kNumIntFields; ++i) line += "\t";
  line += "\t68fd1e64\t\tDEADBEEF";
  for (int j = 3; j < kNumCatFields; ++j) line += "\t";
  CtrExample ex;
  ASSERT_TRUE(ParseCriteoLine(line, &ex).ok());
  EXPECT_EQ(ex.keys[0], 0x005d8c851349a364ULL);
  EXPECT_EQ(ex.keys[1], 0x012225868095627aULL);
  EXPECT_EQ(ex.keys[2], 0x02fa5a27e9b673bfULL);
  EXPECT_EQ(ex.keys[3], 0x03bb67169767f69aULL);
  EXPECT_EQ(ex.keys[4], 0x04e2a0329b85bae7ULL);
  EXPECT_EQ(ex.keys[13], 0x0d0c3d7b36daf3b8ULL);
  EXPECT_EQ(ex.keys[14], 0x0e39fa3ab9f73921ULL);
  EXPECT_EQ(ex.keys[15], 0x0f339d1d13d395c8ULL);
  EXPECT_EQ(ex.keys[38], 0x26da4c29231b95e1ULL);
}

TEST(KeyLayoutTest, IntegersAreBucketizedOnALogScale) {
  EXPECT_EQ(BucketizeInt(-5), -1);
  EXPECT_EQ(BucketizeInt(0), 0);
  EXPECT_EQ(BucketizeInt(3), 3);
  EXPECT_EQ(BucketizeInt(4), 4);
  EXPECT_EQ(BucketizeInt(5), 4);
  EXPECT_EQ(BucketizeInt(8), 6);
  EXPECT_EQ(BucketizeInt(1000), 19);
  EXPECT_EQ(BucketizeInt(1023), 19);
  EXPECT_EQ(BucketizeInt(1024), 20);
}

TEST(ParseCriteoLineTest, ParsesEveryFieldIntoItsOwnKeySpace) {
  CtrExample ex;
  ASSERT_TRUE(ParseCriteoLine(Line(1, 0), &ex).ok());
  EXPECT_EQ(ex.label, 1.0f);
  for (int f = 0; f < kNumFields; ++f) EXPECT_EQ(FieldOfKey(ex.keys[f]), f);
  // Same bucket, same key: 1000 and 1001 share bucket 19.
  CtrExample a, b;
  std::string la = Line(0, 0), lb = Line(0, 0);
  la.replace(2, 1, "1000");  // column 1 was "0"
  lb.replace(2, 1, "1001");
  ASSERT_TRUE(ParseCriteoLine(la, &a).ok());
  ASSERT_TRUE(ParseCriteoLine(lb, &b).ok());
  EXPECT_EQ(a.keys[0], b.keys[0]);
  // Hex case does not matter.
  CtrExample c, d;
  std::string lc = Line(0, 0), ld = lc;
  const size_t pos = lc.rfind('\t') + 1;
  lc.replace(pos, std::string::npos, "abcdef12");
  ld.replace(pos, std::string::npos, "ABCDEF12");
  ASSERT_TRUE(ParseCriteoLine(lc, &c).ok());
  ASSERT_TRUE(ParseCriteoLine(ld, &d).ok());
  EXPECT_EQ(c.keys[38], d.keys[38]);
}

TEST(ParseCriteoLineTest, MissingValuesAreAFeatureOfTheirOwnPerField) {
  CtrExample ex;
  ASSERT_TRUE(ParseCriteoLine(Line(0, 1, /*missing=*/true), &ex).ok());
  EXPECT_EQ(ex.keys[0], FeatureKey(0, MissingValue()));
  EXPECT_EQ(ex.keys[13], FeatureKey(13, MissingValue()));
  EXPECT_NE(ex.keys[0] & kHashMask, ex.keys[4] & kHashMask);
  // An all-missing line is well-formed.
  ASSERT_TRUE(ParseCriteoLine("0" + std::string(39, '\t'), &ex).ok());
  // A Windows line ending is tolerated.
  ASSERT_TRUE(ParseCriteoLine(Line(1, 2) + "\r", &ex).ok());
}

TEST(ParseCriteoLineTest, RejectsMalformedLinesWithTheColumn) {
  CtrExample ex;
  auto msg = [&](const std::string& line) {
    absl::Status s = ParseCriteoLine(line, &ex);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << line;
    return std::string(s.message());
  };
  std::string l = Line(1, 0);
  EXPECT_EQ(msg(l.substr(0, l.rfind('\t'))), "39 columns, want 40");
  EXPECT_EQ(msg(l + "\tff"), "more than 40 columns");
  EXPECT_EQ(msg(""), "column 0: label '' is not 0 or 1");
  std::string bad_label = l;
  bad_label[0] = '2';
  EXPECT_EQ(msg(bad_label), "column 0: label '2' is not 0 or 1");
  std::string bad_int = Line(0, 0);
  bad_int.replace(2, 1, "1x");
  EXPECT_EQ(msg(bad_int), "column 1: '1x' is not an integer");
  std::string bad_hex = Line(0, 0);
  bad_hex.replace(bad_hex.rfind('\t') + 1, std::string::npos, "xyz");
  EXPECT_EQ(msg(bad_hex), "column 39: 'xyz' is not a 1-16 digit hex string");
  std::string long_hex = Line(0, 0);
  long_hex.replace(long_hex.rfind('\t') + 1, std::string::npos,
                   std::string(17, 'a'));
  EXPECT_EQ(msg(long_hex),
            "column 39: 'aaaaaaaaaaaaaaaaa' is not a 1-16 digit hex string");
}

TEST(ParseCriteoLineTest, QuotesBinaryValuesEscapedAndShort) {
  CtrExample ex;
  absl::Status s = ParseCriteoLine(std::string("\x01\xff", 2), &ex);
  EXPECT_EQ(s.message(), "column 0: label '\\x01\\xff' is not 0 or 1");
  s = ParseCriteoLine(std::string(1000, '7'), &ex);
  EXPECT_EQ(s.message(),
            absl::StrCat("column 0: label '", std::string(32, '7'),
                         "' is not 0 or 1"));
}

TEST(CriteoReaderTest, SkipsAndCountsMalformedLinesAndReadsTheRest) {
  std::string content = Line(1, 0) + "\n" + "garbage\n" + Line(0, 1) + "\n" +
                        "\n" + Line(1, 2).substr(0, 20) + "\n" + Line(0, 3) +
                        "\tff\n" + Line(1, 4) + "\n";
  CriteoReaderOptions o;
  o.path = WriteFile("mixed.tsv", content);
  int64_t malformed = 0;
  std::vector<CtrExample> got = ReadAll(o, &malformed);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(malformed, 4);
  EXPECT_EQ(got[0].label, 1.0f);
  EXPECT_EQ(got[1].label, 0.0f);
  EXPECT_EQ(got[2].label, 1.0f);
}

TEST(CriteoReaderTest, EmptyFileAndMissingFinalNewline) {
  CriteoReaderOptions o;
  o.path = WriteFile("empty.tsv", "");
  EXPECT_TRUE(ReadAll(o, nullptr).empty());
  o.path = WriteFile("nofinal.tsv", Line(1, 0) + "\n" + Line(0, 1));
  std::vector<CtrExample> got = ReadAll(o, nullptr);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[1].label, 0.0f);
}

TEST(CriteoReaderTest, MissingFileIsNotFound) {
  CriteoReaderOptions o;
  o.path = "/nonexistent/criteo.tsv";
  EXPECT_EQ(CriteoReader::Open(o).status().code(), absl::StatusCode::kNotFound);
  o.path = WriteFile("x.tsv", "");
  o.parts = 2;
  o.part = 2;
  EXPECT_EQ(CriteoReader::Open(o).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(CriteoReaderTest, NonRegularFilesAreFailedPrecondition) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  for (const std::string path :
       {std::string(tmp ? tmp : "/tmp"), std::string("/dev/zero")}) {
    CriteoReaderOptions o;
    o.path = path;
    absl::Status s = CriteoReader::Open(o).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << path;
    EXPECT_NE(s.message().find(path), absl::string_view::npos) << s;
  }
}

TEST(SplitRangeTest, HugeFilesSplitWithoutOverflow) {
  // len * part overflows 64 bits here; the parts must still be
  // floor(len * part / parts) and partition [0, size).
  const uint64_t size = uint64_t{1} << 62;
  const int parts = 1000;
  uint64_t end = 0;
  for (int p = 0; p < parts; ++p) {
    const ByteRange r = SplitRange(size, 0, 1, p, parts);
    EXPECT_EQ(r.begin, end) << p;
    const unsigned __int128 want =
        static_cast<unsigned __int128>(size) * (p + 1) / parts;
    EXPECT_EQ(r.end, static_cast<uint64_t>(want)) << p;
    end = r.end;
  }
  EXPECT_EQ(end, size);
}

// Counts the WARNING lines that mention `needle`.
class WarningCounter : public google::LogSink {
 public:
  explicit WarningCounter(std::string needle) : needle_(std::move(needle)) {
    google::AddLogSink(this);
  }
  ~WarningCounter() override { google::RemoveLogSink(this); }
  void send(google::LogSeverity severity, const char*, const char*, int,
            const struct ::tm*, const char* message,
            size_t message_len) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (severity == google::GLOG_WARNING &&
        std::string(message, message_len).find(needle_) != std::string::npos) {
      ++count_;
    }
  }
  int count() {
    std::lock_guard<std::mutex> lock(mu_);
    return count_;
  }

 private:
  const std::string needle_;
  std::mutex mu_;
  int count_ = 0;
};

TEST(CriteoReaderTest, MalformedLineWarningsAreCappedButAllAreCounted) {
  std::string content;
  for (int i = 0; i < 100; ++i) content += "garbage\n";
  content += Line(1, 0) + "\n";
  CriteoReaderOptions o;
  o.path = WriteFile("flood.tsv", content);
  o.max_malformed_warnings = 3;
  WarningCounter warnings(o.path);
  int64_t malformed = 0;
  EXPECT_EQ(ReadAll(o, &malformed).size(), 1u);
  EXPECT_EQ(malformed, 100);
  EXPECT_EQ(warnings.count(), 3);
}

TEST(CriteoReaderTest, OverlongLinesAreMalformedNotBuffered) {
  CriteoReaderOptions o;
  o.path = WriteFile("long.tsv", std::string(5000, 'a') + "\n" + Line(1, 0) +
                                     "\n" + std::string(5000, 'b'));
  o.max_line_bytes = 1000;
  o.buffer_bytes = 64;  // lines span many buffer fills
  int64_t malformed = 0;
  EXPECT_EQ(ReadAll(o, &malformed).size(), 1u);
  EXPECT_EQ(malformed, 2);
}

TEST(CriteoReaderTest, ByteRangePartsPartitionTheLinesExactly) {
  std::string content;
  for (int i = 0; i < 101; ++i) content += Line(i % 2, i, i % 3 == 0) + "\n";
  content.pop_back();  // and no final newline
  const std::string path = WriteFile("parts.tsv", content);
  for (int parts : {1, 2, 3, 7, 64}) {
    std::multiset<uint64_t> seen;  // the 25th categorical key identifies a line
    for (int p = 0; p < parts; ++p) {
      CriteoReaderOptions o;
      o.path = path;
      o.part = p;
      o.parts = parts;
      o.buffer_bytes = 100;
      for (const CtrExample& ex : ReadAll(o, nullptr)) seen.insert(ex.keys[37]);
      auto r = CriteoReader::Open(o);
      ASSERT_TRUE(r.ok());
      EXPECT_GE(*(*r)->CountLines(), 0);
    }
    EXPECT_EQ(seen.size(), 101u) << parts << " parts";
    std::set<uint64_t> distinct(seen.begin(), seen.end());
    EXPECT_EQ(distinct.size(), 101u) << parts << " parts";
  }
  // Held-out tail and training head partition the lines too.
  CriteoReaderOptions head, tail;
  head.path = tail.path = path;
  head.to = 0.9;
  tail.from = 0.9;
  const size_t n =
      ReadAll(head, nullptr).size() + ReadAll(tail, nullptr).size();
  EXPECT_EQ(n, 101u);
}

TEST(CriteoReaderTest, RewindRestartsTheRange) {
  CriteoReaderOptions o;
  o.path = WriteFile("rewind.tsv", Line(1, 0) + "\n" + Line(0, 1) + "\n");
  auto r = CriteoReader::Open(o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*(*r)->CountLines(), 2);
  CtrExample ex;
  EXPECT_TRUE(*(*r)->Next(&ex));
  EXPECT_TRUE(*(*r)->Next(&ex));
  EXPECT_FALSE(*(*r)->Next(&ex));
  ASSERT_TRUE((*r)->Rewind().ok());
  EXPECT_TRUE(*(*r)->Next(&ex));
  EXPECT_EQ(ex.label, 1.0f);
}

}  // namespace
}  // namespace ctr
}  // namespace strata
