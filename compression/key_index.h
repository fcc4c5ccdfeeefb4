// Feature key -> small integer (cluster id or row id) maps with honest
// memory accounting. Two layouts:
//
// kFlatHashMap: absl::flat_hash_map<uint64_t, uint32_t>, reserved for n keys.
//   bytes = capacity() * (sizeof(std::pair<const uint64_t, uint32_t>) + 1)
//         = capacity() * 17   (16-byte padded slot + 1 control byte).
//   A uint16_t value would not help: the pair is padded to 16 bytes anyway.
//   capacity() is 2^m - 1 with a 7/8 maximum load, so 1.14x-2.3x n slots:
//   about 20-39 bytes per key.
//
// kCompact (default): a static, exact, sorted-by-hash table.
//   h = SplitMix64(key) (proto/base/hash.h), a bijection on 64-bit
//   integers, so equal hashes mean equal keys and membership is exact
//   (unseen keys are never confused with stored ones). Entries are sorted
//   by h. The top b bits of h select one of
//   2^b buckets (b = max(0, floor(log2 n) - bucket_log2), so 2^bucket_log2
//   to 2^(bucket_log2 + 1) keys per bucket); a directory of 2^b + 1 uint32_t
//   offsets gives each bucket's range; only the low r = 64 - b bits of h are
//   stored (bit-packed), and values are bit-packed at BitWidth(max_value)
//   bits. Lookup: one directory read and a binary search over the bucket's
//   ~16-32 remainders.
//   bytes = 4 * (2^b + 1) + 8 * ceil(n * r / 64) + 8 * ceil(n * w / 64)
//   e.g. n = 1M, w = 14 (k = 10k): b = 15, 0.13 + 6.13 + 1.75 = 8.0 B/key.
//
// Both count only the lookup structure's heap memory, not the object
// headers (tens of bytes).
#ifndef STRATA_COMPRESSION_KEY_INDEX_H_
#define STRATA_COMPRESSION_KEY_INDEX_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace strata::compression {

enum class IndexLayout {
  kCompact,      // ~8 B/key, O(log 32) probes; static (no inserts)
  kFlatHashMap,  // ~20-39 B/key, one probe on average
};

const char* IndexLayoutName(IndexLayout layout);

struct KeyIndexOptions {
  IndexLayout layout = IndexLayout::kCompact;
  // kCompact only: log2 of the smallest number of keys per bucket. Each +1
  // halves the directory (4 bytes per bucket) but doubles the stretch that a
  // lookup binary-searches and saves no remainder bits; 4 keeps the
  // directory under 0.25 B/key.
  int compact_bucket_log2 = 4;
};

// Immutable after Build; all methods are const and safe to call from any
// number of threads concurrently. Owns its storage.
class KeyIndex {
 public:
  virtual ~KeyIndex() = default;

  // The value stored for key, or nullopt if the key was not in the build.
  virtual std::optional<uint32_t> Find(uint64_t key) const = 0;
  virtual size_t size() const = 0;
  // Heap bytes of the structure (see the formulas above).
  virtual size_t bytes() const = 0;
  virtual IndexLayout layout() const = 0;
  // Calls fn(key, value) for every entry, in an unspecified order
  // (checkpoints, expansion back into plain rows).
  virtual void ForEach(
      const std::function<void(uint64_t key, uint32_t value)>& fn) const = 0;

  // Maps keys[i] -> values[i]. INVALID_ARGUMENT if the sizes differ, a value
  // exceeds max_value, there are more than 2^32 - 1 keys, or a key repeats
  // (the message names the key and both rows).
  static absl::StatusOr<std::unique_ptr<KeyIndex>> Build(
      absl::Span<const uint64_t> keys, absl::Span<const uint32_t> values,
      uint32_t max_value, const KeyIndexOptions& options);

  // bytes() of an index of n keys with values up to max_value, without
  // building it.
  static size_t PredictBytes(size_t n, uint32_t max_value,
                             const KeyIndexOptions& options);
};

}  // namespace strata::compression

#endif  // STRATA_COMPRESSION_KEY_INDEX_H_
