#include "compression/key_index.h"

#include <algorithm>
#include <limits>
#include <numeric>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "compression/internal/packed_array.h"
#include "proto/base/hash.h"

namespace strata::compression {
namespace {

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

absl::Status DuplicateKeyError(uint64_t key, size_t row_a, size_t row_b) {
  return absl::InvalidArgumentError(
      absl::StrCat("duplicate key ", key, " at rows ", std::min(row_a, row_b),
                   " and ", std::max(row_a, row_b)));
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
  std::vector<std::pair<uint64_t, uint32_t>> entries(n);  // (hash, row)
  for (size_t i = 0; i < n; ++i) {
    entries[i] = {SplitMix64(keys[i]), static_cast<uint32_t>(i)};
  }
  std::sort(entries.begin(), entries.end());
  for (size_t i = 1; i < n; ++i) {
    if (entries[i].first == entries[i - 1].first) {
      return DuplicateKeyError(keys[entries[i].second], entries[i - 1].second,
                               entries[i].second);
    }
  }
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
  return layout == IndexLayout::kCompact ? "compact" : "flat_hash_map";
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
  return BuildCompact(keys, values, max_value, options.compact_bucket_log2);
}

size_t KeyIndex::PredictBytes(size_t n, uint32_t max_value,
                              const KeyIndexOptions& options) {
  if (options.layout == IndexLayout::kFlatHashMap) {
    FlatMap map;
    map.reserve(n);
    return map.capacity() * (kFlatSlotBytes + 1);
  }
  const int b = CompactBucketBits(n, options.compact_bucket_log2);
  return ((size_t{1} << b) + 1) * sizeof(uint32_t) +
         PackedArray::BytesFor(n, 64 - b) +
         PackedArray::BytesFor(n, internal::BitWidth(max_value));
}

}  // namespace strata::compression
