#include "server/storage/internal/validation.h"

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "server/storage/gradient_rows.h"
#include "server/storage/internal/sliced_floats_testing.h"

namespace strata {
namespace internal {
namespace {

constexpr float kBound = 1e15f;

TEST(CheckGradientsTest, AcceptsGradientsUpToTheBoundInclusive) {
  const std::vector<float> g = {kBound, -kBound, 0.0f, 1e-30f, -3.0f, 7.0f};
  EXPECT_TRUE(CheckGradients(g, 2, 3, kBound, "emb").ok());
  EXPECT_TRUE(CheckGradientValues(g, kBound, "dense tensor w").ok());
}

TEST(CheckGradientsTest, BeyondTheBoundNamesTableElementAndFlag) {
  std::vector<float> g(6, 0.5f);
  g[5] = -1e20f;
  const absl::Status s = CheckGradients(g, 2, 3, kBound, "emb");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(),
            "table emb: gradient 5 is -1e+20, beyond the bound of 1e+15 "
            "(--max_abs_gradient); key 1 of the batch, column 2");
  const absl::Status d = CheckGradientValues(g, kBound, "dense tensor w");
  EXPECT_EQ(d.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(d.message(),
            "dense tensor w: gradient 5 is -1e+20, beyond the bound of 1e+15 "
            "(--max_abs_gradient)");
}

TEST(CheckGradientsTest, NonFiniteKeepsItsOwnMessage) {
  for (float bad : {std::numeric_limits<float>::quiet_NaN(),
                    std::numeric_limits<float>::infinity()}) {
    std::vector<float> g(4, 1.0f);
    g[2] = bad;
    const absl::Status s = CheckGradients(g, 2, 2, kBound, "emb");
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(s.message().rfind("table emb: gradient 2 is not finite (", 0), 0u)
        << s;
    EXPECT_NE(s.message().find("key 1 of the batch, column 0"),
              std::string::npos)
        << s;
  }
}

TEST(CheckGradientsTest, TheFirstBadElementIsReportedAndSizeComesFirst) {
  const std::vector<float> g = {1, 20, std::numeric_limits<float>::infinity()};
  absl::Status s = CheckGradientValues(g, 10.0f, "t");
  EXPECT_EQ(s.message(),
            "t: gradient 1 is 20, beyond the bound of 10 (--max_abs_gradient)");
  s = CheckGradients(g, 2, 2, 10.0f, "emb");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("got 3 gradient floats for 2 keys of dim 2"),
            std::string::npos)
      << s;
}

// The first bad element is found wherever it lies: in a block of 64, at a
// block's edge, in the tail, with a second bad element after it; NaN of
// either sign, Inf of either sign and the first float beyond the bound all
// count, whatever their sign bit.
TEST(CheckGradientsTest, FindsTheFirstBadElementAtEveryPosition) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  const float just_beyond = std::nextafter(10.0f, inf);
  for (size_t n : {1, 63, 64, 65, 130}) {
    for (size_t at = 0; at < n; ++at) {
      for (float bad :
           {nan, -nan, inf, -inf, -20.0f, just_beyond, -just_beyond}) {
        std::vector<float> g(n, -10.0f);
        g[at] = bad;
        if (at + 1 < n) g[n - 1] = inf;
        const absl::Status s = CheckGradientValues(g, 10.0f, "t");
        EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
        EXPECT_EQ(
            s.message().rfind(absl::StrCat("t: gradient ", at, " is "), 0), 0u)
            << s << " n " << n;
      }
    }
  }
}

// Values up to the bound pass in every position of a block, signed zeros
// and the smallest subnormals included.
TEST(CheckGradientsTest, AcceptsEveryValueWithinTheBoundInBlocks) {
  for (float ok :
       {10.0f, -10.0f, 0.0f, -0.0f, std::numeric_limits<float>::denorm_min(),
        -std::numeric_limits<float>::denorm_min()}) {
    std::vector<float> g(130, 1.0f);
    for (size_t at = 0; at < g.size(); at += 7) g[at] = ok;
    EXPECT_TRUE(CheckGradientValues(g, 10.0f, "t").ok()) << ok;
  }
}

// Rows read in place (split over pieces, at odd addresses) are checked as
// the same floats in one array are: the same first bad element, the same
// message, the size first.
TEST(CheckGradientsTest, RowsInPiecesGiveTheArraysResult) {
  const float inf = std::numeric_limits<float>::infinity();
  constexpr uint32_t kDim = 5;
  for (size_t n : {1, 13, 40}) {
    for (size_t at = 0; at < n * kDim; at += 3) {
      std::vector<float> g(n * kDim, -10.0f);
      g[at] = (at % 2 == 0) ? inf : 20.0f;
      if (at + 1 < g.size()) g.back() = std::nanf("");
      const absl::Status want = CheckGradients(g, n, kDim, 10.0f, "emb");
      ASSERT_EQ(want.code(), absl::StatusCode::kInvalidArgument);
      for (size_t cut : {size_t{2}, size_t{7}, size_t{64}, size_t{1000}}) {
        for (size_t shift : {0, 1, 3}) {
          SlicedFloats p(g, cut, shift);
          GradientRows rows;
          rows.Assign(p.pieces(), kDim);
          EXPECT_EQ(CheckGradients(rows, n, kDim, 10.0f, "emb"), want)
              << "n " << n << " at " << at << " cut " << cut;
          g[at] = 1.0f;
          if (at + 1 < g.size()) g.back() = 1.0f;
          SlicedFloats good(g, cut, shift);
          rows.Assign(good.pieces(), kDim);
          EXPECT_TRUE(CheckGradients(rows, n, kDim, 10.0f, "emb").ok());
          g[at] = (at % 2 == 0) ? inf : 20.0f;
          if (at + 1 < g.size()) g.back() = std::nanf("");
        }
      }
    }
  }
  GradientRows rows;
  SlicedFloats p(std::vector<float>(9, 1.0f), 5, 1);
  rows.Assign(p.pieces(), 3);
  const absl::Status s = CheckGradients(rows, 4, 3, 10.0f, "emb");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("got 9 gradient floats for 4 keys of dim 3"),
            std::string::npos)
      << s;
}

}  // namespace
}  // namespace internal
}  // namespace strata
