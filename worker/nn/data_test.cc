#include "worker/nn/data.h"

#include <zlib.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "worker/nn/internal/data_testing.h"

namespace strata {
namespace nn {
namespace {

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

using internal::GzipMember;
using internal::ScratchPath;

std::string Write(const std::string& name, const std::string& bytes) {
  const std::string path = ScratchPath(name);
  EXPECT_TRUE(internal::WriteBytes(path, bytes).ok()) << path;
  return path;
}

std::string WriteGz(const std::string& name, const std::string& bytes) {
  return Write(name, GzipMember(bytes, 6));
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
  auto d =
      ReadMnist(Write("img5", ImagesIdx(5, 2, 2)), Write("lab5", LabelsIdx(4)));
  ASSERT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(d.status().message().find("5 images"), absl::string_view::npos);
}

TEST(MnistTest, MissingFileIsNotFound) {
  EXPECT_EQ(
      ReadMnist(ScratchPath("nope"), ScratchPath("nope2")).status().code(),
      absl::StatusCode::kNotFound);
  EXPECT_EQ(ReadMnistSplit(ScratchPath("nodir"), true).status().code(),
            absl::StatusCode::kNotFound);
}

std::string LabelsIdxOfZeros(uint32_t n) {
  return Be32(0x801) + Be32(n) + std::string(n, '\0');
}

TEST(MnistTest, DimensionsOverflowingSixtyFourBitsAreInvalidArgument) {
  // 2^22 x 2^21 x 2^21 is 2^64, which wraps to 0 bytes of data; (2^32-1)^3
  // does not fit either. Neither may allocate or load anything.
  const std::string wraps =
      Be32(0x803) + Be32(1u << 22) + Be32(1u << 21) + Be32(1u << 21);
  const std::string huge =
      Be32(0x803) + Be32(0xffffffffu) + Be32(0xffffffffu) + Be32(0xffffffffu);
  const std::string labels = Write("lab_wrap", LabelsIdxOfZeros(1u << 22));
  for (const std::string& header : {wraps, huge}) {
    const std::string path = Write("overflow", header);
    auto d = ReadMnist(path, labels);
    ASSERT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument)
        << d.status();
    EXPECT_NE(d.status().message().find(path), absl::string_view::npos);
    EXPECT_NE(d.status().message().find("overflow 64 bits"),
              absl::string_view::npos)
        << d.status();
  }
}

TEST(MnistTest, HugeDimensionsWithoutTheDataAreDataLoss) {
  // 2^32-1 images of 2^16 x 2^16 pixels: 2^64 - 2^32 bytes promised, none
  // there. The promise is checked against the file before any allocation.
  const std::string path = Write("huge", Be32(0x803) + Be32(0xffffffffu) +
                                             Be32(1u << 16) + Be32(1u << 16));
  auto d = ReadMnist(path, Write("lab_huge", LabelsIdx(1)));
  ASSERT_EQ(d.status().code(), absl::StatusCode::kDataLoss) << d.status();
  EXPECT_NE(d.status().message().find(path), absl::string_view::npos);
  EXPECT_NE(d.status().message().find("truncated"), absl::string_view::npos);
}

TEST(MnistTest, ZeroImagesOfHugeSidesAreInvalidArgument) {
  // No images, so no file size bounds the sides; their product would
  // overflow int64 (found by the ASan/UBSan run of idx_fuzz's corpus).
  const std::string path = Write(
      "zero_huge", Be32(0x803) + Be32(0) + Be32(4194303971u) + Be32(4294967267u));
  auto d = ReadMnist(path, Write("lab_zero", LabelsIdx(0)));
  ASSERT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument)
      << d.status();
  EXPECT_NE(d.status().message().find("65536 pixels a side"),
            absl::string_view::npos)
      << d.status();
}

TEST(MnistTest, EmptyImagesAreInvalidArgument) {
  const std::string path = Write("empty_img", ImagesIdx(2, 0, 5));
  auto d = ReadMnist(path, Write("lab_empty", LabelsIdx(2)));
  ASSERT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(d.status().message().find(path), absl::string_view::npos);
}

TEST(MnistTest, LabelAboveNineIsInvalidArgument) {
  std::string labels = LabelsIdx(3);
  labels.back() = 10;
  const std::string path = Write("lab_ten", labels);
  auto d = ReadMnist(Write("img_ten", ImagesIdx(3, 2, 2)), path);
  ASSERT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(d.status().message().find(path), absl::string_view::npos);
}

TEST(MnistTest, DatasetOverTheCapIsResourceExhaustedNamingTheCap) {
  const std::string img = Write("img_cap", ImagesIdx(3, 4, 5));
  const std::string lab = Write("lab_cap", LabelsIdx(3));
  ReadOptions options;
  options.max_dataset_bytes = 3 * (4 * 5 + 1) * sizeof(float);  // exactly
  auto d = ReadMnist(img, lab, options);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->size(), 3);
  options.max_dataset_bytes -= 1;
  d = ReadMnist(img, lab, options);
  ASSERT_EQ(d.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(d.status().message().find(img), absl::string_view::npos);
  EXPECT_NE(d.status().message().find("max_dataset_bytes"),
            absl::string_view::npos);
}

// A gzip bomb: an IDX header promising 2^30 pixels, then 1 GiB of zeros, as
// 1 + 1024 gzip members (gunzip and zlib's gzread read them as one stream)
// of about 1 MiB in all.
std::string WriteGzipBomb(const std::string& name) {
  const std::string zeros = GzipMember(std::string(1 << 20, '\0'), 9);
  std::string bomb =
      GzipMember(Be32(0x803) + Be32(1u << 20) + Be32(32) + Be32(32), 9);
  for (int i = 0; i < 1024; ++i) bomb += zeros;
  return Write(name, bomb);
}

int64_t FileSize(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  std::fseek(f, 0, SEEK_END);
  const int64_t size = std::ftell(f);
  std::fclose(f);
  return size;
}

// Bytes `path` inflates to, counted as they stream by.
int64_t GunzippedSize(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  std::string buf(1 << 20, '\0');
  int64_t total = 0;
  int n;
  while ((n = gzread(f, &buf[0], buf.size())) > 0) total += n;
  gzclose(f);
  return total;
}

TEST(MnistTest, GzipBombIsResourceExhaustedNotAnOutOfMemory) {
  const std::string bomb = WriteGzipBomb("bomb.gz");
  ASSERT_LT(FileSize(bomb), 2 << 20);
  ASSERT_EQ(GunzippedSize(bomb), 16 + (int64_t{1} << 30));
  ReadOptions options;
  options.max_file_bytes = 8 << 20;  // stop early: the test stays fast
  auto d = ReadMnist(bomb, Write("lab_bomb", LabelsIdx(1)), options);
  ASSERT_EQ(d.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(d.status().message().find(bomb), absl::string_view::npos);
  EXPECT_NE(d.status().message().find("max_file_bytes"),
            absl::string_view::npos);
}

TEST(MnistTest, EndlessFileIsResourceExhausted) {
  ReadOptions options;
  options.max_file_bytes = 1 << 20;
  auto d = ReadMnist("/dev/zero", Write("lab_zero", LabelsIdx(1)), options);
  ASSERT_EQ(d.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(d.status().message().find("/dev/zero"), absl::string_view::npos);
}

TEST(MnistTest, CorruptGzipIsDataLoss) {
  std::string gz;
  {
    const std::string path = WriteGz("good.gz", ImagesIdx(2, 3, 3));
    FILE* f = std::fopen(path.c_str(), "rb");
    char buf[4096];
    gz.assign(buf, std::fread(buf, 1, sizeof(buf), f));
    std::fclose(f);
  }
  gz[gz.size() / 2] ^= 0x55;
  const std::string path = Write("corrupt.gz", gz);
  auto d = ReadMnist(path, Write("lab_corrupt", LabelsIdx(2)));
  ASSERT_EQ(d.status().code(), absl::StatusCode::kDataLoss) << d.status();
  EXPECT_NE(d.status().message().find(path), absl::string_view::npos);
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
  auto d = ReadCifar10(
      {Write("c1", CifarRecords(2, 3)), Write("c2", CifarRecords(1, 9))});
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

TEST(Cifar10Test, TruncatedFileIsDataLossNamingTheFileAndOffset) {
  std::string bytes = CifarRecords(3, 1);
  bytes.resize(2 * 3073 + 100);
  const std::string path = Write("c_trunc", bytes);
  auto d = ReadCifar10({path});
  ASSERT_EQ(d.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(d.status().message(),
            path + ": truncated CIFAR-10 record at offset 6146 (6246 bytes "
                   "is not a whole number of 3073-byte records)");
  const std::string empty = Write("c_empty", "");
  d = ReadCifar10({empty});
  ASSERT_EQ(d.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(d.status().message(), empty + ": empty file, no CIFAR-10 record");
}

// A CIFAR-10 directory in the scratch space holding `files` (name ->
// bytes); returns its path.
std::string CifarDir(const std::string& name,
                     const std::vector<std::pair<std::string, std::string>>&
                         files) {
  const std::string dir = ScratchPath(name);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  for (const auto& [file, bytes] : files) {
    EXPECT_TRUE(internal::WriteBytes(dir + "/" + file, bytes).ok());
  }
  return dir;
}

TEST(Cifar10Test, SplitReadsEveryTrainingBatchInOrderAndTheTestBatch) {
  // Batches 1, 2 and 10 (10 sorts after 2), other files ignored.
  const std::string dir =
      CifarDir("cifar_dir", {{"data_batch_10.bin", CifarRecords(1, 7)},
                             {"data_batch_2.bin", CifarRecords(2, 2)},
                             {"data_batch_1.bin", CifarRecords(3, 1)},
                             {"data_batch_x.bin", CifarRecords(1, 9)},
                             {"batches.meta.txt", "airplane\n"},
                             {"test_batch.bin", CifarRecords(2, 4)}});
  auto files = Cifar10TrainFiles(dir);
  ASSERT_TRUE(files.ok()) << files.status();
  EXPECT_EQ(*files, (std::vector<std::string>{dir + "/data_batch_1.bin",
                                              dir + "/data_batch_2.bin",
                                              dir + "/data_batch_10.bin"}));
  auto train = ReadCifar10Split(dir, true);
  ASSERT_TRUE(train.ok()) << train.status();
  EXPECT_EQ(train->labels, (std::vector<int32_t>{1, 1, 1, 2, 2, 7}));
  EXPECT_EQ(train->channels, 3);
  EXPECT_EQ(train->height, 32);
  EXPECT_EQ(train->width, 32);
  // Record r's pixel i is (i + r) % 256: record 1 of batch 1, pixel 0.
  EXPECT_FLOAT_EQ(train->images[3072], 1 / 255.0f);
  auto test = ReadCifar10Split(dir, false);
  ASSERT_TRUE(test.ok()) << test.status();
  EXPECT_EQ(test->labels, (std::vector<int32_t>{4, 4}));
}

TEST(Cifar10Test, SplitWithoutTrainingOrTestBatchIsNotFound) {
  const std::string dir =
      CifarDir("cifar_no_train", {{"test_batch.bin", CifarRecords(1, 0)}});
  auto d = ReadCifar10Split(dir, true);
  ASSERT_EQ(d.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(d.status().message(),
            dir + ": no CIFAR-10 training batch (data_batch_N.bin)");
  const std::string no_test =
      CifarDir("cifar_no_test", {{"data_batch_1.bin", CifarRecords(1, 0)}});
  EXPECT_EQ(ReadCifar10Split(no_test, false).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(ReadCifar10Split(ScratchPath("cifar_missing"), true)
                .status()
                .code(),
            absl::StatusCode::kNotFound);
}

TEST(Cifar10Test, OversizedSplitIsResourceExhaustedBeforeLoading) {
  const std::string dir =
      CifarDir("cifar_big", {{"data_batch_1.bin", CifarRecords(2, 1)},
                             {"data_batch_2.bin", CifarRecords(2, 2)}});
  ReadOptions options;
  options.max_dataset_bytes = 3 * 3073 * sizeof(float);
  auto d = ReadCifar10Split(dir, true, options);
  ASSERT_EQ(d.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(d.status().message().find(dir + "/data_batch_2.bin"),
            absl::string_view::npos);
  options.max_file_bytes = 3073;  // one record a file
  d = ReadCifar10Split(dir, true, options);
  ASSERT_EQ(d.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(d.status().message().find(dir + "/data_batch_1.bin"),
            absl::string_view::npos);
}

TEST(AugmentTest, CropFlipIsSeededPerImageAndChangesPixels) {
  Dataset d = SyntheticImages(8, 3, 32, 32, 10, 5);
  std::vector<float> a = d.images, b = d.images;
  RandomCropFlip(3, 32, 32, 4, 11, 0, absl::MakeSpan(a));
  RandomCropFlip(3, 32, 32, 4, 11, 0, absl::MakeSpan(b));
  EXPECT_EQ(a, b);  // same seed, same images
  EXPECT_NE(a, d.images);
  // Images 4..7 alone, as a worker holding the batch's second half: alike.
  std::vector<float> half(d.images.begin() + 4 * 3072, d.images.end());
  RandomCropFlip(3, 32, 32, 4, 11, 4, absl::MakeSpan(half));
  EXPECT_TRUE(std::equal(half.begin(), half.end(), a.begin() + 4 * 3072));
  std::vector<float> other = d.images;
  RandomCropFlip(3, 32, 32, 4, 12, 0, absl::MakeSpan(other));
  EXPECT_NE(other, a);  // another seed, other crops
}

TEST(AugmentTest, CropShiftsWithZeroPaddingAndFlipMirrors) {
  // One 1x1x8 row image 1..8; with pad 2 each result is the row shifted by
  // -2..2 (zeros entering) and maybe mirrored. Over many seeds every shift
  // and both orientations occur, and nothing else.
  std::vector<float> row = {1, 2, 3, 4, 5, 6, 7, 8};
  std::set<std::vector<float>> seen;
  for (uint64_t seed = 0; seed < 400; ++seed) {
    std::vector<float> x = row;
    RandomCropFlip(1, 1, 8, 2, seed, 0, absl::MakeSpan(x));
    seen.insert(x);
  }
  std::set<std::vector<float>> want;
  for (int flip = 0; flip < 2; ++flip) {
    for (int dx = -2; dx <= 2; ++dx) {
      std::vector<float> x(8);
      for (int i = 0; i < 8; ++i) {
        const int s = (flip ? 7 - i : i) + dx;
        x[i] = s >= 0 && s < 8 ? row[s] : 0.0f;
      }
      want.insert(x);
    }
  }
  // Height 1 with pad 2: vertical shifts other than 0 give all zeros.
  want.insert(std::vector<float>(8, 0.0f));
  EXPECT_EQ(seen, want);
}

TEST(Cifar10Test, ReadsGzippedBatches) {
  auto d = ReadCifar10({WriteGz("c_gz", CifarRecords(2, 5))});
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->labels, (std::vector<int32_t>{5, 5}));
}

TEST(Cifar10Test, DatasetOverTheCapIsResourceExhaustedNamingTheFile) {
  const std::string first = Write("c_cap1", CifarRecords(2, 1));
  const std::string second = Write("c_cap2", CifarRecords(2, 2));
  ReadOptions options;
  options.max_dataset_bytes = 3 * 3073 * sizeof(float);  // three records
  auto d = ReadCifar10({first, second}, options);
  ASSERT_EQ(d.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(d.status().message().find(second), absl::string_view::npos);
  EXPECT_NE(d.status().message().find("max_dataset_bytes"),
            absl::string_view::npos);
  options.max_dataset_bytes = 4 * 3073 * sizeof(float);
  d = ReadCifar10({first, second}, options);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->size(), 4);
}

TEST(Cifar10Test, GzipBombIsResourceExhausted) {
  const std::string bomb = WriteGzipBomb("c_bomb.gz");
  ReadOptions options;
  options.max_file_bytes = 4 << 20;
  auto d = ReadCifar10({bomb}, options);
  ASSERT_EQ(d.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(d.status().message().find("max_file_bytes"),
            absl::string_view::npos);
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
  ASSERT_TRUE(
      GatherBatch(d, order, 0, 2, absl::MakeSpan(img), absl::MakeSpan(lab))
          .ok());
  EXPECT_EQ(lab[0], d.labels[4]);
  EXPECT_FLOAT_EQ(img[0], d.images[16]);
  EXPECT_EQ(
      GatherBatch(d, order, 4, 2, absl::MakeSpan(img), absl::MakeSpan(lab))
          .code(),
      absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace nn
}  // namespace strata
