// The key -> row index of one SparseTable stripe, and the placement rule
// that puts a key in a stripe and a home slot from its KeyHash.
//
// Open addressing with linear probing; a key's home slot is the high bits of
// its slot hash. At most 3/4 full; rows are never removed.
#ifndef STRATA_SERVER_STORAGE_INTERNAL_KEY_INDEX_H_
#define STRATA_SERVER_STORAGE_INTERNAL_KEY_INDEX_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>

#include "server/router/router.h"

namespace strata {
namespace internal {

// Where a key lives in a SparseTable of `num_stripes` stripes, from its
// KeyHash: the stripe is a multiply-shift of the hash's low 32 bits (the
// router uses the high 32), so it is the same in every process; the home
// slot in the stripe's index is the high bits of SlotHash, a remix of the
// whole hash with the table's random seed, so that keys crafted to collide
// in KeyHash bits do not pile onto one slot.
inline uint32_t StripeOfHash(uint64_t key_hash, uint32_t num_stripes) {
  return static_cast<uint32_t>(
      (uint64_t{static_cast<uint32_t>(key_hash)} * num_stripes) >> 32);
}
// MurmurHash3's 64-bit finaliser of the key hash xor the table's seed.
inline uint64_t SlotHash(uint64_t key_hash, uint64_t seed) {
  uint64_t x = key_hash ^ seed;
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  return x ^ (x >> 33);
}
// Not thread-safe (the stripe's mutex guards it). Owns its slots.
class KeyIndex {
 public:
  static constexpr uint32_t kNoRow = ~uint32_t{0};
  // Bytes per slot, for memory accounting.
  static constexpr size_t kSlotBytes = 16;

  // `seed`: the table's SlotHash seed.
  explicit KeyIndex(uint64_t seed = 0) : seed_(seed) {}

  // The row of `key` (slot_hash == SlotHash(KeyHash(key), seed)), or kNoRow.
  uint32_t Find(uint64_t key, uint64_t slot_hash) const {
    if (size_ == 0) return kNoRow;
    for (size_t i = Home(slot_hash);; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.row == kNoRow) return kNoRow;
      if (s.key == key) return s.row;
    }
  }
  // The row of `key`, inserting it with row `new_row` (never kNoRow) when
  // missing; .second tells whether it was inserted.
  std::pair<uint32_t, bool> FindOrInsert(uint64_t key, uint64_t slot_hash,
                                         uint32_t new_row);
  // Starts loading the home slot of `slot_hash`.
  void Prefetch(uint64_t slot_hash) const {
    if (capacity_ != 0) __builtin_prefetch(&slots_[Home(slot_hash)]);
  }
  bool contains(uint64_t key, uint64_t slot_hash) const {
    return Find(key, slot_hash) != kNoRow;
  }
  size_t size() const { return size_; }
  size_t capacity() const { return capacity_; }

 private:
  struct Slot {
    uint64_t key;
    uint32_t row;  // kNoRow: empty
  };

  size_t Home(uint64_t slot_hash) const { return slot_hash >> shift_; }
  // Doubles the slots (16 at first) and re-inserts every key.
  void Grow();

  uint64_t seed_;
  std::unique_ptr<Slot[]> slots_;
  size_t capacity_ = 0;  // 0 or a power of two >= 16
  size_t mask_ = 0;
  int shift_ = 64;  // 64 - log2(capacity_)
  size_t size_ = 0;
};

}  // namespace internal
}  // namespace strata

#endif  // STRATA_SERVER_STORAGE_INTERNAL_KEY_INDEX_H_
