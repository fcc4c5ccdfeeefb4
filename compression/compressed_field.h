// A compressed embedding field as served by a shard: k shared vectors
// (centroids), a feature-key -> cluster index, and one fallback vector for
// keys that were not in the field when it was compressed.
//
// A field may store the centroids of only some of its k clusters (its
// "rows"): a shard of a cluster-wide table keeps those it homes, while its
// index still maps every key it owns to a global cluster id < k. Row r holds
// the centroid of cluster row_ids()[r] (the ids strictly increase); a field
// that stores every cluster has row r = cluster r.
#ifndef STRATA_COMPRESSION_COMPRESSED_FIELD_H_
#define STRATA_COMPRESSION_COMPRESSED_FIELD_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "compression/key_index.h"

namespace strata::compression {

// Which clusters a field stores (Create / FromSerializedIndex): with
// num_clusters == 0, all of them (k = centroids / dim); otherwise the
// centroids hold ids.size() rows (possibly none), ids strictly increasing
// and < num_clusters.
struct StoredClusters {
  uint32_t num_clusters = 0;
  std::vector<uint32_t> ids;
};

// OK when `ids` strictly increase and each is < k; INVALID_ARGUMENT
// otherwise.
absl::Status CheckClusterIds(absl::Span<const uint32_t> ids, uint32_t k);

// Owns its centroids, fallback vector and key index; movable, not copyable.
//
// Thread-safety: const methods may run concurrently with each other. The
// index is immutable. Centroids and the fallback are writable through
// mutable_centroid()/mutable_fallback() so the server can train the shared
// vectors; such writes must be synchronised by the caller against
// concurrent Lookup()s of the same field (the class has no lock of its own:
// the server already serialises updates per shard).
class CompressedField {
 public:
  // centroids: k x dim (k >= 1; with `stored`, its rows), fallback: dim
  // floats, all finite; cluster_of_key[i] < k is the cluster of keys[i].
  // INVALID_ARGUMENT on inconsistent sizes, non-finite values, out-of-range
  // or unordered cluster ids, or duplicate keys.
  static absl::StatusOr<CompressedField> Create(
      int dim, std::vector<float> centroids, std::vector<float> fallback,
      absl::Span<const uint64_t> keys,
      absl::Span<const uint32_t> cluster_of_key,
      const KeyIndexOptions& index_options, StoredClusters stored = {});

  // The same with the index read back from KeyIndex::Serialize() bytes of
  // num_features keys (checkpoints of kMph fields): INVALID_ARGUMENT as
  // Create, and for bytes that are not such an index with clusters < k.
  static absl::StatusOr<CompressedField> FromSerializedIndex(
      int dim, std::vector<float> centroids, std::vector<float> fallback,
      absl::string_view index_bytes, uint64_t num_features,
      StoredClusters stored = {});

  CompressedField(CompressedField&&) noexcept;
  CompressedField& operator=(CompressedField&&) noexcept;
  ~CompressedField();

  int dim() const { return dim_; }
  // k: the clusters of the field (stored or not).
  uint32_t num_clusters() const { return num_clusters_; }
  // The centroids stored here (num_clusters() unless trimmed).
  uint32_t num_rows() const {
    return static_cast<uint32_t>(centroids_.size() / dim_);
  }
  // Whether some clusters are not stored; row_ids() lists the stored ones
  // (empty when every cluster is).
  bool trimmed() const { return num_rows() != num_clusters_; }
  absl::Span<const uint32_t> row_ids() const { return row_ids_; }
  // The row of `cluster`; nullopt when it is >= k or not stored.
  std::optional<uint32_t> RowOf(uint32_t cluster) const;
  // The cluster of row `row` < num_rows() (CHECKed).
  uint32_t ClusterOfRow(uint32_t row) const;
  size_t num_features() const { return index_->size(); }

  // Keeps only the centroids of `clusters` (strictly increasing, each < k:
  // INVALID_ARGUMENT otherwise, nothing changed); the index is unchanged.
  // Not to be called while other threads use the field.
  absl::Status Trim(absl::Span<const uint32_t> clusters);

  // The vector serving `key`: its cluster's centroid, or the fallback for a
  // key that was not compressed; null for a key whose cluster is not
  // stored. Points at dim() floats owned by this object, valid until it is
  // destroyed or moved from.
  const float* Lookup(uint64_t key) const;
  // The cluster of a compressed key; nullopt for unseen keys.
  std::optional<uint32_t> ClusterOf(uint64_t key) const {
    return index_->Find(key);
  }

  // `cluster` must be stored (CHECKed).
  absl::Span<const float> centroid(uint32_t cluster) const;
  absl::Span<float> mutable_centroid(uint32_t cluster);
  // Row `row` < num_rows() (CHECKed).
  absl::Span<float> mutable_row(uint32_t row);
  // The stored centroids, row by row.
  absl::Span<const float> centroids() const { return centroids_; }
  absl::Span<const float> fallback() const { return fallback_; }
  absl::Span<float> mutable_fallback() { return absl::MakeSpan(fallback_); }

  const KeyIndex& index() const { return *index_; }
  // Bytes of the key index (KeyIndex::bytes()).
  size_t index_bytes() const { return index_->bytes(); }
  // Bytes of the vectors: (num_rows() + 1 fallback) * dim * 4, plus 4 per
  // row id of a trimmed field.
  size_t vector_bytes() const {
    return (centroids_.size() + fallback_.size()) * sizeof(float) +
           row_ids_.size() * sizeof(uint32_t);
  }
  size_t bytes() const { return index_bytes() + vector_bytes(); }

 private:
  CompressedField(int dim, uint32_t num_clusters, std::vector<uint32_t> ids,
                  std::vector<float> centroids, std::vector<float> fallback,
                  std::unique_ptr<KeyIndex> index);

  // Constant after construction or Trim (the values of centroids_ and
  // fallback_ may change through the mutable accessors; their sizes never
  // do).
  int dim_;
  uint32_t num_clusters_;
  std::vector<uint32_t> row_ids_;  // empty: every cluster, row = cluster
  std::vector<float> centroids_;
  std::vector<float> fallback_;
  std::unique_ptr<KeyIndex> index_;
};

}  // namespace strata::compression

#endif  // STRATA_COMPRESSION_COMPRESSED_FIELD_H_
