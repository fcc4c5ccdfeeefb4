// A compressed embedding field as served by a shard: k shared vectors
// (centroids), a feature-key -> cluster index, and one fallback vector for
// keys that were not in the field when it was compressed.
#ifndef STRATA_COMPRESSION_COMPRESSED_FIELD_H_
#define STRATA_COMPRESSION_COMPRESSED_FIELD_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "compression/key_index.h"

namespace strata::compression {

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
  // centroids: k x dim (k >= 1), fallback: dim floats, all finite;
  // cluster_of_key[i] < k is the cluster of keys[i]. INVALID_ARGUMENT on
  // inconsistent sizes, non-finite values, out-of-range cluster ids or
  // duplicate keys.
  static absl::StatusOr<CompressedField> Create(
      int dim, std::vector<float> centroids, std::vector<float> fallback,
      absl::Span<const uint64_t> keys,
      absl::Span<const uint32_t> cluster_of_key,
      const KeyIndexOptions& index_options);

  // The same with the index read back from KeyIndex::Serialize() bytes of
  // num_features keys (checkpoints of kMph fields): INVALID_ARGUMENT as
  // Create, and for bytes that are not such an index with clusters < k.
  static absl::StatusOr<CompressedField> FromSerializedIndex(
      int dim, std::vector<float> centroids, std::vector<float> fallback,
      absl::string_view index_bytes, uint64_t num_features);

  CompressedField(CompressedField&&) noexcept;
  CompressedField& operator=(CompressedField&&) noexcept;
  ~CompressedField();

  int dim() const { return dim_; }
  uint32_t num_clusters() const {
    return static_cast<uint32_t>(centroids_.size() / dim_);
  }
  size_t num_features() const { return index_->size(); }

  // The vector serving `key`: its cluster's centroid, or the fallback for a
  // key that was not compressed. Points at dim() floats owned by this object,
  // valid until it is destroyed or moved from.
  const float* Lookup(uint64_t key) const;
  // The cluster of a compressed key; nullopt for unseen keys.
  std::optional<uint32_t> ClusterOf(uint64_t key) const {
    return index_->Find(key);
  }

  // cluster < num_clusters() (CHECKed).
  absl::Span<const float> centroid(uint32_t cluster) const;
  absl::Span<float> mutable_centroid(uint32_t cluster);
  absl::Span<const float> centroids() const { return centroids_; }
  absl::Span<const float> fallback() const { return fallback_; }
  absl::Span<float> mutable_fallback() { return absl::MakeSpan(fallback_); }

  const KeyIndex& index() const { return *index_; }
  // Bytes of the key index (KeyIndex::bytes()).
  size_t index_bytes() const { return index_->bytes(); }
  // Bytes of the vectors: (num_clusters() + 1 fallback) * dim * 4.
  size_t vector_bytes() const {
    return (centroids_.size() + fallback_.size()) * sizeof(float);
  }
  size_t bytes() const { return index_bytes() + vector_bytes(); }

 private:
  CompressedField(int dim, std::vector<float> centroids,
                  std::vector<float> fallback, std::unique_ptr<KeyIndex> index);

  // Constant after construction (the values of centroids_ and fallback_ may
  // change through the mutable accessors; their sizes never do).
  int dim_;
  std::vector<float> centroids_;
  std::vector<float> fallback_;
  std::unique_ptr<KeyIndex> index_;
};

}  // namespace strata::compression

#endif  // STRATA_COMPRESSION_COMPRESSED_FIELD_H_
