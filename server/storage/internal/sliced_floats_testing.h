// Test helper: floats laid out as a received message's slices hold them,
// for tests of GradientRows and of what reads it.
#ifndef STRATA_SERVER_STORAGE_INTERNAL_SLICED_FLOATS_TESTING_H_
#define STRATA_SERVER_STORAGE_INTERNAL_SLICED_FLOATS_TESTING_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace strata {
namespace internal {

// A copy of `floats` starting `shift` bytes past an aligned address (so
// that floats lie at odd addresses when shift % 4 != 0), cut into pieces.
// Owns the bytes; not copyable (the pieces point into them).
class SlicedFloats {
 public:
  // Pieces of `cut` bytes (> 0), the last shorter.
  SlicedFloats(absl::Span<const float> floats, size_t cut, size_t shift);
  // Pieces of `sizes` bytes in turn (0 allowed) while they fit, then one
  // piece with the rest.
  SlicedFloats(absl::Span<const float> floats, const std::vector<size_t>& sizes,
               size_t shift);
  SlicedFloats(const SlicedFloats&) = delete;
  SlicedFloats& operator=(const SlicedFloats&) = delete;

  const std::vector<absl::string_view>& pieces() const { return pieces_; }
  // Whether `p` points into the pieces' bytes.
  bool Holds(const void* p) const;

 private:
  // Copies `floats` to storage_ + shift; returns where they start.
  const char* Store(absl::Span<const float> floats, size_t shift);

  std::string storage_;
  std::vector<absl::string_view> pieces_;
};

}  // namespace internal
}  // namespace strata

#endif  // STRATA_SERVER_STORAGE_INTERNAL_SLICED_FLOATS_TESTING_H_
