// The Criteo Kaggle TSV layout and the CTR key layout.
//
// A line is: label, 13 integer features, 26 categorical features (hex
// strings), separated by tabs; any feature may be empty (missing). Every
// column is one field: integer features are fields 0..12, categorical ones
// 13..38. A feature key is the field id in the top 8 bits (what Saec reads as
// the field, docs/saec.md) and a 56-bit hash of (field, value) below it.
// Integer values are bucketized on a log scale first; a missing value is a
// feature of its own ("missing in field f").
//
// CriteoReader streams one byte range of a file with a fixed-size buffer.
#ifndef STRATA_WORKER_CTR_CRITEO_H_
#define STRATA_WORKER_CTR_CRITEO_H_

#include <array>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace strata {
namespace ctr {

constexpr int kNumIntFields = 13;
constexpr int kNumCatFields = 26;
constexpr int kNumFields = kNumIntFields + kNumCatFields;
constexpr int kFieldBits = 8;
constexpr uint64_t kHashMask = (uint64_t{1} << (64 - kFieldBits)) - 1;

struct CtrExample {
  float label = 0;
  std::array<uint64_t, kNumFields> keys{};
};

// The key of `value_hash` in `field`: field in the top 8 bits and the low 56
// bits of SplitMix64(value_hash ^ SplitMix64(field)) below.
uint64_t FeatureKey(int field, uint64_t value_hash);
inline int FieldOfKey(uint64_t key) {
  return static_cast<int>(key >> (64 - kFieldBits));
}
// Value hash of a missing feature (distinct from every bucket and hex value
// by construction of the callers: buckets and hex values are tagged).
uint64_t MissingValue();
// Log-scale bucket of an integer feature: v < 0 -> -1; 0..3 -> v; else
// floor(2 log2 v) (4, 4, 5, 5, 6, ...), so 2^31 lands in bucket 62.
int64_t BucketizeInt(int64_t v);

// Parses one line (without its newline; a trailing '\r' is tolerated).
// INVALID_ARGUMENT naming the column for: a column count other than 40, a
// label other than 0/1, a non-integer integer feature, a categorical value
// that is not 1-16 hex digits.
absl::Status ParseCriteoLine(absl::string_view line, CtrExample* out);

// Byte range [begin, end) of part `part` of `parts` of the region
// [size * from, size * to) of a file of `size` bytes. Lines belong to the
// range holding their first byte, so consecutive ranges partition the lines.
struct ByteRange {
  uint64_t begin = 0, end = 0;
};
ByteRange SplitRange(uint64_t size, double from, double to, int part,
                     int parts);

struct CriteoReaderOptions {
  std::string path;
  // Fractions of the file (by bytes) this reader's region covers, and this
  // reader's part of it (workers split the region by rank).
  double from = 0, to = 1;
  int part = 0, parts = 1;
  // Read buffer. Memory is bounded by buffer_bytes + max_line_bytes.
  size_t buffer_bytes = 1 << 20;
  // Longer lines are malformed (skipped), so a file without newlines cannot
  // exhaust memory.
  size_t max_line_bytes = 1 << 16;
  // Malformed lines logged per pass over the range (a file of garbage must
  // not flood the log); the rest are only counted.
  int64_t max_malformed_warnings = 10;
};

// Streams the examples of one byte range. Malformed lines are counted and
// skipped, the first max_malformed_warnings of each pass with a warning
// (LOG(WARNING)); I/O errors are statuses.
// Owns its FILE; not thread-safe (one reader per thread).
class CriteoReader {
 public:
  // NOT_FOUND if the file cannot be opened, FAILED_PRECONDITION if it is
  // not a regular file (a directory, a device, a pipe), INVALID_ARGUMENT
  // for a bad part or byte fractions.
  static absl::StatusOr<std::unique_ptr<CriteoReader>> Open(
      CriteoReaderOptions options);
  ~CriteoReader();
  CriteoReader(const CriteoReader&) = delete;
  CriteoReader& operator=(const CriteoReader&) = delete;

  // Next well-formed example; false at the end of the range.
  absl::StatusOr<bool> Next(CtrExample* out);
  // Back to the start of the range (next epoch).
  absl::Status Rewind();
  // Lines in the range (well-formed or not) without parsing them.
  absl::StatusOr<int64_t> CountLines();

  int64_t lines() const { return lines_; }
  int64_t malformed() const { return malformed_; }
  ByteRange range() const { return range_; }

 private:
  CriteoReader(CriteoReaderOptions options, FILE* file, ByteRange range);
  // Next raw line; false at the end. A line over max_line_bytes comes back
  // with *too_long set and its content dropped.
  absl::StatusOr<bool> NextLine(std::string* line, bool* too_long);
  absl::Status Fill();

  // Constant after construction.
  const CriteoReaderOptions options_;
  FILE* const file_;
  const ByteRange range_;
  // Mutable state (single-threaded).
  std::vector<char> buf_;
  size_t buf_pos_ = 0, buf_len_ = 0;
  uint64_t file_pos_ = 0;  // file offset of buf_[buf_pos_]
  bool eof_ = false;
  std::string line_;
  int64_t lines_ = 0, malformed_ = 0;
};

}  // namespace ctr
}  // namespace strata

#endif  // STRATA_WORKER_CTR_CRITEO_H_
