#include "server/ps/compress_on_load.h"

#include <string>

#include "gtest/gtest.h"

namespace strata {
namespace {

// The status of ParseCompressOnLoad(compress, saec), which must fail.
absl::Status ErrorOf(absl::string_view compress, absl::string_view saec) {
  absl::StatusOr<std::optional<SaecConfig>> r =
      ParseCompressOnLoad(compress, saec);
  EXPECT_FALSE(r.ok()) << compress << " " << saec;
  return r.status();
}

TEST(CompressOnLoadTest, NoneMeansNoCompression) {
  absl::StatusOr<std::optional<SaecConfig>> r = ParseCompressOnLoad("none", "");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->has_value());
}

TEST(CompressOnLoadTest, SaecTakesTheTextFormatConfig) {
  absl::StatusOr<std::optional<SaecConfig>> r = ParseCompressOnLoad(
      "saec", "clusters: 64 min_features: 200 full_kmeans: true");
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(r->has_value());
  EXPECT_EQ((*r)->clusters(), 64u);
  EXPECT_EQ((*r)->min_features(), 200u);
  EXPECT_TRUE((*r)->full_kmeans());
  // Without spaces, for flag lists that are split on spaces.
  r = ParseCompressOnLoad("saec", "clusters:32,min_features:200");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)->clusters(), 32u);
  EXPECT_EQ((*r)->min_features(), 200u);
}

TEST(CompressOnLoadTest, EmptySaecIsEveryDefaultLeftToTheStore) {
  absl::StatusOr<std::optional<SaecConfig>> r = ParseCompressOnLoad("saec", "");
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(r->has_value());
  EXPECT_EQ((*r)->SerializeAsString(), SaecConfig().SerializeAsString());
}

TEST(CompressOnLoadTest, MalformedSaecIsInvalidArgumentWithTheParserError) {
  const absl::Status s = ErrorOf("saec", "clusters: lots");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("--saec is not a text-format strata.SaecConfig"),
            std::string::npos)
      << s;
  EXPECT_NE(s.message().find("line 1, column 11"), std::string::npos) << s;
  EXPECT_EQ(ErrorOf("saec", "no_such_field: 1").code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(CompressOnLoadTest, OutOfRangeSaecIsInvalidArgument) {
  const absl::Status s = ErrorOf("saec", "head_mass: 1.5");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("--saec: head_mass 1.5 is outside (0, 1]"),
            std::string::npos)
      << s;
  EXPECT_EQ(ErrorOf("saec", "field_bits: 40").code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(CompressOnLoadTest, UnknownMethodIsInvalidArgument) {
  const absl::Status s = ErrorOf("kmeans", "");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("full_kmeans: true"), std::string::npos) << s;
  EXPECT_EQ(ErrorOf("yes", "").code(), absl::StatusCode::kInvalidArgument);
}

TEST(CompressOnLoadTest, SaecWithoutCompressionIsInvalidArgument) {
  const absl::Status s = ErrorOf("none", "clusters: 8");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("--compress=saec"), std::string::npos) << s;
}

}  // namespace
}  // namespace strata
