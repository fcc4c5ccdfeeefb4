#include "server/storage/internal/key_index.h"

namespace strata {
namespace internal {

std::pair<uint32_t, bool> KeyIndex::FindOrInsert(uint64_t key,
                                                 uint64_t slot_hash,
                                                 uint32_t new_row) {
  if ((size_ + 1) * 4 > capacity_ * 3) {
    Grow();
  }
  for (size_t i = Home(slot_hash);; i = (i + 1) & mask_) {
    Slot& s = slots_[i];
    if (s.row == kNoRow) {
      s = Slot{key, new_row};
      ++size_;
      return {new_row, true};
    }
    if (s.key == key) return {s.row, false};
  }
}

void KeyIndex::Grow() {
  const size_t old_capacity = capacity_;
  std::unique_ptr<Slot[]> old = std::move(slots_);
  capacity_ = old_capacity == 0 ? 16 : old_capacity * 2;
  mask_ = capacity_ - 1;
  shift_ = 64 - __builtin_ctzll(capacity_);
  slots_ = std::make_unique<Slot[]>(capacity_);
  for (size_t i = 0; i < capacity_; ++i) slots_[i].row = kNoRow;
  for (size_t j = 0; j < old_capacity; ++j) {
    const Slot& s = old[j];
    if (s.row == kNoRow) continue;
    const uint64_t h = SlotHash(KeyHash(s.key), seed_);
    for (size_t i = Home(h);; i = (i + 1) & mask_) {
      if (slots_[i].row == kNoRow) {
        slots_[i] = s;
        break;
      }
    }
  }
}

}  // namespace internal
}  // namespace strata
