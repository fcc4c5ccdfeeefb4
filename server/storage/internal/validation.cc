#include "server/storage/internal/validation.h"

#include <cmath>
#include <cstdint>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "proto/base/cpu_dispatch.h"

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
    return absl::InvalidArgumentError(absl::StrCat(
        "batch of ", n, " keys for table ", table, " exceeds the limit of ",
        max_keys));
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

// The start of the first block of 64 floats of p[0, n) that holds a float
// whose bits, sign cleared, exceed `limit`; the start of the last partial
// block when none does. Cloned for AVX2 (proto/base/cpu_dispatch.h).
STRATA_CLONE_FOR_AVX2 size_t FirstBadBlock(const float* p, size_t n,
                                           int32_t limit) {
  constexpr size_t kBlock = 64;
  size_t i = 0;
  for (; i + kBlock <= n; i += kBlock) {
    int32_t bad = 0;
    for (size_t k = 0; k < kBlock; ++k) {
      int32_t bits;
      std::memcpy(&bits, p + i + k, sizeof(bits));
      bad |= (bits & 0x7fffffff) > limit;
    }
    if (bad != 0) break;
  }
  return i;
}

// Index of the first element that is not finite or beyond max_abs, or
// v.size(). For a positive finite bound, on the floats' bits: with the sign
// cleared, a float's bits order like its magnitude as int32, with Inf and
// every NaN above every finite value, so one integer comparison per element
// tests both (three vector instructions per four floats at -O2, against
// five for fabs-and-compare; benchmarks.md, issue 16). Checked in blocks of
// 64 without an early exit inside a block (a loop of fixed length that GCC
// vectorizes at -O2); a bad block is searched one by one.
size_t FirstBadGradient(absl::Span<const float> v, float max_abs) {
  const float* p = v.data();
  const size_t n = v.size();
  size_t i = 0;
  if (max_abs > 0.0f && std::isfinite(max_abs)) {
    int32_t limit;
    std::memcpy(&limit, &max_abs, sizeof(limit));
    i = FirstBadBlock(p, n, limit);
  }
  for (; i < n; ++i) {
    if (!(std::fabs(p[i]) <= max_abs)) return i;
  }
  return n;
}

// The error for grads[i] (bad per FirstBadGradient); `where` is appended.
absl::Status BadGradient(absl::Span<const float> grads, size_t i, float max_abs,
                         absl::string_view owner, absl::string_view where) {
  const float v = grads[i];
  if (!std::isfinite(v)) {
    return absl::InvalidArgumentError(absl::StrCat(
        owner, ": gradient ", i, " is not finite (", v, ")", where));
  }
  return absl::InvalidArgumentError(
      absl::StrCat(owner, ": gradient ", i, " is ", v, ", beyond the bound of ",
                   max_abs, " (--max_abs_gradient)", where));
}

}  // namespace

absl::Status CheckGradientValues(absl::Span<const float> grads, float max_abs,
                                 absl::string_view owner) {
  const size_t i = FirstBadGradient(grads, max_abs);
  if (i == grads.size()) return absl::OkStatus();
  return BadGradient(grads, i, max_abs, owner, "");
}

absl::Status CheckGradients(absl::Span<const float> grads, size_t n,
                            uint32_t dim, float max_abs,
                            absl::string_view table) {
  if (grads.size() != n * dim) {
    return absl::InvalidArgumentError(
        absl::StrCat("table ", table, ": got ", grads.size(),
                     " gradient floats for ", n, " keys of dim ", dim,
                     " (expected ", n * dim, ")"));
  }
  const size_t i = FirstBadGradient(grads, max_abs);
  if (i == grads.size()) return absl::OkStatus();
  return BadGradient(
      grads, i, max_abs, absl::StrCat("table ", table),
      absl::StrCat("; key ", i / dim, " of the batch, column ", i % dim));
}

}  // namespace internal
}  // namespace strata
