#include "proto/rpc_util.h"

#include <limits>

#include "gtest/gtest.h"

namespace strata {
namespace {

TEST(RpcUtilTest, StatusCodesRoundTripBothWays) {
  for (auto code : {absl::StatusCode::kInvalidArgument,
                    absl::StatusCode::kNotFound,
                    absl::StatusCode::kFailedPrecondition,
                    absl::StatusCode::kUnavailable}) {
    absl::Status s(code, "boom");
    grpc::Status g = ToGrpcStatus(s);
    EXPECT_EQ(static_cast<int>(g.error_code()), static_cast<int>(code));
    EXPECT_EQ(g.error_message(), "boom");
    EXPECT_EQ(FromGrpcStatus(g), s);
  }
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
}

TEST(RpcUtilTest, PackedPayloadsRoundTrip) {
  std::vector<uint64_t> keys = {0, 1, ~uint64_t{0}, 1234567890123ULL};
  std::vector<float> vals = {0.f, -1.5f, 3.25e-7f};
  std::string kb = PackU64(keys), vb = PackF32(vals);
  ASSERT_EQ(*PackedU64Count(kb, "keys"), keys.size());
  ASSERT_EQ(*PackedF32Count(vb, "values"), vals.size());
  std::vector<uint64_t> k2;
  std::vector<float> v2;
  UnpackU64(kb, &k2);
  UnpackF32(vb, &v2);
  EXPECT_EQ(k2, keys);
  EXPECT_EQ(v2, vals);
}

TEST(RpcUtilTest, RejectsRaggedPayloadsWithInvalidArgument) {
  auto n = PackedU64Count(std::string(12, 'x'), "keys");
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(n.status().message().find("keys"), absl::string_view::npos);
  EXPECT_FALSE(PackedF32Count(std::string(7, 'x'), "values").ok());
}

TEST(RpcUtilTest, CheckFiniteNamesTheFirstBadElement) {
  std::vector<float> v = {1.f, 2.f, std::numeric_limits<float>::quiet_NaN()};
  absl::Status s = CheckFinite(v, "gradients");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("element 2"), absl::string_view::npos);
  v[2] = std::numeric_limits<float>::infinity();
  EXPECT_FALSE(CheckFinite(v, "g").ok());
  v[2] = 3.f;
  EXPECT_TRUE(CheckFinite(v, "g").ok());
}

}  // namespace
}  // namespace strata
