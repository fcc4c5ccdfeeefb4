#include "server/storage/internal/sliced_floats_testing.h"

#include <algorithm>
#include <cstring>

namespace strata {
namespace internal {

SlicedFloats::SlicedFloats(absl::Span<const float> floats, size_t cut,
                           size_t shift) {
  const char* base = Store(floats, shift);
  const size_t bytes = floats.size() * sizeof(float);
  for (size_t at = 0; at < bytes; at += cut) {
    pieces_.emplace_back(base + at, std::min(cut, bytes - at));
  }
}

SlicedFloats::SlicedFloats(absl::Span<const float> floats,
                           const std::vector<size_t>& sizes, size_t shift) {
  const char* base = Store(floats, shift);
  const size_t bytes = floats.size() * sizeof(float);
  size_t at = 0;
  for (size_t s : sizes) {
    if (at + s > bytes) break;
    pieces_.emplace_back(base + at, s);
    at += s;
  }
  pieces_.emplace_back(base + at, bytes - at);
}

const char* SlicedFloats::Store(absl::Span<const float> floats, size_t shift) {
  const size_t bytes = floats.size() * sizeof(float);
  storage_.assign(bytes + shift + 8, '\0');
  // std::string's buffer is at least 8-byte aligned (operator new).
  char* base = storage_.data() + shift;
  if (bytes != 0) std::memcpy(base, floats.data(), bytes);
  return base;
}

bool SlicedFloats::Holds(const void* p) const {
  const char* c = static_cast<const char*>(p);
  return c >= storage_.data() && c < storage_.data() + storage_.size();
}

}  // namespace internal
}  // namespace strata
