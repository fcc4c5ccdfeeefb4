#include "server/storage/internal/validation.h"

#include <cmath>
#include <cstdint>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "proto/base/cpu_dispatch.h"
#include "proto/base/status_macros.h"

namespace strata {
namespace internal {

absl::Status CheckFinite(absl::Span<const float> v, absl::string_view what) {
  for (size_t i = 0; i < v.size(); ++i) {
    if (!std::isfinite(v[i])) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " ", i, " is not finite (", v[i], ")"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckBatchSize(size_t n, size_t max_keys,
                            absl::string_view table) {
  if (n == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("empty batch for table ", table));
  }
  if (n > max_keys) {
    return absl::InvalidArgumentError(
        absl::StrCat("batch of ", n, " keys for table ", table,
                     " exceeds the limit of ", max_keys));
  }
  return absl::OkStatus();
}

absl::Status CheckOwner(uint64_t key, const ShardRouter* router,
                        uint32_t shard_id, absl::string_view table) {
  if (router == nullptr) return absl::OkStatus();
  const uint32_t owner = router->ShardForKey(key);
  if (owner != shard_id) {
    return absl::FailedPreconditionError(
        absl::StrCat("key ", key, " belongs to shard ", owner, ", not shard ",
                     shard_id, " (table ", table, ")"));
  }
  return absl::OkStatus();
}

namespace {

// The start of the first block of 64 floats of the n floats at `p` (any
// alignment: read with memcpy) that holds a float whose bits, sign cleared,
// exceed `limit`; the start of the last partial block when none does.
// Cloned for AVX2 (proto/base/cpu_dispatch.h).
STRATA_CLONE_FOR_AVX2 size_t FirstBadBlock(const char* p, size_t n,
                                           int32_t limit) {
  constexpr size_t kBlock = 64;
  size_t i = 0;
  for (; i + kBlock <= n; i += kBlock) {
    int32_t bad = 0;
    for (size_t k = 0; k < kBlock; ++k) {
      int32_t bits;
      std::memcpy(&bits, p + (i + k) * sizeof(float), sizeof(bits));
      bad |= (bits & 0x7fffffff) > limit;
    }
    if (bad != 0) break;
  }
  return i;
}

// Float i of the floats at `p` (any alignment).
float FloatAt(const char* p, size_t i) {
  float v;
  std::memcpy(&v, p + i * sizeof(float), sizeof(v));
  return v;
}

// Index of the first of the n floats at `p` (any alignment) that is not
// finite or beyond max_abs, or n. For a positive finite bound, on the
// floats' bits: with the sign cleared, a float's bits order like its
// magnitude as int32, with Inf and every NaN above every finite value, so
// one integer comparison per element tests both (three vector instructions
// per four floats at -O2, against five for fabs-and-compare;
// benchmarks.md, issue 16). Checked in blocks of 64 without an early exit
// inside a block (a loop of fixed length that GCC vectorizes at -O2); a bad
// block is searched one by one.
size_t FirstBadGradient(const char* p, size_t n, float max_abs) {
  size_t i = 0;
  if (max_abs > 0.0f && std::isfinite(max_abs)) {
    int32_t limit;
    std::memcpy(&limit, &max_abs, sizeof(limit));
    i = FirstBadBlock(p, n, limit);
  }
  for (; i < n; ++i) {
    if (!(std::fabs(FloatAt(p, i)) <= max_abs)) return i;
  }
  return n;
}

// The error for gradient i, of value v (bad per FirstBadGradient); `where`
// is appended.
absl::Status BadGradient(size_t i, float v, float max_abs,
                         absl::string_view owner, absl::string_view where) {
  if (!std::isfinite(v)) {
    return absl::InvalidArgumentError(absl::StrCat(
        owner, ": gradient ", i, " is not finite (", v, ")", where));
  }
  return absl::InvalidArgumentError(
      absl::StrCat(owner, ": gradient ", i, " is ", v, ", beyond the bound of ",
                   max_abs, " (--max_abs_gradient)", where));
}

const char* BytesOf(absl::Span<const float> v) {
  return reinterpret_cast<const char*>(v.data());
}

// INVALID_ARGUMENT unless `floats` == n * dim.
absl::Status CheckGradientCount(size_t floats, size_t n, uint32_t dim,
                                absl::string_view table) {
  if (floats == n * dim) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("table ", table, ": got ", floats, " gradient floats for ",
                   n, " keys of dim ", dim, " (expected ", n * dim, ")"));
}

// The error for the bad flat gradient k of a batch of rows of `dim`.
absl::Status BadBatchGradient(size_t k, float v, uint32_t dim, float max_abs,
                              absl::string_view table) {
  return BadGradient(
      k, v, max_abs, absl::StrCat("table ", table),
      absl::StrCat("; key ", k / dim, " of the batch, column ", k % dim));
}

}  // namespace

absl::Status CheckGradientValues(absl::Span<const float> grads, float max_abs,
                                 absl::string_view owner) {
  const size_t i = FirstBadGradient(BytesOf(grads), grads.size(), max_abs);
  if (i == grads.size()) return absl::OkStatus();
  return BadGradient(i, grads[i], max_abs, owner, "");
}

absl::Status CheckGradients(absl::Span<const float> grads, size_t n,
                            uint32_t dim, float max_abs,
                            absl::string_view table) {
  STRATA_RETURN_IF_ERROR(CheckGradientCount(grads.size(), n, dim, table));
  const size_t i = FirstBadGradient(BytesOf(grads), grads.size(), max_abs);
  if (i == grads.size()) return absl::OkStatus();
  return BadBatchGradient(i, grads[i], dim, max_abs, table);
}

absl::Status CheckGradients(const GradientRows& grads, size_t n, uint32_t dim,
                            float max_abs, absl::string_view table) {
  STRATA_RETURN_IF_ERROR(CheckGradientCount(grads.size(), n, dim, table));
  CHECK_EQ(grads.dim(), dim) << "rows of another dim than the table's";
  // The runs are in row order: the first bad float found is the batch's.
  size_t bad = grads.size();
  grads.ForEachRun([&](const GradientRows::Run& run) {
    if (bad != grads.size()) return;
    const size_t floats = run.rows * dim;
    const size_t i = FirstBadGradient(run.bytes, floats, max_abs);
    if (i != floats) bad = run.first_row * dim + i;
  });
  if (bad == grads.size()) return absl::OkStatus();
  return BadBatchGradient(bad, grads.At(bad), dim, max_abs, table);
}

}  // namespace internal
}  // namespace strata
