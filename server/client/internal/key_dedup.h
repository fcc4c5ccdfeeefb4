// De-duplicating batch keys is on the client's hot path (every pull and
// push). KeyDedup is an open-addressing table (linear probing, power-of-two
// capacity, load <= 1/2) that maps each distinct key of a batch to a dense
// index 0, 1, 2, ... in order of first appearance. It is reused across
// batches: Reset() is O(1) (a generation counter invalidates old slots), so
// steady-state batches allocate nothing and touch only warm memory.
#ifndef STRATA_SERVER_CLIENT_INTERNAL_KEY_DEDUP_H_
#define STRATA_SERVER_CLIENT_INTERNAL_KEY_DEDUP_H_

#include <cstddef>
#include <cstdint>
#include <vector>

namespace strata {
namespace internal {

// Not thread-safe; use one per thread (the client keeps a thread_local one).
class KeyDedup {
 public:
  // Prepares for a batch of at most `max_keys` keys.
  void Reset(size_t max_keys);

  // Returns the dense index of `key`, assigning the next one if the key is
  // new in this batch; *inserted tells which.
  uint32_t Insert(uint64_t key, bool* inserted) {
    size_t slot = Hash(key) & mask_;
    while (true) {
      Slot& s = slots_[slot];
      if (s.generation != generation_) {
        s.generation = generation_;
        s.key = key;
        s.index = size_++;
        *inserted = true;
        return s.index;
      }
      if (s.key == key) {
        *inserted = false;
        return s.index;
      }
      slot = (slot + 1) & mask_;
    }
  }

  // Distinct keys inserted since Reset().
  uint32_t size() const { return size_; }

 private:
  struct Slot {
    uint64_t key;
    uint32_t index;
    uint32_t generation;
  };
  static uint64_t Hash(uint64_t k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    return k;
  }

  std::vector<Slot> slots_;
  size_t mask_ = 0;
  uint32_t generation_ = 0;
  uint32_t size_ = 0;
};

}  // namespace internal
}  // namespace strata

#endif  // STRATA_SERVER_CLIENT_INTERNAL_KEY_DEDUP_H_
