// Parameter initialisation as a pure function of (seed, key, column).
//
// Every value is derived from a counter-based hash, never from a sequential
// random generator, so a row's initial values do not depend on the order in
// which keys arrive, on the number of shards, on thread timing, or on whether
// the row was materialised or only read (read-only pulls). Two servers with
// the same config always produce the same embedding for the same key.
//
// Definition (part of the checkpoint/compatibility contract), with
// SplitMix64, kGoldenGamma (0x9e3779b97f4a7c15) and Fnv1a64 from
// proto/base/hash.h:
//   row       = SplitMix64(key ^ SplitMix64(seed))
//   H(col, j) = SplitMix64(row + (2*col + j + 1) * kGoldenGamma), j in {0,1}
//   U(col, j) = ((H(col, j) >> 11) + 0.5) / 2^53, in the open interval (0,1)
//   ZEROS:    0
//   UNIFORM:  low + (high - low) * U(col, 0)   (clamped below `high`)
//   NORMAL:   mean + stddev * sqrt(-2 ln U(col,0)) * cos(2 pi U(col,1))
// computed in double and rounded to float.
//
// Dense tensors are one long row: element i of tensor `name` is column i of
// key DenseStreamKey(name) (Fnv1a64 of the name), so two tensors that share a
// seed still start from different values.
#ifndef STRATA_SERVER_STORAGE_INITIALIZER_H_
#define STRATA_SERVER_STORAGE_INITIALIZER_H_

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "proto/ps.pb.h"

namespace strata {

// INVALID_ARGUMENT unless the type is known, every field is finite, UNIFORM
// has low < high and NORMAL has stddev >= 0.
absl::Status ValidateInitializer(const InitializerConfig& config);

// Writes the `dim` initial values of row `key` to out[0, dim). The config
// must be valid (ValidateInitializer). Thread-safe (pure).
void InitializeRow(const InitializerConfig& config, uint64_t key, uint32_t dim,
                   float* out);

// Writes columns [0, count) of `key`'s stream; InitializeRow for counts that
// do not fit in 32 bits (dense tensors).
void InitializeStream(const InitializerConfig& config, uint64_t key,
                      uint64_t count, float* out);

// The stream key of a dense tensor: Fnv1a64(name).
uint64_t DenseStreamKey(absl::string_view name);

// Initial values of dense tensor `name` (InitializeStream with its key).
void InitializeDense(const InitializerConfig& config, absl::string_view name,
                     uint64_t size, float* out);

}  // namespace strata

#endif  // STRATA_SERVER_STORAGE_INITIALIZER_H_
