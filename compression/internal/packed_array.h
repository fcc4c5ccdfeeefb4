// A fixed-length array of unsigned integers of `width` bits each (1..64),
// packed back to back in 64-bit words.
#ifndef STRATA_COMPRESSION_INTERNAL_PACKED_ARRAY_H_
#define STRATA_COMPRESSION_INTERNAL_PACKED_ARRAY_H_

#include <cstddef>
#include <cstdint>
#include <vector>

namespace strata::compression::internal {

// Owns its words. Not thread-safe for writers; concurrent Get()s are fine.
class PackedArray {
 public:
  PackedArray() = default;
  PackedArray(size_t size, int width);

  size_t size() const { return size_; }
  int width() const { return width_; }
  // Heap bytes of the packed words: 8 * ceil(size * width / 64).
  size_t bytes() const { return words_.size() * sizeof(uint64_t); }

  // value must fit in width bits (higher bits are dropped).
  void Set(size_t i, uint64_t value);
  uint64_t Get(size_t i) const {
    const size_t bit = i * width_;
    const size_t word = bit >> 6;
    const int shift = static_cast<int>(bit & 63);
    uint64_t v = words_[word] >> shift;
    if (shift + width_ > 64) v |= words_[word + 1] << (64 - shift);
    return v & mask_;
  }

  // The packed words (for serialization) and the inverse: `words` must
  // hold exactly BytesFor(size, width) / 8 words (CHECKed).
  const std::vector<uint64_t>& words() const { return words_; }
  static PackedArray FromWords(size_t size, int width,
                               std::vector<uint64_t> words);

  static size_t BytesFor(size_t size, int width) {
    return (size * width + 63) / 64 * sizeof(uint64_t);
  }

 private:
  size_t size_ = 0;
  int width_ = 1;
  uint64_t mask_ = 1;
  std::vector<uint64_t> words_;
};

// Bits needed to store values in [0, max_value]: at least 1.
int BitWidth(uint64_t max_value);

}  // namespace strata::compression::internal

#endif  // STRATA_COMPRESSION_INTERNAL_PACKED_ARRAY_H_
