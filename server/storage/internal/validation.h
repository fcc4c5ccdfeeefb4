// Batch validation shared by the tables of a shard (sparse, compressed,
// dense), so every table rejects bad input with the same codes and words.
// Each check runs before a table changes anything.
#ifndef STRATA_SERVER_STORAGE_INTERNAL_VALIDATION_H_
#define STRATA_SERVER_STORAGE_INTERNAL_VALIDATION_H_

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "server/router/router.h"
#include "server/storage/gradient_rows.h"

namespace strata {
namespace internal {

// INVALID_ARGUMENT "<what> <i> is not finite (<v>)" for the first NaN/Inf.
absl::Status CheckFinite(absl::Span<const float> v, absl::string_view what);

// INVALID_ARGUMENT for an empty batch or one of more than max_keys keys.
absl::Status CheckBatchSize(size_t n, size_t max_keys, absl::string_view table);

// FAILED_PRECONDITION when `router` puts `key` on another shard than
// `shard_id`; a null router owns everything.
absl::Status CheckOwner(uint64_t key, const ShardRouter* router,
                        uint32_t shard_id, absl::string_view table);

// INVALID_ARGUMENT for the first element of `grads` that is not finite
// ("<owner>: gradient <i> is not finite (<v>)") or whose magnitude exceeds
// `max_abs` ("<owner>: gradient <i> is <v>, beyond the bound of <max_abs>
// (--max_abs_gradient)"). `owner` names the table or tensor, e.g.
// "table emb". The bound's default and validity: optimizer.h.
absl::Status CheckGradientValues(absl::Span<const float> grads, float max_abs,
                                 absl::string_view owner);

// INVALID_ARGUMENT unless grads holds n * dim floats that pass
// CheckGradientValues; messages start with "table <table>: " and end with
// "; key <r> of the batch, column <c>".
absl::Status CheckGradients(absl::Span<const float> grads, size_t n,
                            uint32_t dim, float max_abs,
                            absl::string_view table);
// The same for rows read in place (grads.dim() == dim, CHECKed).
absl::Status CheckGradients(const GradientRows& grads, size_t n, uint32_t dim,
                            float max_abs, absl::string_view table);

}  // namespace internal
}  // namespace strata

#endif  // STRATA_SERVER_STORAGE_INTERNAL_VALIDATION_H_
