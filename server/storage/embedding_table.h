// What the embedding service needs from a table of one shard: batched pulls
// and pushes of rows of `dim` floats. Implemented by SparseTable (one row per
// key) and CompressedTable (Saec: keys share cluster centroids).
#ifndef STRATA_SERVER_STORAGE_EMBEDDING_TABLE_H_
#define STRATA_SERVER_STORAGE_EMBEDDING_TABLE_H_

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "proto/ps.pb.h"
#include "server/storage/gradient_rows.h"

namespace strata {

// Implementations are thread-safe.
class EmbeddingTable {
 public:
  virtual ~EmbeddingTable() = default;

  // Writes keys.size() * dim() floats to `out`, row i for key i.
  virtual absl::Status Pull(absl::Span<const uint64_t> keys,
                            bool count_frequency, bool read_only,
                            float* out) = 0;
  // Applies grads (keys.size() rows of dim() floats; grads.dim() == dim()).
  // A bad batch changes nothing.
  virtual absl::Status Push(absl::Span<const uint64_t> keys,
                            const GradientRows& grads) = 0;
  // The same with the rows in one array (keys.size() * dim() floats).
  absl::Status Push(absl::Span<const uint64_t> keys,
                    absl::Span<const float> grads) {
    return Push(keys, GradientRows(grads, dim()));
  }

  virtual const TableConfig& config() const = 0;
  virtual uint32_t dim() const = 0;
  // Keys the table knows (plain: rows; compressed: indexed features).
  virtual size_t rows() const = 0;
  // Bytes held: vectors, optimizer state and index.
  virtual size_t MemoryBytes() const = 0;
  // True for a Saec-compressed table.
  virtual bool compressed() const { return false; }
};

}  // namespace strata

#endif  // STRATA_SERVER_STORAGE_EMBEDDING_TABLE_H_
