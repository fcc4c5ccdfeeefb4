#include "server/client/internal/key_dedup.h"

namespace strata {
namespace internal {

void KeyDedup::Reset(size_t max_keys) {
  size_t capacity = 16;
  while (capacity < 2 * max_keys) capacity <<= 1;
  if (capacity > slots_.size()) {
    slots_.assign(capacity, Slot{0, 0, 0});
    generation_ = 0;
  }
  mask_ = capacity - 1;
  size_ = 0;
  if (++generation_ == 0) {  // wrapped: clear stale generations for real
    for (Slot& s : slots_) s.generation = 0;
    generation_ = 1;
  }
}

}  // namespace internal
}  // namespace strata
