#include "server/storage/gradient_rows.h"

#include <algorithm>

#include "glog/logging.h"

namespace strata {
namespace {

size_t BytesOf(absl::Span<const absl::string_view> pieces) {
  size_t bytes = 0;
  for (const absl::string_view& p : pieces) bytes += p.size();
  return bytes;
}

// The pieces laid end to end in `out`, resized to hold them (a whole
// number of floats).
void Concatenate(absl::Span<const absl::string_view> pieces,
                 std::vector<float>* out) {
  out->resize(BytesOf(pieces) / sizeof(float));
  char* at = reinterpret_cast<char*>(out->data());
  for (const absl::string_view& p : pieces) {
    if (!p.empty()) std::memcpy(at, p.data(), p.size());
    at += p.size();
  }
}

}  // namespace

void GradientRows::Assign(absl::Span<const absl::string_view> pieces,
                          uint32_t dim) {
  CHECK_GT(dim, 0u);
  const size_t bytes = BytesOf(pieces);
  CHECK_EQ(bytes % sizeof(float), 0u);
  dim_ = dim;
  size_ = bytes / sizeof(float);
  contiguous_ = nullptr;
  pieces_.assign(pieces.begin(), pieces.end());
  const size_t n = rows();
  const size_t row_bytes = size_t{dim} * sizeof(float);
  row_at_.resize(n);
  runs_.clear();
  straddling_.clear();
  // Each boundary between pieces splits at most one row.
  straddling_.reserve(std::min(n, pieces.size()) * dim);
  size_t piece = 0;
  size_t offset = 0;  // in pieces[piece]
  for (size_t r = 0; r < n;) {
    while (offset == pieces[piece].size()) {  // r < n: bytes remain
      ++piece;
      offset = 0;
    }
    const char* const base = pieces[piece].data() + offset;
    const size_t whole =
        std::min((pieces[piece].size() - offset) / row_bytes, n - r);
    if (whole != 0) {  // the piece's whole rows, in place
      for (size_t k = 0; k < whole; ++k) row_at_[r + k] = base + k * row_bytes;
      AddRun(r, whole, base);
      r += whole;
      offset += whole * row_bytes;
      continue;
    }
    // A row split over pieces: gathered into the copies.
    const size_t first = straddling_.size();
    straddling_.resize(first + dim);
    char* const copy = reinterpret_cast<char*>(straddling_.data() + first);
    char* out = copy;
    for (size_t left = row_bytes; left != 0;) {
      if (offset == pieces[piece].size()) {
        ++piece;
        offset = 0;
        continue;
      }
      const size_t take = std::min(left, pieces[piece].size() - offset);
      std::memcpy(out, pieces[piece].data() + offset, take);
      out += take;
      offset += take;
      left -= take;
    }
    row_at_[r] = copy;
    AddRun(r, 1, copy);
    ++r;
  }
}

void GradientRows::AddRun(size_t first_row, size_t rows, const char* bytes) {
  // Rows are added in order: a run adjacent in memory to the last one
  // extends it.
  if (!runs_.empty()) {
    Run& last = runs_.back();
    if (last.bytes + last.rows * size_t{dim_} * sizeof(float) == bytes) {
      last.rows += rows;
      return;
    }
  }
  runs_.push_back(Run{first_row, rows, bytes});
}

void GradientRows::AssignReceived(absl::Span<const absl::string_view> pieces,
                                  uint32_t dim, size_t expected_rows) {
  const size_t bytes = BytesOf(pieces);
  CHECK_EQ(bytes % sizeof(float), 0u);
  const bool one_array =
      pieces.size() == 1 &&
      reinterpret_cast<uintptr_t>(pieces[0].data()) % alignof(float) == 0;
  if (one_array) {
    Assign(absl::MakeConstSpan(reinterpret_cast<const float*>(pieces[0].data()),
                               bytes / sizeof(float)),
           dim);
    return;
  }
  const size_t row_bytes = size_t{dim} * sizeof(float);
  if (row_bytes >= kMinInPlaceRowBytes && bytes == expected_rows * row_bytes) {
    Assign(pieces, dim);
    return;
  }
  Concatenate(pieces, &copy_);
  Assign(absl::MakeConstSpan(copy_), dim);
}

void GradientRows::Release() {
  contiguous_ = nullptr;
  size_ = 0;
  pieces_.clear();
  runs_.clear();
  row_at_.clear();
  straddling_.clear();
  if (row_at_.capacity() * sizeof(const char*) > kMaxRetainedBytes) {
    row_at_.shrink_to_fit();
  }
  if (straddling_.capacity() * sizeof(float) > kMaxRetainedBytes) {
    straddling_.shrink_to_fit();
  }
  if (copy_.capacity() * sizeof(float) > kMaxRetainedBytes) {
    copy_.clear();
    copy_.shrink_to_fit();
  }
}

float GradientRows::At(size_t k) const {
  float v;
  std::memcpy(&v, RowBytes(k / dim_) + (k % dim_) * sizeof(float), sizeof(v));
  return v;
}

absl::Span<const float> GradientRows::Contiguous(
    std::vector<float>* scratch) const {
  if (contiguous_ != nullptr) return absl::MakeConstSpan(contiguous_, size_);
  Concatenate(pieces_, scratch);
  return absl::MakeConstSpan(*scratch);
}

}  // namespace strata
