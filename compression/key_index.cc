#include "compression/key_index.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <numeric>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "compression/internal/bbhash_mphf.h"
#include "compression/internal/packed_array.h"
#include "glog/logging.h"
#include "proto/base/hash.h"
#include "proto/base/status_macros.h"

namespace strata::compression {
namespace {

using internal::BBHashMphf;
using internal::PackedArray;

using FlatMap = absl::flat_hash_map<uint64_t, uint32_t>;
constexpr size_t kFlatSlotBytes = sizeof(std::pair<const uint64_t, uint32_t>);

class FlatIndex final : public KeyIndex {
 public:
  explicit FlatIndex(FlatMap map) : map_(std::move(map)) {}
  std::optional<uint32_t> Find(uint64_t key) const override {
    auto it = map_.find(key);
    if (it == map_.end()) return std::nullopt;
    return it->second;
  }
  size_t size() const override { return map_.size(); }
  size_t bytes() const override {
    return map_.capacity() * (kFlatSlotBytes + 1);
  }
  IndexLayout layout() const override { return IndexLayout::kFlatHashMap; }
  void ForEach(
      const std::function<void(uint64_t, uint32_t)>& fn) const override {
    for (const auto& [key, value] : map_) fn(key, value);
  }

 private:
  const FlatMap map_;  // constant after construction
};

int CompactBucketBits(size_t n, int bucket_log2) {
  int log2n = 0;
  while ((size_t{2} << log2n) <= n) ++log2n;  // floor(log2 n) for n >= 1
  return std::clamp(log2n - std::max(0, bucket_log2), 0, 32);
}

class CompactIndex final : public KeyIndex {
 public:
  CompactIndex(int bucket_bits, std::vector<uint32_t> directory,
               PackedArray remainders, PackedArray values)
      : bucket_bits_(bucket_bits),
        directory_(std::move(directory)),
        remainders_(std::move(remainders)),
        values_(std::move(values)) {}

  std::optional<uint32_t> Find(uint64_t key) const override {
    const uint64_t h = SplitMix64(key);
    const uint64_t bucket = bucket_bits_ == 0 ? 0 : h >> (64 - bucket_bits_);
    const uint64_t rem =
        bucket_bits_ == 0 ? h : h & ((uint64_t{1} << (64 - bucket_bits_)) - 1);
    size_t lo = directory_[bucket], hi = directory_[bucket + 1];
    while (lo < hi) {  // lower_bound over the bucket's sorted remainders
      const size_t mid = lo + (hi - lo) / 2;
      if (remainders_.Get(mid) < rem) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    if (lo == directory_[bucket + 1] || remainders_.Get(lo) != rem) {
      return std::nullopt;
    }
    return static_cast<uint32_t>(values_.Get(lo));
  }
  size_t size() const override { return values_.size(); }
  void ForEach(
      const std::function<void(uint64_t, uint32_t)>& fn) const override {
    // Entry i of bucket b holds the low bits of h = SplitMix64(key); the
    // bucket supplies the high bits, and SplitMix64 is invertible.
    const int r = 64 - bucket_bits_;
    for (size_t b = 0; b + 1 < directory_.size(); ++b) {
      const uint64_t high = bucket_bits_ == 0 ? 0 : uint64_t{b} << r;
      for (size_t i = directory_[b]; i < directory_[b + 1]; ++i) {
        const uint64_t h = high | remainders_.Get(i);
        fn(SplitMix64Inverse(h), static_cast<uint32_t>(values_.Get(i)));
      }
    }
  }
  size_t bytes() const override {
    return directory_.size() * sizeof(uint32_t) + remainders_.bytes() +
           values_.bytes();
  }
  IndexLayout layout() const override { return IndexLayout::kCompact; }

 private:
  // Constant after construction.
  const int bucket_bits_;
  const std::vector<uint32_t> directory_;
  const PackedArray remainders_;
  const PackedArray values_;
};

// The f-bit fingerprint of a key: the top f bits of SplitMix64(key) (BBHash
// hashes with its own, unrelated functions). 0 when f == 0.
uint64_t Fingerprint(uint64_t key, int f) {
  return f == 0 ? 0 : SplitMix64(key) >> (64 - f);
}

// A packed array of n entries of `width` bits; empty when width is 0.
PackedArray MaybePacked(size_t n, int width) {
  return width == 0 ? PackedArray() : PackedArray(n, width);
}

class MphIndex final : public KeyIndex {
 public:
  MphIndex(BBHashMphf mph, int fingerprint_bits, PackedArray values,
           PackedArray fingerprints)
      : mph_(std::move(mph)),
        fingerprint_bits_(fingerprint_bits),
        values_(std::move(values)),
        fingerprints_(std::move(fingerprints)) {}

  std::optional<uint32_t> Find(uint64_t key) const override {
    const uint64_t pos = mph_.Lookup(key);
    if (pos == BBHashMphf::kNotFound) return std::nullopt;
    if (fingerprint_bits_ > 0 &&
        fingerprints_.Get(pos) != Fingerprint(key, fingerprint_bits_)) {
      return std::nullopt;
    }
    return static_cast<uint32_t>(values_.Get(pos));
  }
  size_t size() const override { return mph_.size(); }
  size_t bytes() const override {
    return mph_.bytes() + values_.bytes() + fingerprints_.bytes();
  }
  IndexLayout layout() const override { return IndexLayout::kMph; }
  bool enumerable() const override { return false; }
  void ForEach(const std::function<void(uint64_t, uint32_t)>&) const override {
    LOG(FATAL) << "a minimal-perfect-hash key index stores no keys";
  }
  absl::StatusOr<std::string> Serialize() const override;

 private:
  // Constant after construction.
  const BBHashMphf mph_;
  const int fingerprint_bits_;
  const PackedArray values_;        // by MPH position
  const PackedArray fingerprints_;  // by MPH position; empty when f == 0
};

template <typename T>
void Put(std::string* out, T v) {
  out->append(reinterpret_cast<const char*>(&v), sizeof(v));
}

void PutWords(std::string* out, const std::vector<uint64_t>& words) {
  out->append(reinterpret_cast<const char*>(words.data()),
              words.size() * sizeof(uint64_t));
}

// Copies `count` words off the front of *b (which holds them).
std::vector<uint64_t> TakeWords(absl::string_view* b, size_t count) {
  std::vector<uint64_t> words(count);
  if (count > 0) std::memcpy(words.data(), b->data(), count * 8);
  b->remove_prefix(count * 8);
  return words;
}

absl::Status CorruptIndex(absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("corrupt key index: ", what));
}

// Serialized MPH index (docs/checkpoint.md, section 0x05):
//   u32 f | u32 w | u64 n | u64 L | L bytes of BBHash | values (ceil(n w /
//   64) u64 words) | fingerprints (ceil(n f / 64) u64 words).
constexpr size_t kMphHeaderBytes = 4 + 4 + 8 + 8;

absl::StatusOr<std::string> MphIndex::Serialize() const {
  STRATA_ASSIGN_OR_RETURN(const std::string mph, mph_.Serialize());
  std::string out;
  out.reserve(kMphHeaderBytes + mph.size() + values_.bytes() +
              fingerprints_.bytes());
  Put<uint32_t>(&out, static_cast<uint32_t>(fingerprint_bits_));
  Put<uint32_t>(&out, static_cast<uint32_t>(values_.width()));
  Put<uint64_t>(&out, mph_.size());
  Put<uint64_t>(&out, mph.size());
  out += mph;
  PutWords(&out, values_.words());
  PutWords(&out, fingerprints_.words());
  return out;
}

absl::Status DuplicateKeyError(uint64_t key, size_t row_a, size_t row_b) {
  return absl::InvalidArgumentError(
      absl::StrCat("duplicate key ", key, " at rows ", std::min(row_a, row_b),
                   " and ", std::max(row_a, row_b)));
}

using HashAndRow = std::pair<uint64_t, uint32_t>;

// (SplitMix64(keys[i]), i) sorted by hash; INVALID_ARGUMENT naming the key
// and both rows if a key repeats (SplitMix64 is a bijection).
absl::StatusOr<std::vector<HashAndRow>> SortedByHash(
    absl::Span<const uint64_t> keys) {
  std::vector<HashAndRow> entries(keys.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    entries[i] = {SplitMix64(keys[i]), static_cast<uint32_t>(i)};
  }
  std::sort(entries.begin(), entries.end());
  for (size_t i = 1; i < entries.size(); ++i) {
    if (entries[i].first == entries[i - 1].first) {
      return DuplicateKeyError(keys[entries[i].second], entries[i - 1].second,
                               entries[i].second);
    }
  }
  return entries;
}

absl::StatusOr<std::unique_ptr<KeyIndex>> BuildMph(
    absl::Span<const uint64_t> keys, absl::Span<const uint32_t> values,
    uint32_t max_value, int fingerprint_bits) {
  if (fingerprint_bits < 0 ||
      fingerprint_bits > KeyIndexOptions::kMaxFingerprintBits) {
    return absl::InvalidArgumentError(
        absl::StrCat("fingerprint_bits ", fingerprint_bits, " is outside [0, ",
                     KeyIndexOptions::kMaxFingerprintBits, "]"));
  }
  STRATA_RETURN_IF_ERROR(SortedByHash(keys).status());  // distinct keys
  STRATA_ASSIGN_OR_RETURN(BBHashMphf mph, BBHashMphf::Build(keys));
  const size_t n = keys.size();
  PackedArray packed(n, internal::BitWidth(max_value));
  PackedArray fingerprints = MaybePacked(n, fingerprint_bits);
  for (size_t i = 0; i < n; ++i) {
    const uint64_t pos = mph.Lookup(keys[i]);
    if (pos == BBHashMphf::kNotFound) {
      return absl::InternalError(absl::StrCat(
          "the minimal perfect hash lost key ", keys[i], " of its build"));
    }
    packed.Set(pos, values[i]);
    if (fingerprint_bits > 0) {
      fingerprints.Set(pos, Fingerprint(keys[i], fingerprint_bits));
    }
  }
  return std::make_unique<MphIndex>(std::move(mph), fingerprint_bits,
                                    std::move(packed), std::move(fingerprints));
}

absl::StatusOr<std::unique_ptr<KeyIndex>> BuildFlat(
    absl::Span<const uint64_t> keys, absl::Span<const uint32_t> values) {
  FlatMap map;
  map.reserve(keys.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    auto [it, inserted] = map.emplace(keys[i], static_cast<uint32_t>(i));
    if (!inserted) return DuplicateKeyError(keys[i], it->second, i);
  }
  for (auto& [key, value] : map) value = values[value];  // row -> value
  return std::make_unique<FlatIndex>(std::move(map));
}

absl::StatusOr<std::unique_ptr<KeyIndex>> BuildCompact(
    absl::Span<const uint64_t> keys, absl::Span<const uint32_t> values,
    uint32_t max_value, int bucket_log2) {
  const size_t n = keys.size();
  STRATA_ASSIGN_OR_RETURN(const std::vector<HashAndRow> entries,
                          SortedByHash(keys));
  const int b = CompactBucketBits(n, bucket_log2);
  const int r = 64 - b;
  std::vector<uint32_t> directory((size_t{1} << b) + 1, 0);
  PackedArray remainders(n, r);
  PackedArray packed_values(n, internal::BitWidth(max_value));
  for (size_t i = 0; i < n; ++i) {
    const uint64_t h = entries[i].first;
    if (b > 0) ++directory[(h >> r) + 1];
    remainders.Set(i, r == 64 ? h : h & ((uint64_t{1} << r) - 1));
    packed_values.Set(i, values[entries[i].second]);
  }
  if (b == 0) directory[1] = static_cast<uint32_t>(n);
  for (size_t j = 1; j < directory.size(); ++j)
    directory[j] += directory[j - 1];
  return std::make_unique<CompactIndex>(
      b, std::move(directory), std::move(remainders), std::move(packed_values));
}

}  // namespace

const char* IndexLayoutName(IndexLayout layout) {
  switch (layout) {
    case IndexLayout::kCompact:
      return "compact";
    case IndexLayout::kFlatHashMap:
      return "flat_hash_map";
    case IndexLayout::kMph:
      return "mph";
  }
  return "unknown";
}

absl::StatusOr<std::string> KeyIndex::Serialize() const {
  return absl::FailedPreconditionError(
      absl::StrCat("a ", IndexLayoutName(layout()),
                   " key index is saved as (key, value) pairs"));
}

absl::StatusOr<std::unique_ptr<KeyIndex>> KeyIndex::Build(
    absl::Span<const uint64_t> keys, absl::Span<const uint32_t> values,
    uint32_t max_value, const KeyIndexOptions& options) {
  if (keys.size() != values.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "keys has ", keys.size(), " entries but values has ", values.size()));
  }
  if (keys.size() > std::numeric_limits<uint32_t>::max()) {
    return absl::InvalidArgumentError(
        absl::StrCat(keys.size(), " keys exceed the 2^32 - 1 limit"));
  }
  for (size_t i = 0; i < values.size(); ++i) {
    if (values[i] > max_value) {
      return absl::InvalidArgumentError(
          absl::StrCat("value ", values[i], " of row ", i,
                       " exceeds max_value ", max_value));
    }
  }
  if (options.layout == IndexLayout::kFlatHashMap)
    return BuildFlat(keys, values);
  if (options.layout == IndexLayout::kMph) {
    return BuildMph(keys, values, max_value, options.fingerprint_bits);
  }
  return BuildCompact(keys, values, max_value, options.compact_bucket_log2);
}

absl::StatusOr<std::unique_ptr<KeyIndex>> KeyIndex::Deserialize(
    absl::string_view b, uint64_t n, uint32_t max_value) {
  if (b.size() < kMphHeaderBytes) return CorruptIndex("truncated header");
  uint32_t f, w;
  uint64_t stored_n, mph_len;
  std::memcpy(&f, b.data(), 4);
  std::memcpy(&w, b.data() + 4, 4);
  std::memcpy(&stored_n, b.data() + 8, 8);
  std::memcpy(&mph_len, b.data() + 16, 8);
  b.remove_prefix(kMphHeaderBytes);
  // n <= 8 * bytes: every key has at least one value bit.
  if (f > KeyIndexOptions::kMaxFingerprintBits ||
      w != static_cast<uint32_t>(internal::BitWidth(max_value)) ||
      stored_n != n || n > std::numeric_limits<uint32_t>::max() ||
      n > b.size() * 8) {
    return CorruptIndex(absl::StrCat(n, " keys of ", w, " value bits and ", f,
                                     " fingerprint bits (stored ", stored_n,
                                     " keys)"));
  }
  const size_t value_words = PackedArray::BytesFor(n, w) / 8;
  const size_t fp_words = PackedArray::BytesFor(n, f) / 8;
  if (mph_len > b.size() ||
      b.size() - mph_len != (value_words + fp_words) * 8) {
    return CorruptIndex(absl::StrCat("lengths (", mph_len, " bytes of MPH, ",
                                     b.size(), " bytes in all)"));
  }
  STRATA_ASSIGN_OR_RETURN(BBHashMphf mph,
                          BBHashMphf::Deserialize(b.substr(0, mph_len), n));
  b.remove_prefix(mph_len);
  PackedArray values = PackedArray::FromWords(n, static_cast<int>(w),
                                              TakeWords(&b, value_words));
  for (size_t i = 0; i < n; ++i) {
    if (values.Get(i) > max_value) {
      return CorruptIndex(
          absl::StrCat("value ", values.Get(i), " exceeds ", max_value));
    }
  }
  PackedArray fingerprints =
      f == 0 ? PackedArray()
             : PackedArray::FromWords(n, static_cast<int>(f),
                                      TakeWords(&b, fp_words));
  return std::make_unique<MphIndex>(std::move(mph), static_cast<int>(f),
                                    std::move(values), std::move(fingerprints));
}

size_t KeyIndex::PredictBytes(size_t n, uint32_t max_value,
                              const KeyIndexOptions& options) {
  if (options.layout == IndexLayout::kFlatHashMap) {
    FlatMap map;
    map.reserve(n);
    return map.capacity() * (kFlatSlotBytes + 1);
  }
  if (options.layout == IndexLayout::kMph) {
    const int f = std::clamp(options.fingerprint_bits, 0,
                             KeyIndexOptions::kMaxFingerprintBits);
    return BBHashMphf::PredictBytes(n) +
           PackedArray::BytesFor(n, internal::BitWidth(max_value)) +
           PackedArray::BytesFor(n, f);
  }
  const int b = CompactBucketBits(n, options.compact_bucket_log2);
  return ((size_t{1} << b) + 1) * sizeof(uint32_t) +
         PackedArray::BytesFor(n, 64 - b) +
         PackedArray::BytesFor(n, internal::BitWidth(max_value));
}

}  // namespace strata::compression
