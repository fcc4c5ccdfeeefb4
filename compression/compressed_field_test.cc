#include "compression/compressed_field.h"

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

}  // namespace
}  // namespace strata::compression
