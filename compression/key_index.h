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
// kCompact (library default): a static, exact, sorted-by-hash table.
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
// kMph: a minimal perfect hash, bit-packed values and an f-bit
//   fingerprint per key; it stores no keys. BBHash (gamma = 2, Debian's
//   libbbhash-dev, compression/internal/bbhash_mphf.h) maps each key of
//   the build to a distinct position p in [0, n); values[p] is its value
//   (w = BitWidth(max_value) bits) and fp[p] the top f bits of
//   SplitMix64(key) (f = fingerprint_bits, 0..32). Lookup: the MPH (one
//   bit test per level, ~1.6 levels for a stored key, then a rank over at
//   most 8 words), one fingerprint and one value read. An unseen key is
//   recognised (nullopt) unless the MPH sends it to a position whose
//   fingerprint happens to match: probability 2^-f (f = 0: every unseen
//   key that the MPH places gets some stored key's value).
//   bytes = mph + 8 * ceil(n * w / 64) + 8 * ceil(n * f / 64), where
//   mph = 8 * sum over its 25 levels of (words + ranks) ~ 3.7 bits/key
//   (gamma * e^(1/gamma) bits plus a 64-bit rank per 512) and ~48 bytes
//   per key of the library's final map (a handful of keys).
//   e.g. n = 1M, w = 6 (k = 64), f = 8: 0.46 + 0.75 + 1.0 = 2.2 B/key.
//   Not enumerable: ForEach is unavailable (enumerable() is false), so
//   checkpoints serialize the structure itself (Serialize/Deserialize).
//
// All count only the lookup structure's heap memory, not the object
// headers (tens of bytes).
#ifndef STRATA_COMPRESSION_KEY_INDEX_H_
#define STRATA_COMPRESSION_KEY_INDEX_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace strata::compression {

enum class IndexLayout {
  kCompact,      // ~8 B/key, O(log 32) probes; static (no inserts)
  kFlatHashMap,  // ~20-39 B/key, one probe on average
  kMph,          // ~0.5 B/key + values + fingerprints; not enumerable
};

const char* IndexLayoutName(IndexLayout layout);

struct KeyIndexOptions {
  // The fingerprint width when none is named (SaecConfig's default,
  // server/storage/compressed_table.cc, is this one). Chosen from the
  // figures in docs/saec.md ("Key index").
  static constexpr int kDefaultFingerprintBits = 8;
  static constexpr int kMaxFingerprintBits = 32;

  // The library default; the server's default is SaecConfig's.
  IndexLayout layout = IndexLayout::kCompact;
  // kMph only: bits of fingerprint per key, 0..kMaxFingerprintBits. An
  // unseen key reads a stored key's value with probability 2^-f.
  int fingerprint_bits = kDefaultFingerprintBits;
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
  // Whether ForEach can list the keys (false for kMph, which stores none).
  virtual bool enumerable() const { return true; }
  // Calls fn(key, value) for every entry, in an unspecified order
  // (checkpoints, expansion back into plain rows). Only if enumerable()
  // (CHECKed: calling it otherwise is a bug).
  virtual void ForEach(
      const std::function<void(uint64_t key, uint32_t value)>& fn) const = 0;
  // kMph only: the whole structure as bytes (docs/checkpoint.md, section
  // 0x05). FAILED_PRECONDITION for the enumerable layouts (they are saved
  // as (key, value) pairs); RESOURCE_EXHAUSTED if the MPH library threw.
  virtual absl::StatusOr<std::string> Serialize() const;

  // Maps keys[i] -> values[i]. INVALID_ARGUMENT if the sizes differ, a value
  // exceeds max_value, there are more than 2^32 - 1 keys, a key repeats
  // (the message names the key and both rows), or fingerprint_bits is
  // outside [0, 32] for kMph; RESOURCE_EXHAUSTED if the MPH library threw
  // (out of memory). Deterministic: the same keys and values in the same
  // order give the same structure.
  static absl::StatusOr<std::unique_ptr<KeyIndex>> Build(
      absl::Span<const uint64_t> keys, absl::Span<const uint32_t> values,
      uint32_t max_value, const KeyIndexOptions& options);

  // The inverse of Serialize() for an index of `n` keys whose values are
  // at most max_value. INVALID_ARGUMENT (never a crash, never an
  // allocation beyond a small multiple of bytes.size()) if the bytes are
  // not such an index: wrong lengths, widths, a value above max_value.
  static absl::StatusOr<std::unique_ptr<KeyIndex>> Deserialize(
      absl::string_view bytes, uint64_t n, uint32_t max_value);

  // bytes() of an index of n keys with values up to max_value, without
  // building it.
  static size_t PredictBytes(size_t n, uint32_t max_value,
                             const KeyIndexOptions& options);
};

}  // namespace strata::compression

#endif  // STRATA_COMPRESSION_KEY_INDEX_H_
