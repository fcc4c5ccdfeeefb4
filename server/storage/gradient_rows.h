// The gradients of one push, as rows of `dim` floats: row i for the batch's
// key i. They are either one array of floats or, on the shard's wire path,
// the bytes of a received message read in place: pieces of memory laid end
// to end (gRPC's slices), at any byte alignment, a row possibly split over
// two pieces. Reading them in place saves copying the whole payload out of
// the slices before a push (docs/benchmarks.md, issue 16).
#ifndef STRATA_SERVER_STORAGE_GRADIENT_ROWS_H_
#define STRATA_SERVER_STORAGE_GRADIENT_ROWS_H_

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace strata {

// size() floats; rows() = size() / dim rows (a size that is not a multiple
// of dim is the caller's to refuse: the tables check it first, and
// floats past the last whole row are not readable). Row(i) hands out row i
// in place when it lies in one piece at a 4-byte aligned address, else
// copies it to the caller's buffer; rows split over two pieces are copied
// once, when the pieces are assigned. Does not own the floats or pieces
// (they must outlive every read); owns its row table, those copies and
// AssignReceived's copy of short rows, kept for the next push. Movable (the row
// table points into its own copies, which move with it), not copyable; not
// thread-safe.
class GradientRows {
 public:
  GradientRows() = default;
  // Rows in one array of floats.
  GradientRows(absl::Span<const float> floats, uint32_t dim)
      : dim_(dim), size_(floats.size()), contiguous_(floats.data()) {}
  GradientRows(const GradientRows&) = delete;
  GradientRows& operator=(const GradientRows&) = delete;
  GradientRows(GradientRows&&) = default;
  GradientRows& operator=(GradientRows&&) = default;

  // As the constructor, keeping this object's memory for a later Assign.
  void Assign(absl::Span<const float> floats, uint32_t dim) {
    dim_ = dim;
    size_ = floats.size();
    contiguous_ = floats.data();
  }
  // Rows in `pieces` laid end to end (empty pieces allowed); their total
  // size must be a multiple of 4 bytes (CHECKed: callers check it first, as
  // a packed-float field's size). dim > 0.
  void Assign(absl::Span<const absl::string_view> pieces, uint32_t dim);

  // Rows shorter than this are pushed faster from one array than in place
  // (sparse_table_benchmark BM_ShardPushFromSlices: dim 16 10-12% slower
  // in place, dim 64 11-16% faster; docs/benchmarks.md, issue 16).
  static constexpr size_t kMinInPlaceRowBytes = 256;
  // Memory Release() keeps for the next push.
  static constexpr size_t kMaxRetainedBytes = size_t{16} << 20;

  // The gradients of a received push of `expected_rows` keys: in place
  // when they are one piece at a 4-byte aligned address (one array), or
  // that many rows of at least kMinInPlaceRowBytes (Assign); else copied
  // into one aligned array this object owns (a payload of another size is
  // then refused by the table's size check). The total size must be a
  // multiple of 4 bytes (CHECKed).
  void AssignReceived(absl::Span<const absl::string_view> pieces, uint32_t dim,
                      size_t expected_rows);
  // Forgets the floats; frees memory over kMaxRetainedBytes.
  void Release();

  uint32_t dim() const { return dim_; }
  size_t size() const { return size_; }
  size_t rows() const { return dim_ == 0 ? 0 : size_ / dim_; }

  // Row i (< rows()): in place if it can be read so, else copied to
  // `buffer` (room for dim() floats). Valid while the pieces are.
  const float* Row(size_t i, float* buffer) const {
    if (contiguous_ != nullptr) return contiguous_ + i * dim_;
    const char* p = row_at_[i];
    if (reinterpret_cast<uintptr_t>(p) % alignof(float) == 0) {
      return reinterpret_cast<const float*>(p);
    }
    CopyRow(p, buffer);
    return buffer;
  }
  // The first byte of row i (< rows()), for prefetching.
  const char* RowBytes(size_t i) const {
    return contiguous_ != nullptr
               ? reinterpret_cast<const char*>(contiguous_ + i * dim_)
               : row_at_[i];
  }

  // Runs of whole rows, each contiguous in memory (at any alignment), that
  // together hold rows [0, rows()) in order: `first_row`, then `rows` rows
  // (rows * dim floats) from `bytes`.
  struct Run {
    size_t first_row;
    size_t rows;
    const char* bytes;
  };
  // Calls fn(const Run&) for each run, in row order.
  template <typename Fn>
  void ForEachRun(Fn&& fn) const {
    if (contiguous_ != nullptr) {
      if (rows() != 0) {
        fn(Run{0, rows(), reinterpret_cast<const char*>(contiguous_)});
      }
      return;
    }
    for (const Run& r : runs_) fn(r);
  }

  // Float k of the whole (k < rows() * dim()): one read, for messages.
  float At(size_t k) const;
  // All size() floats in one array: the floats themselves when they are
  // one array, else copied to `scratch`.
  absl::Span<const float> Contiguous(std::vector<float>* scratch) const;

 private:
  // Appends rows [first_row, first_row + rows) at `bytes` to runs_.
  void AddRun(size_t first_row, size_t rows, const char* bytes);
  // Row i's dim floats from `p` (any alignment) to `buffer`: in 16-byte
  // moves, inlined, where the row size allows (a libc memcpy call per row
  // of 64 bytes costs as much as the copy).
  void CopyRow(const char* p, float* buffer) const;

  uint32_t dim_ = 0;
  size_t size_ = 0;
  const float* contiguous_ = nullptr;      // set: the one-array form
  std::vector<absl::string_view> pieces_;  // the pieces form
  // The pieces form: row i's first byte (in a piece, or in straddling_).
  std::vector<const char*> row_at_;
  std::vector<Run> runs_;
  // Copies of the rows split over two pieces (reserved up front, so the
  // pointers into it stay valid).
  std::vector<float> straddling_;
  // AssignReceived's copy of short rows.
  std::vector<float> copy_;
};

inline void GradientRows::CopyRow(const char* p, float* buffer) const {
  const size_t bytes = size_t{dim_} * sizeof(float);
  char* out = reinterpret_cast<char*>(buffer);
  if (bytes % 16 != 0) {
    std::memcpy(out, p, bytes);
    return;
  }
  for (size_t b = 0; b < bytes; b += 16) __builtin_memcpy(out + b, p + b, 16);
}

}  // namespace strata

#endif  // STRATA_SERVER_STORAGE_GRADIENT_ROWS_H_
