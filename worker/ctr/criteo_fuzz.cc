// Fuzz target: the Criteo line parser (ParseCriteoLine) and the reader
// (CriteoReader) that splits a file into lines and byte ranges. Input
// layout: byte 0 picks the reader's line cap (16 + 8 * (b % 64) bytes),
// byte 1 its buffer (16 + b % 128 bytes), byte 2 the number of parts
// (1 + b % 8); the rest is the file.
// Properties checked on every input, beyond "no crash, no sanitizer report":
//   - every line the parser accepts has label 0 or 1 and each key in the
//     key space of its field; every refusal is INVALID_ARGUMENT;
//   - the reader sees exactly the file's lines (a last line without '\n'
//     counts), whatever the buffer and the part: the parts' line counts add
//     up to the whole file's, CountLines agrees, and the well-formed lines
//     are exactly those within the cap that the parser accepts.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "glog/logging.h"
#include "worker/ctr/criteo.h"

namespace {

using strata::ctr::CriteoReader;
using strata::ctr::CriteoReaderOptions;
using strata::ctr::CtrExample;

// Parses `line`, checks the result, and says whether it was well-formed.
bool ParseAndCheck(absl::string_view line) {
  CtrExample ex;
  const absl::Status s = strata::ctr::ParseCriteoLine(line, &ex);
  if (!s.ok()) {
    CHECK(absl::IsInvalidArgument(s)) << s;
    return false;
  }
  CHECK(ex.label == 0.0f || ex.label == 1.0f) << ex.label;
  for (int f = 0; f < strata::ctr::kNumFields; ++f) {
    CHECK_EQ(strata::ctr::FieldOfKey(ex.keys[f]), f);
  }
  return true;
}

struct Counts {
  int64_t lines = 0, examples = 0, malformed = 0;
};

// Reads one part of the file to its end.
Counts ReadPart(CriteoReaderOptions o) {
  absl::StatusOr<std::unique_ptr<CriteoReader>> r = CriteoReader::Open(o);
  CHECK(r.ok()) << r.status();
  Counts c;
  CtrExample ex;
  while (true) {
    absl::StatusOr<bool> more = (*r)->Next(&ex);
    CHECK(more.ok()) << more.status();
    if (!*more) break;
    ++c.examples;
  }
  c.lines = (*r)->lines();
  c.malformed = (*r)->malformed();
  CHECK_EQ(c.lines, c.examples + c.malformed);
  absl::StatusOr<int64_t> counted = (*r)->CountLines();
  CHECK(counted.ok()) << counted.status();
  CHECK_EQ(*counted, c.lines);
  return c;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  const absl::string_view file(reinterpret_cast<const char*>(data) + 3,
                               size - 3);
  CriteoReaderOptions o;
  o.max_line_bytes = 16 + 8 * (data[0] % 64);
  o.buffer_bytes = 16 + data[1] % 128;
  o.max_malformed_warnings = 0;
  const int parts = 1 + data[2] % 8;

  Counts want;
  std::vector<absl::string_view> lines = absl::StrSplit(file, '\n');
  if (lines.back().empty()) lines.pop_back();  // "" or a final '\n'
  for (absl::string_view line : lines) {
    const bool ok = ParseAndCheck(line);
    ++want.lines;
    if (ok && line.size() <= o.max_line_bytes) ++want.examples;
  }

  static const std::string path = [] {
    // Memory-backed when possible: the file is rewritten for every input.
    const char* dir = std::getenv("TEST_TMPDIR");
    if (dir == nullptr && ::access("/dev/shm", W_OK) == 0) dir = "/dev/shm";
    if (dir == nullptr) dir = std::getenv("TMPDIR");
    return absl::StrCat(dir != nullptr ? dir : "/tmp", "/strata-", ::getpid(),
                        "-criteo_fuzz.tsv");
  }();
  static const struct RemovedAtExit {
    ~RemovedAtExit() { std::remove(path.c_str()); }
  } removed;
  std::ofstream(path, std::ios::binary | std::ios::trunc) << file;
  o.path = path;
  o.parts = parts;
  Counts got;
  for (o.part = 0; o.part < parts; ++o.part) {
    const Counts c = ReadPart(o);
    got.lines += c.lines;
    got.examples += c.examples;
  }
  CHECK_EQ(got.lines, want.lines);
  CHECK_EQ(got.examples, want.examples);
  return 0;
}
