#include "compression/compressed_field.h"

#include <algorithm>
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
                                      const std::vector<float>& fallback,
                                      const StoredClusters& stored) {
  if (dim <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("dim must be > 0, got ", dim));
  }
  const bool all = stored.num_clusters == 0;
  if ((all && centroids.empty()) || centroids.size() % dim != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("centroids has ", centroids.size(),
                     " floats; need a positive multiple of dim = ", dim));
  }
  if (fallback.size() != static_cast<size_t>(dim)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "fallback has ", fallback.size(), " floats, expected dim = ", dim));
  }
  const size_t rows = centroids.size() / dim;
  if (rows > std::numeric_limits<uint32_t>::max()) {
    return absl::InvalidArgumentError("more than 2^32 - 1 centroids");
  }
  if (!all) {
    if (rows != stored.ids.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat(rows, " centroids for ", stored.ids.size(),
                       " stored cluster ids"));
    }
    STRATA_RETURN_IF_ERROR(CheckClusterIds(stored.ids, stored.num_clusters));
  }
  STRATA_RETURN_IF_ERROR(CheckFinite(centroids, dim, "centroid"));
  STRATA_RETURN_IF_ERROR(CheckFinite(fallback, dim, "fallback"));
  return all ? static_cast<uint32_t>(rows) : stored.num_clusters;
}

// Row ids of a field that stores every cluster are implicit (empty).
std::vector<uint32_t> RowIds(StoredClusters stored) {
  if (stored.ids.size() == stored.num_clusters) stored.ids.clear();
  return std::move(stored.ids);
}

}  // namespace

absl::Status CheckClusterIds(absl::Span<const uint32_t> ids, uint32_t k) {
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] >= k || (i > 0 && ids[i] <= ids[i - 1])) {
      return absl::InvalidArgumentError(absl::StrCat(
          "stored cluster id ", ids[i], " at ", i,
          " is not below k = ", k, " or not above the one before"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<CompressedField> CompressedField::Create(
    int dim, std::vector<float> centroids, std::vector<float> fallback,
    absl::Span<const uint64_t> keys, absl::Span<const uint32_t> cluster_of_key,
    const KeyIndexOptions& index_options, StoredClusters stored) {
  STRATA_ASSIGN_OR_RETURN(const uint32_t k,
                          CheckVectors(dim, centroids, fallback, stored));
  STRATA_ASSIGN_OR_RETURN(
      std::unique_ptr<KeyIndex> index,
      KeyIndex::Build(keys, cluster_of_key, k - 1, index_options));
  return CompressedField(dim, k, RowIds(std::move(stored)),
                         std::move(centroids), std::move(fallback),
                         std::move(index));
}

absl::StatusOr<CompressedField> CompressedField::FromSerializedIndex(
    int dim, std::vector<float> centroids, std::vector<float> fallback,
    absl::string_view index_bytes, uint64_t num_features,
    StoredClusters stored) {
  STRATA_ASSIGN_OR_RETURN(const uint32_t k,
                          CheckVectors(dim, centroids, fallback, stored));
  STRATA_ASSIGN_OR_RETURN(
      std::unique_ptr<KeyIndex> index,
      KeyIndex::Deserialize(index_bytes, num_features, k - 1));
  return CompressedField(dim, k, RowIds(std::move(stored)),
                         std::move(centroids), std::move(fallback),
                         std::move(index));
}

CompressedField::CompressedField(int dim, uint32_t num_clusters,
                                 std::vector<uint32_t> ids,
                                 std::vector<float> centroids,
                                 std::vector<float> fallback,
                                 std::unique_ptr<KeyIndex> index)
    : dim_(dim),
      num_clusters_(num_clusters),
      row_ids_(std::move(ids)),
      centroids_(std::move(centroids)),
      fallback_(std::move(fallback)),
      index_(std::move(index)) {}

CompressedField::CompressedField(CompressedField&&) noexcept = default;
CompressedField& CompressedField::operator=(CompressedField&&) noexcept =
    default;
CompressedField::~CompressedField() = default;

std::optional<uint32_t> CompressedField::RowOf(uint32_t cluster) const {
  if (cluster >= num_clusters_) return std::nullopt;
  if (!trimmed()) return cluster;
  const auto it =
      std::lower_bound(row_ids_.begin(), row_ids_.end(), cluster);
  if (it == row_ids_.end() || *it != cluster) return std::nullopt;
  return static_cast<uint32_t>(it - row_ids_.begin());
}

uint32_t CompressedField::ClusterOfRow(uint32_t row) const {
  CHECK_LT(row, num_rows());
  return trimmed() ? row_ids_[row] : row;
}

absl::Status CompressedField::Trim(absl::Span<const uint32_t> clusters) {
  STRATA_RETURN_IF_ERROR(CheckClusterIds(clusters, num_clusters_));
  std::vector<float> kept;
  kept.reserve(clusters.size() * dim_);
  for (uint32_t c : clusters) {
    const std::optional<uint32_t> row = RowOf(c);
    if (!row.has_value()) {
      return absl::InvalidArgumentError(
          absl::StrCat("cluster ", c, " is not stored, so it cannot be kept"));
    }
    const float* v = centroids_.data() + size_t{*row} * dim_;
    kept.insert(kept.end(), v, v + dim_);
  }
  centroids_ = std::move(kept);
  row_ids_ = RowIds({num_clusters_, {clusters.begin(), clusters.end()}});
  return absl::OkStatus();
}

const float* CompressedField::Lookup(uint64_t key) const {
  const std::optional<uint32_t> cluster = index_->Find(key);
  if (!cluster.has_value()) return fallback_.data();
  const std::optional<uint32_t> row = RowOf(*cluster);
  if (!row.has_value()) return nullptr;
  return &centroids_[static_cast<size_t>(*row) * dim_];
}

absl::Span<const float> CompressedField::centroid(uint32_t cluster) const {
  const std::optional<uint32_t> row = RowOf(cluster);
  CHECK(row.has_value()) << "cluster " << cluster << " is not stored";
  return absl::MakeConstSpan(centroids_)
      .subspan(static_cast<size_t>(*row) * dim_, dim_);
}

absl::Span<float> CompressedField::mutable_centroid(uint32_t cluster) {
  const std::optional<uint32_t> row = RowOf(cluster);
  CHECK(row.has_value()) << "cluster " << cluster << " is not stored";
  return mutable_row(*row);
}

absl::Span<float> CompressedField::mutable_row(uint32_t row) {
  CHECK_LT(row, num_rows());
  return absl::MakeSpan(centroids_)
      .subspan(static_cast<size_t>(row) * dim_, dim_);
}

}  // namespace strata::compression
