#include "worker/nn/data.h"

#include <zlib.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "gtest/gtest.h"

namespace strata {
namespace nn {
namespace {

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir != nullptr ? dir : "/tmp") + "/" + name;
}

std::string Be32(uint32_t v) {
  return std::string{char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
}

std::string ImagesIdx(uint32_t n, uint32_t rows, uint32_t cols) {
  std::string s = Be32(0x803) + Be32(n) + Be32(rows) + Be32(cols);
  for (uint32_t i = 0; i < n * rows * cols; ++i) s.push_back(char(i % 256));
  return s;
}

std::string LabelsIdx(uint32_t n) {
  std::string s = Be32(0x801) + Be32(n);
  for (uint32_t i = 0; i < n; ++i) s.push_back(char(i % 10));
  return s;
}

std::string Write(const std::string& name, const std::string& bytes) {
  const std::string path = TempPath(name);
  FILE* f = std::fopen(path.c_str(), "wb");
  std::fwrite(bytes.data(), 1, bytes.size(), f);
  std::fclose(f);
  return path;
}

std::string WriteGz(const std::string& name, const std::string& bytes) {
  const std::string path = TempPath(name);
  gzFile f = gzopen(path.c_str(), "wb");
  gzwrite(f, bytes.data(), bytes.size());
  gzclose(f);
  return path;
}

TEST(MnistTest, ReadsRawAndGzippedIdxFiles) {
  auto d = ReadMnist(WriteGz("img.gz", ImagesIdx(3, 4, 5)),
                     Write("lab", LabelsIdx(3)));
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->size(), 3);
  EXPECT_EQ(d->channels, 1);
  EXPECT_EQ(d->height, 4);
  EXPECT_EQ(d->width, 5);
  EXPECT_FLOAT_EQ(d->images[21], 21 / 255.0f);
  EXPECT_EQ(d->labels, (std::vector<int32_t>{0, 1, 2}));
}

TEST(MnistTest, BadMagicIsInvalidArgumentNamingTheFile) {
  std::string img = ImagesIdx(2, 2, 2);
  img[3] = 0x04;
  const std::string path = Write("badmagic", img);
  auto d = ReadMnist(path, Write("lab2", LabelsIdx(2)));
  ASSERT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(d.status().message().find(path), absl::string_view::npos);
  EXPECT_NE(d.status().message().find("magic"), absl::string_view::npos);
}

TEST(MnistTest, TruncatedFileIsDataLoss) {
  std::string img = ImagesIdx(4, 3, 3);
  img.resize(img.size() - 5);
  const std::string path = Write("trunc", img);
  auto d = ReadMnist(path, Write("lab3", LabelsIdx(4)));
  ASSERT_EQ(d.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(d.status().message().find(path), absl::string_view::npos);
  auto h = ReadMnist(Write("hdr", Be32(0x803)), Write("lab4", LabelsIdx(1)));
  EXPECT_EQ(h.status().code(), absl::StatusCode::kDataLoss);
}

TEST(MnistTest, DisagreeingCountsAreInvalidArgument) {
  auto d = ReadMnist(Write("img5", ImagesIdx(5, 2, 2)),
                     Write("lab5", LabelsIdx(4)));
  ASSERT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(d.status().message().find("5 images"), absl::string_view::npos);
}

TEST(MnistTest, MissingFileIsNotFound) {
  EXPECT_EQ(ReadMnist(TempPath("nope"), TempPath("nope2")).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(ReadMnistSplit(TempPath("nodir"), true).status().code(),
            absl::StatusCode::kNotFound);
}

std::string CifarRecords(int n, unsigned char label) {
  std::string s;
  for (int r = 0; r < n; ++r) {
    s.push_back(char(label));
    for (int i = 0; i < 3072; ++i) s.push_back(char((i + r) % 256));
  }
  return s;
}

TEST(Cifar10Test, ReadsAndConcatenatesBatches) {
  auto d = ReadCifar10({Write("c1", CifarRecords(2, 3)),
                        Write("c2", CifarRecords(1, 9))});
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->size(), 3);
  EXPECT_EQ(d->ImageSize(), 3072);
  EXPECT_EQ(d->labels, (std::vector<int32_t>{3, 3, 9}));
  EXPECT_FLOAT_EQ(d->images[3072 + 1], 2 / 255.0f);
}

TEST(Cifar10Test, PartialRecordIsDataLossAndBadLabelInvalidArgument) {
  std::string bytes = CifarRecords(2, 1);
  bytes.pop_back();
  EXPECT_EQ(ReadCifar10({Write("c3", bytes)}).status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(ReadCifar10({Write("c4", CifarRecords(1, 10))}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(DataTest, ShuffleIsASeededPermutation) {
  std::vector<int64_t> a = ShuffledIndices(100, 5);
  EXPECT_EQ(a, ShuffledIndices(100, 5));
  EXPECT_NE(a, ShuffledIndices(100, 6));
  std::vector<int64_t> sorted = a;
  std::sort(sorted.begin(), sorted.end());
  for (int i = 0; i < 100; ++i) EXPECT_EQ(sorted[i], i);
}

TEST(DataTest, NormalizeGivesZeroMeanUnitVariancePerChannel) {
  Dataset d = SyntheticImages(20, 3, 4, 4, 10, 1);
  auto stats = ComputeChannelStats(d);
  ASSERT_TRUE(stats.ok());
  ASSERT_TRUE(Normalize(*stats, &d).ok());
  auto after = ComputeChannelStats(d);
  for (int c = 0; c < 3; ++c) {
    EXPECT_NEAR(after->mean[c], 0.0, 1e-4);
    EXPECT_NEAR(after->stddev[c], 1.0, 1e-3);
  }
  ChannelStats wrong{{0.0f}, {1.0f}};
  EXPECT_EQ(Normalize(wrong, &d).code(), absl::StatusCode::kInvalidArgument);
}

TEST(DataTest, GatherBatchCopiesExamplesInOrderAndChecksBounds) {
  Dataset d = SyntheticImages(5, 1, 2, 2, 3, 2);
  std::vector<int64_t> order = {4, 0, 1, 2, 3};
  std::vector<float> img(8);
  std::vector<int32_t> lab(2);
  ASSERT_TRUE(GatherBatch(d, order, 0, 2, absl::MakeSpan(img),
                          absl::MakeSpan(lab)).ok());
  EXPECT_EQ(lab[0], d.labels[4]);
  EXPECT_FLOAT_EQ(img[0], d.images[16]);
  EXPECT_EQ(GatherBatch(d, order, 4, 2, absl::MakeSpan(img),
                        absl::MakeSpan(lab)).code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace nn
}  // namespace strata
