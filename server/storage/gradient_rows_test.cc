#include "server/storage/gradient_rows.h"

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "gtest/gtest.h"
#include "server/storage/internal/sliced_floats_testing.h"

namespace strata {
namespace {

std::vector<float> Floats(size_t n) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = 0.25f * static_cast<float>(i) - 3.0f;
  return v;
}

using internal::SlicedFloats;
using Sizes = std::vector<size_t>;

void ExpectRows(const GradientRows& rows, const std::vector<float>& floats,
                uint32_t dim) {
  ASSERT_EQ(rows.size(), floats.size());
  ASSERT_EQ(rows.rows(), floats.size() / dim);
  std::vector<float> buffer(dim);
  for (size_t i = 0; i < rows.rows(); ++i) {
    const float* r = rows.Row(i, buffer.data());
    EXPECT_EQ(reinterpret_cast<uintptr_t>(r) % alignof(float), 0u) << i;
    for (uint32_t c = 0; c < dim; ++c) {
      EXPECT_EQ(r[c], floats[i * dim + c]) << "row " << i << " column " << c;
      EXPECT_EQ(rows.At(i * dim + c), floats[i * dim + c]);
    }
    float first;
    std::memcpy(&first, rows.RowBytes(i), sizeof(first));
    EXPECT_EQ(first, floats[i * dim]);
  }
  // The runs cover every row once, in order.
  size_t next = 0;
  rows.ForEachRun([&](const GradientRows::Run& run) {
    EXPECT_EQ(run.first_row, next);
    for (size_t k = 0; k < run.rows * dim; ++k) {
      float v;
      std::memcpy(&v, run.bytes + k * sizeof(float), sizeof(v));
      EXPECT_EQ(v, floats[run.first_row * dim + k]);
    }
    next += run.rows;
  });
  EXPECT_EQ(next, rows.rows());
  std::vector<float> scratch;
  const absl::Span<const float> all = rows.Contiguous(&scratch);
  EXPECT_EQ(std::vector<float>(all.begin(), all.end()), floats);
}

TEST(GradientRowsTest, OneArrayIsReadInPlace) {
  const std::vector<float> f = Floats(12);
  GradientRows rows(f, 4);
  ExpectRows(rows, f, 4);
  float buffer[4];
  EXPECT_EQ(rows.Row(2, buffer), f.data() + 8);
  std::vector<float> scratch;
  EXPECT_EQ(rows.Contiguous(&scratch).data(), f.data());
  EXPECT_TRUE(scratch.empty());
}

// Rows in one piece are handed out in place at an aligned address, else
// copied to the caller's buffer.
TEST(GradientRowsTest, RowsAreReadInPlaceWhereAligned) {
  const std::vector<float> f = Floats(24);
  for (size_t shift = 0; shift < 4; ++shift) {
    SlicedFloats p(f, Sizes{}, shift);
    GradientRows rows;
    rows.Assign(p.pieces(), 8);
    ExpectRows(rows, f, 8);
    float buffer[8];
    const float* row = rows.Row(1, buffer);
    if (shift == 0) {
      EXPECT_EQ(reinterpret_cast<const char*>(row), p.pieces()[0].data() + 32);
    } else {
      EXPECT_EQ(row, buffer);
    }
    int runs = 0;
    rows.ForEachRun([&](const GradientRows::Run&) { ++runs; });
    EXPECT_EQ(runs, 1);
  }
}

// Rows split over two or more pieces, empty pieces and pieces smaller than
// a float, at every alignment: the same floats as the array.
TEST(GradientRowsTest, AnySlicingReadsTheSameRows) {
  const std::vector<float> f = Floats(7 * 5);
  const std::vector<std::vector<size_t>> cuts = {
      {1, 1, 1, 0, 5, 13}, {20, 0, 0, 3}, {28, 28, 28, 28},
      {3, 7, 11, 13, 17},  {140},         {0, 139},
  };
  for (size_t shift = 0; shift < 4; ++shift) {
    for (const auto& c : cuts) {
      SlicedFloats p(f, c, shift);
      GradientRows rows;
      rows.Assign(p.pieces(), 7);
      ExpectRows(rows, f, 7);
    }
  }
}

TEST(GradientRowsTest, AssignReusesTheObject) {
  GradientRows rows;
  const std::vector<float> a = Floats(40);
  SlicedFloats pa(a, Sizes{3, 50, 11}, 2);
  rows.Assign(pa.pieces(), 4);
  ExpectRows(rows, a, 4);
  const std::vector<float> b = Floats(6);
  SlicedFloats pb(b, Sizes{8}, 0);
  rows.Assign(pb.pieces(), 2);
  ExpectRows(rows, b, 2);
  rows.Assign(absl::MakeConstSpan(a), 8);
  ExpectRows(rows, a, 8);
}

// A size that is not a whole number of rows: the whole rows are readable,
// Contiguous returns every float (the tables refuse the size).
TEST(GradientRowsTest, PartialLastRow) {
  const std::vector<float> f = Floats(10);
  SlicedFloats p(f, Sizes{6, 10}, 3);
  GradientRows rows;
  rows.Assign(p.pieces(), 4);
  EXPECT_EQ(rows.size(), 10u);
  EXPECT_EQ(rows.rows(), 2u);
  float buffer[4];
  EXPECT_EQ(rows.Row(1, buffer)[3], f[7]);
  std::vector<float> scratch;
  const absl::Span<const float> all = rows.Contiguous(&scratch);
  EXPECT_EQ(std::vector<float>(all.begin(), all.end()), f);
}

TEST(GradientRowsTest, NoPieces) {
  GradientRows rows;
  rows.Assign(absl::Span<const absl::string_view>(), 16);
  EXPECT_EQ(rows.size(), 0u);
  EXPECT_EQ(rows.rows(), 0u);
  int runs = 0;
  rows.ForEachRun([&](const GradientRows::Run&) { ++runs; });
  EXPECT_EQ(runs, 0);
}

// Received rows of 256 bytes and more are read in place; shorter ones, and
// a payload of another size than the push's keys, are copied into one
// array first; every float is readable either way.
TEST(GradientRowsTest, AssignReceivedReadsLongRowsInPlace) {
  constexpr uint32_t kLong = GradientRows::kMinInPlaceRowBytes / 4;
  const std::vector<float> f = Floats(kLong * 6);
  SlicedFloats p(f, Sizes{kLong * 4 * 2},
                 0);  // rows 0-1 in the first piece, aligned
  GradientRows rows;
  rows.AssignReceived(p.pieces(), kLong, 6);
  ExpectRows(rows, f, kLong);
  std::vector<float> buffer(kLong);
  EXPECT_EQ(reinterpret_cast<const char*>(rows.Row(1, buffer.data())),
            p.pieces()[0].data() + kLong * 4);

  rows.AssignReceived(p.pieces(), kLong, 5);  // one row too many: copied
  ExpectRows(rows, f, kLong);
  const char* r1 = reinterpret_cast<const char*>(rows.Row(1, buffer.data()));
  EXPECT_FALSE(p.Holds(r1));

  const std::vector<float> g = Floats(kLong * 6 + 1);  // a partial row
  SlicedFloats q(g, Sizes{100}, 1);
  rows.AssignReceived(q.pieces(), kLong, 6);
  EXPECT_EQ(rows.size(), g.size());
  std::vector<float> scratch;
  const absl::Span<const float> all = rows.Contiguous(&scratch);
  EXPECT_EQ(std::vector<float>(all.begin(), all.end()), g);

  const std::vector<float> h = Floats((kLong / 2) * 6);  // short rows
  SlicedFloats r(h, Sizes{kLong * 2}, 0);
  rows.AssignReceived(r.pieces(), kLong / 2, 6);
  ExpectRows(rows, h, kLong / 2);
  const char* s0 = reinterpret_cast<const char*>(rows.Row(0, buffer.data()));
  EXPECT_FALSE(r.Holds(s0));

  rows.Release();
  EXPECT_EQ(rows.size(), 0u);
  EXPECT_EQ(rows.rows(), 0u);
}

TEST(GradientRowsDeathTest, SizeNotAWholeNumberOfFloats) {
  const std::string bytes(7, '\0');
  const absl::string_view piece(bytes);
  GradientRows rows;
  EXPECT_DEATH(rows.Assign({&piece, 1}, 1), "");
}

}  // namespace
}  // namespace strata
