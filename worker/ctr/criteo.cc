#include "worker/ctr/criteo.h"

#include <sys/stat.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <string>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "proto/base/hash.h"
#include "proto/base/status_macros.h"

namespace strata {
namespace ctr {
namespace {

// Tags keep the value spaces of buckets, hex values and "missing" apart.
constexpr uint64_t kBucketTag = 0x1000000000000000ULL;
constexpr uint64_t kHexTag = 0x2000000000000000ULL;

bool ParseHex(absl::string_view s, uint64_t* out) {
  if (s.empty() || s.size() > 16) return false;
  uint64_t v = 0;
  for (char c : s) {
    int d;
    if (c >= '0' && c <= '9') {
      d = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      d = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      d = c - 'A' + 10;
    } else {
      return false;
    }
    v = (v << 4) | static_cast<uint64_t>(d);
  }
  *out = v;
  return true;
}

// At most 32 bytes of a malformed value, escaped so the log stays printable
// whatever the file holds.
std::string Excerpt(absl::string_view v) {
  return absl::CHexEscape(v.substr(0, 32));
}

}  // namespace

uint64_t FeatureKey(int field, uint64_t value_hash) {
  const uint64_t h =
      SplitMix64(value_hash ^ SplitMix64(static_cast<uint64_t>(field)));
  return (static_cast<uint64_t>(field) << (64 - kFieldBits)) | (h & kHashMask);
}

uint64_t MissingValue() { return 0x3000000000000000ULL; }

int64_t BucketizeInt(int64_t v) {
  if (v < 0) return -1;
  if (v <= 3) return v;
  return static_cast<int64_t>(
      std::floor(2.0 * std::log2(static_cast<double>(v))));
}

absl::Status ParseCriteoLine(absl::string_view line, CtrExample* out) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  int col = 0;
  size_t start = 0;
  while (true) {
    const size_t tab = line.find('\t', start);
    const absl::string_view v = line.substr(
        start,
        tab == absl::string_view::npos ? absl::string_view::npos : tab - start);
    if (col > kNumFields) {
      return absl::InvalidArgumentError(
          absl::StrCat("more than ", kNumFields + 1, " columns"));
    }
    if (col == 0) {
      if (v == "0" || v == "1") {
        out->label = v == "1" ? 1.0f : 0.0f;
      } else {
        return absl::InvalidArgumentError(
            absl::StrCat("column 0: label '", Excerpt(v), "' is not 0 or 1"));
      }
    } else {
      const int field = col - 1;
      uint64_t value = MissingValue();
      if (!v.empty() && field < kNumIntFields) {
        int64_t n;
        if (!absl::SimpleAtoi(v, &n)) {
          return absl::InvalidArgumentError(absl::StrCat(
              "column ", col, ": '", Excerpt(v), "' is not an integer"));
        }
        value = kBucketTag ^ static_cast<uint64_t>(BucketizeInt(n) + 1);
      } else if (!v.empty()) {
        uint64_t h;
        if (!ParseHex(v, &h)) {
          return absl::InvalidArgumentError(
              absl::StrCat("column ", col, ": '", Excerpt(v),
                           "' is not a 1-16 digit hex string"));
        }
        value = kHexTag ^ SplitMix64(h);
      }
      out->keys[field] = FeatureKey(field, value);
    }
    ++col;
    if (tab == absl::string_view::npos) break;
    start = tab + 1;
  }
  if (col != kNumFields + 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(col, " columns, want ", kNumFields + 1));
  }
  return absl::OkStatus();
}

ByteRange SplitRange(uint64_t size, double from, double to, int part,
                     int parts) {
  const uint64_t lo = static_cast<uint64_t>(std::floor(size * from));
  const uint64_t hi =
      to >= 1 ? size : static_cast<uint64_t>(std::floor(size * to));
  const uint64_t len = hi > lo ? hi - lo : 0;
  ByteRange r;
  // floor(len * k / parts), without the product (which can overflow).
  const auto share = [&](uint64_t k) {
    return len / parts * k + len % parts * k / parts;
  };
  r.begin = lo + share(part);
  r.end = lo + share(part + 1);
  return r;
}

absl::StatusOr<std::unique_ptr<CriteoReader>> CriteoReader::Open(
    CriteoReaderOptions options) {
  if (options.parts < 1 || options.part < 0 || options.part >= options.parts) {
    return absl::InvalidArgumentError(absl::StrCat(
        "part ", options.part, " of ", options.parts, " is not a valid part"));
  }
  if (!(options.from >= 0 && options.from <= options.to && options.to <= 1)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "byte fractions [", options.from, ", ", options.to, ") are invalid"));
  }
  FILE* f = std::fopen(options.path.c_str(), "rb");
  if (f == nullptr) {
    return absl::NotFoundError(absl::StrCat("cannot open '", options.path,
                                            "': ", std::strerror(errno)));
  }
  struct stat st;
  if (::fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
    std::fclose(f);
    return absl::FailedPreconditionError(
        absl::StrCat("'", options.path, "' is not a regular file"));
  }
  const long end = std::fseek(f, 0, SEEK_END) == 0 ? std::ftell(f) : long{-1};
  if (end < 0) {
    std::fclose(f);
    return absl::FailedPreconditionError(
        absl::StrCat("'", options.path, "' is not seekable"));
  }
  const uint64_t size = static_cast<uint64_t>(end);
  const ByteRange range =
      SplitRange(size, options.from, options.to, options.part, options.parts);
  std::unique_ptr<CriteoReader> r(
      new CriteoReader(std::move(options), f, range));
  STRATA_RETURN_IF_ERROR(r->Rewind());
  return r;
}

CriteoReader::CriteoReader(CriteoReaderOptions options, FILE* file,
                           ByteRange range)
    : options_(std::move(options)), file_(file), range_(range) {
  buf_.resize(std::max<size_t>(options_.buffer_bytes, 16));
}

CriteoReader::~CriteoReader() { std::fclose(file_); }

absl::Status CriteoReader::Fill() {
  buf_len_ = std::fread(buf_.data(), 1, buf_.size(), file_);
  buf_pos_ = 0;
  if (buf_len_ == 0) {
    if (std::ferror(file_)) {
      return absl::DataLossError(
          absl::StrCat("read error in '", options_.path, "'"));
    }
    eof_ = true;
  }
  return absl::OkStatus();
}

absl::Status CriteoReader::Rewind() {
  lines_ = 0;
  malformed_ = 0;
  eof_ = false;
  buf_pos_ = buf_len_ = 0;
  // A line starting before range_.begin belongs to the previous range: start
  // after the first newline at or after begin - 1.
  const uint64_t seek = range_.begin == 0 ? 0 : range_.begin - 1;
  if (std::fseek(file_, static_cast<long>(seek), SEEK_SET) != 0) {
    return absl::DataLossError(
        absl::StrCat("seek failed in '", options_.path, "'"));
  }
  file_pos_ = seek;
  if (range_.begin == 0) return absl::OkStatus();
  while (true) {
    if (buf_pos_ == buf_len_) {
      STRATA_RETURN_IF_ERROR(Fill());
      if (eof_) return absl::OkStatus();
    }
    const char* p = static_cast<const char*>(
        std::memchr(buf_.data() + buf_pos_, '\n', buf_len_ - buf_pos_));
    const size_t n = p == nullptr
                         ? buf_len_ - buf_pos_
                         : static_cast<size_t>(p - buf_.data()) - buf_pos_ + 1;
    buf_pos_ += n;
    file_pos_ += n;
    if (p != nullptr) return absl::OkStatus();
  }
}

absl::StatusOr<bool> CriteoReader::NextLine(std::string* line, bool* too_long) {
  line->clear();
  *too_long = false;
  if (file_pos_ >= range_.end) return false;
  bool any = false;
  while (true) {
    if (buf_pos_ == buf_len_) {
      STRATA_RETURN_IF_ERROR(Fill());
      if (eof_) return any;  // a last line without '\n' still counts
    }
    any = true;
    const char* p = static_cast<const char*>(
        std::memchr(buf_.data() + buf_pos_, '\n', buf_len_ - buf_pos_));
    const size_t end = p == nullptr ? buf_len_ : p - buf_.data();
    const size_t n = end - buf_pos_;
    if (!*too_long && line->size() + n <= options_.max_line_bytes) {
      line->append(buf_.data() + buf_pos_, n);
    } else {
      *too_long = true;
      line->clear();
    }
    const size_t consumed = n + (p != nullptr ? 1 : 0);
    buf_pos_ += consumed;
    file_pos_ += consumed;
    if (p != nullptr) return true;
  }
}

absl::StatusOr<bool> CriteoReader::Next(CtrExample* out) {
  bool too_long;
  while (true) {
    absl::StatusOr<bool> more = NextLine(&line_, &too_long);
    if (!more.ok() || !*more) return more;
    ++lines_;
    absl::Status s =
        too_long ? absl::InvalidArgumentError(absl::StrCat(
                       "longer than ", options_.max_line_bytes, " bytes"))
                 : ParseCriteoLine(line_, out);
    if (s.ok()) return true;
    ++malformed_;
    if (malformed_ <= options_.max_malformed_warnings) {
      LOG(WARNING) << options_.path << ": skipping malformed line " << lines_
                   << " of bytes [" << range_.begin << ", " << range_.end
                   << "): " << s.message()
                   << (malformed_ == options_.max_malformed_warnings
                           ? "; further malformed lines are counted, not "
                             "logged"
                           : "");
    }
  }
}

absl::StatusOr<int64_t> CriteoReader::CountLines() {
  STRATA_RETURN_IF_ERROR(Rewind());
  std::string line;
  bool too_long;
  int64_t n = 0;
  while (true) {
    STRATA_ASSIGN_OR_RETURN(const bool more, NextLine(&line, &too_long));
    if (!more) break;
    ++n;
  }
  STRATA_RETURN_IF_ERROR(Rewind());
  return n;
}

}  // namespace ctr
}  // namespace strata
