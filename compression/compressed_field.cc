#include "compression/compressed_field.h"

#include <cmath>
#include <limits>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "proto/base/status_macros.h"

namespace strata::compression {
namespace {

absl::Status CheckFinite(absl::Span<const float> values, int dim,
                         const char* what) {
  for (size_t i = 0; i < values.size(); ++i) {
    if (!std::isfinite(values[i])) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " row ", i / dim,
                       " has a non-finite value in column ", i % dim));
    }
  }
  return absl::OkStatus();
}

// The checks both factories share; returns k.
absl::StatusOr<uint32_t> CheckVectors(int dim,
                                      const std::vector<float>& centroids,
                                      const std::vector<float>& fallback) {
  if (dim <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("dim must be > 0, got ", dim));
  }
  if (centroids.empty() || centroids.size() % dim != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("centroids has ", centroids.size(),
                     " floats; need a positive multiple of dim = ", dim));
  }
  if (fallback.size() != static_cast<size_t>(dim)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "fallback has ", fallback.size(), " floats, expected dim = ", dim));
  }
  const size_t k = centroids.size() / dim;
  if (k > std::numeric_limits<uint32_t>::max()) {
    return absl::InvalidArgumentError("more than 2^32 - 1 centroids");
  }
  STRATA_RETURN_IF_ERROR(CheckFinite(centroids, dim, "centroid"));
  STRATA_RETURN_IF_ERROR(CheckFinite(fallback, dim, "fallback"));
  return static_cast<uint32_t>(k);
}

}  // namespace

absl::StatusOr<CompressedField> CompressedField::Create(
    int dim, std::vector<float> centroids, std::vector<float> fallback,
    absl::Span<const uint64_t> keys, absl::Span<const uint32_t> cluster_of_key,
    const KeyIndexOptions& index_options) {
  STRATA_ASSIGN_OR_RETURN(const uint32_t k,
                          CheckVectors(dim, centroids, fallback));
  STRATA_ASSIGN_OR_RETURN(
      std::unique_ptr<KeyIndex> index,
      KeyIndex::Build(keys, cluster_of_key, k - 1, index_options));
  return CompressedField(dim, std::move(centroids), std::move(fallback),
                         std::move(index));
}

absl::StatusOr<CompressedField> CompressedField::FromSerializedIndex(
    int dim, std::vector<float> centroids, std::vector<float> fallback,
    absl::string_view index_bytes, uint64_t num_features) {
  STRATA_ASSIGN_OR_RETURN(const uint32_t k,
                          CheckVectors(dim, centroids, fallback));
  STRATA_ASSIGN_OR_RETURN(
      std::unique_ptr<KeyIndex> index,
      KeyIndex::Deserialize(index_bytes, num_features, k - 1));
  return CompressedField(dim, std::move(centroids), std::move(fallback),
                         std::move(index));
}

CompressedField::CompressedField(int dim, std::vector<float> centroids,
                                 std::vector<float> fallback,
                                 std::unique_ptr<KeyIndex> index)
    : dim_(dim),
      centroids_(std::move(centroids)),
      fallback_(std::move(fallback)),
      index_(std::move(index)) {}

CompressedField::CompressedField(CompressedField&&) noexcept = default;
CompressedField& CompressedField::operator=(CompressedField&&) noexcept =
    default;
CompressedField::~CompressedField() = default;

const float* CompressedField::Lookup(uint64_t key) const {
  const std::optional<uint32_t> cluster = index_->Find(key);
  if (!cluster.has_value()) return fallback_.data();
  return &centroids_[static_cast<size_t>(*cluster) * dim_];
}

absl::Span<const float> CompressedField::centroid(uint32_t cluster) const {
  CHECK_LT(cluster, num_clusters());
  return absl::MakeConstSpan(centroids_)
      .subspan(static_cast<size_t>(cluster) * dim_, dim_);
}

absl::Span<float> CompressedField::mutable_centroid(uint32_t cluster) {
  CHECK_LT(cluster, num_clusters());
  return absl::MakeSpan(centroids_)
      .subspan(static_cast<size_t>(cluster) * dim_, dim_);
}

}  // namespace strata::compression
