#include "compression/compressed_field.h"

#include <algorithm>
#include <limits>
#include <vector>

#include "gtest/gtest.h"

namespace strata::compression {
namespace {

// Three features in two clusters, dim 2.
absl::StatusOr<CompressedField> Small(IndexLayout layout) {
  KeyIndexOptions o;
  o.layout = layout;
  return CompressedField::Create(2, {1, 2, 3, 4}, {-1, -1},
                                 std::vector<uint64_t>{10, 20, 30},
                                 std::vector<uint32_t>{1, 0, 1}, o);
}

TEST(CompressedFieldTest, LookupServesClusterCentroidAndFallbackForUnseen) {
  for (IndexLayout layout :
       {IndexLayout::kCompact, IndexLayout::kFlatHashMap}) {
    absl::StatusOr<CompressedField> f = Small(layout);
    ASSERT_TRUE(f.ok()) << f.status();
    EXPECT_EQ(f->num_clusters(), 2u);
    EXPECT_EQ(f->num_features(), 3u);
    EXPECT_EQ(f->Lookup(10)[0], 3.0f);
    EXPECT_EQ(f->Lookup(20)[1], 2.0f);
    EXPECT_EQ(f->Lookup(30), f->Lookup(10));  // shared vector
    EXPECT_EQ(f->Lookup(40), f->fallback().data());
    EXPECT_EQ(f->Lookup(40)[0], -1.0f);
    EXPECT_EQ(f->ClusterOf(20), 0u);
    EXPECT_FALSE(f->ClusterOf(40).has_value());
  }
}

TEST(CompressedFieldTest, MutatingACentroidUpdatesEveryFeatureSharingIt) {
  absl::StatusOr<CompressedField> f = Small(IndexLayout::kCompact);
  ASSERT_TRUE(f.ok());
  absl::Span<float> c = f->mutable_centroid(1);
  c[0] = 42.0f;
  EXPECT_EQ(f->Lookup(10)[0], 42.0f);
  EXPECT_EQ(f->Lookup(30)[0], 42.0f);
  EXPECT_EQ(f->Lookup(20)[0], 1.0f);
  f->mutable_fallback()[1] = 7.0f;
  EXPECT_EQ(f->Lookup(99)[1], 7.0f);
}

TEST(CompressedFieldTest, BytesAreIndexPlusCentroidsPlusFallback) {
  absl::StatusOr<CompressedField> f = Small(IndexLayout::kFlatHashMap);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->vector_bytes(), (2 * 2 + 2) * sizeof(float));
  EXPECT_EQ(f->bytes(), f->index_bytes() + f->vector_bytes());
  EXPECT_EQ(f->index_bytes(), f->index().bytes());
}

TEST(CompressedFieldTest, RejectsInconsistentInput) {
  const std::vector<uint64_t> keys = {1, 2};
  const std::vector<uint32_t> ids = {0, 1};
  auto code = [](const absl::StatusOr<CompressedField>& f) {
    return f.status().code();
  };
  EXPECT_EQ(code(CompressedField::Create(0, {1}, {}, keys, ids, {})),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(CompressedField::Create(2, {1, 2, 3}, {0, 0}, keys, ids, {})),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(CompressedField::Create(2, {1, 2, 3, 4}, {0}, keys, ids, {})),
            absl::StatusCode::kInvalidArgument);
  // Cluster id 2 with only two clusters.
  EXPECT_EQ(code(CompressedField::Create(2, {1, 2, 3, 4}, {0, 0}, keys,
                                         std::vector<uint32_t>{0, 2}, {})),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(CompressedField::Create(
                2, {1, std::numeric_limits<float>::infinity(), 3, 4}, {0, 0},
                keys, ids, {})),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(CompressedField::Create(2, {1, 2, 3, 4}, {0, 0},
                                         std::vector<uint64_t>{5, 5}, ids, {})),
            absl::StatusCode::kInvalidArgument);
}

// Five features in four clusters, dim 2: cluster c's centroid is {c, -c}.
absl::StatusOr<CompressedField> Four(StoredClusters stored = {}) {
  std::vector<float> centroids;
  for (uint32_t c = 0; c < 4; ++c) {
    const bool kept = stored.num_clusters == 0 ||
                      std::find(stored.ids.begin(), stored.ids.end(), c) !=
                          stored.ids.end();
    if (!kept) continue;
    centroids.push_back(static_cast<float>(c));
    centroids.push_back(-static_cast<float>(c));
  }
  return CompressedField::Create(2, centroids, {9, 9},
                                 std::vector<uint64_t>{10, 11, 12, 13, 14},
                                 std::vector<uint32_t>{0, 1, 2, 3, 3},
                                 KeyIndexOptions(), std::move(stored));
}

TEST(CompressedFieldTest, TrimKeepsTheGivenClustersAndTheWholeIndex) {
  absl::StatusOr<CompressedField> f = Four();
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_FALSE(f->trimmed());
  EXPECT_EQ(f->RowOf(2), 2u);
  const size_t before = f->vector_bytes();
  ASSERT_TRUE(f->Trim({1, 3}).ok());
  EXPECT_TRUE(f->trimmed());
  EXPECT_EQ(f->num_clusters(), 4u);
  EXPECT_EQ(f->num_rows(), 2u);
  EXPECT_EQ(std::vector<uint32_t>(f->row_ids().begin(), f->row_ids().end()),
            (std::vector<uint32_t>{1, 3}));
  EXPECT_EQ(f->RowOf(1), 0u);
  EXPECT_EQ(f->RowOf(3), 1u);
  EXPECT_FALSE(f->RowOf(0).has_value());
  EXPECT_FALSE(f->RowOf(2).has_value());
  EXPECT_FALSE(f->RowOf(4).has_value());
  EXPECT_EQ(f->ClusterOfRow(1), 3u);
  EXPECT_EQ(f->centroid(3)[1], -3.f);
  EXPECT_EQ(f->Lookup(11)[0], 1.f);
  EXPECT_EQ(f->Lookup(14)[0], 3.f);
  EXPECT_EQ(f->Lookup(10), nullptr);  // cluster 0 is stored elsewhere
  EXPECT_EQ(f->Lookup(99), f->fallback().data());
  EXPECT_EQ(f->ClusterOf(12), 2u);  // the index still knows every key
  EXPECT_EQ(f->vector_bytes(), before - 2 * 2 * sizeof(float) + 2 * 4);
  f->mutable_row(1)[0] = 7.f;
  EXPECT_EQ(f->centroid(3)[0], 7.f);
  // Trimming again to a subset, or to nothing.
  ASSERT_TRUE(f->Trim({3}).ok());
  EXPECT_EQ(f->centroid(3)[0], 7.f);
  ASSERT_TRUE(f->Trim({}).ok());
  EXPECT_EQ(f->num_rows(), 0u);
  EXPECT_FALSE(f->RowOf(3).has_value());
}

TEST(CompressedFieldTest, TrimRefusesBadIdsAndChangesNothing) {
  absl::StatusOr<CompressedField> f = Four();
  ASSERT_TRUE(f.ok());
  for (const std::vector<uint32_t>& bad :
       {std::vector<uint32_t>{2, 1}, std::vector<uint32_t>{1, 1},
        std::vector<uint32_t>{4}}) {
    EXPECT_EQ(f->Trim(bad).code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(f->num_rows(), 4u);
  }
  ASSERT_TRUE(f->Trim({0, 2}).ok());
  // A cluster that is no longer stored cannot be kept.
  EXPECT_EQ(f->Trim({1}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(f->num_rows(), 2u);
}

TEST(CompressedFieldTest, CreatesAFieldStoringSomeClusters) {
  absl::StatusOr<CompressedField> f = Four({4, {0, 2}});
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->num_clusters(), 4u);
  EXPECT_EQ(f->num_rows(), 2u);
  EXPECT_EQ(f->centroid(2)[0], 2.f);
  EXPECT_EQ(f->Lookup(12)[1], -2.f);
  EXPECT_EQ(f->Lookup(11), nullptr);
  // No stored cluster at all is a valid field (a shard homing none).
  absl::StatusOr<CompressedField> none = Four({4, {}});
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_EQ(none->num_rows(), 0u);
  EXPECT_TRUE(none->trimmed());
  // Every cluster listed is the same as none listed.
  absl::StatusOr<CompressedField> all = Four({4, {0, 1, 2, 3}});
  ASSERT_TRUE(all.ok());
  EXPECT_FALSE(all->trimmed());
  EXPECT_TRUE(all->row_ids().empty());
}

TEST(CompressedFieldTest, RefusesInconsistentStoredClusters) {
  // An index naming cluster 3 of k = 3.
  EXPECT_EQ(Four({3, {0, 2}}).status().code(),
            absl::StatusCode::kInvalidArgument);
  // Ids out of order, or beyond k.
  EXPECT_EQ(Four({4, {2, 0}}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Four({4, {0, 5}}).status().code(),
            absl::StatusCode::kInvalidArgument);
  // Centroid rows that do not match the ids.
  const absl::StatusOr<CompressedField> f = CompressedField::Create(
      2, {1, 1, 2, 2}, {0, 0}, std::vector<uint64_t>{1},
      std::vector<uint32_t>{0}, KeyIndexOptions(), {4, {0}});
  EXPECT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(f.status().message().find("2 centroids for 1 stored cluster ids"),
            std::string::npos)
      << f.status();
}

}  // namespace
}  // namespace strata::compression
