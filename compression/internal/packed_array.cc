#include "compression/internal/packed_array.h"

#include <utility>

#include "glog/logging.h"

namespace strata::compression::internal {

PackedArray::PackedArray(size_t size, int width)
    : size_(size),
      width_(width),
      mask_(width == 64 ? ~uint64_t{0} : (uint64_t{1} << width) - 1),
      words_(BytesFor(size, width) / sizeof(uint64_t), 0) {
  CHECK(width >= 1 && width <= 64) << width;
}

PackedArray PackedArray::FromWords(size_t size, int width,
                                   std::vector<uint64_t> words) {
  PackedArray a(0, width);
  CHECK_EQ(words.size(), BytesFor(size, width) / sizeof(uint64_t));
  a.size_ = size;
  a.words_ = std::move(words);
  return a;
}

void PackedArray::Set(size_t i, uint64_t value) {
  value &= mask_;
  const size_t bit = i * width_;
  const size_t word = bit >> 6;
  const int shift = static_cast<int>(bit & 63);
  words_[word] = (words_[word] & ~(mask_ << shift)) | (value << shift);
  if (shift + width_ > 64) {
    const int spill = 64 - shift;  // bits already written
    const uint64_t high_mask = mask_ >> spill;
    words_[word + 1] = (words_[word + 1] & ~high_mask) | (value >> spill);
  }
}

int BitWidth(uint64_t max_value) {
  int w = 1;
  while (w < 64 && (max_value >> w) != 0) ++w;
  return w;
}

}  // namespace strata::compression::internal
