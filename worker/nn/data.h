// Image datasets for the NN engine: MNIST IDX files (gzipped or not),
// CIFAR-10 binary batches, synthetic batches, normalisation, shuffling and
// batching.
#ifndef STRATA_WORKER_NN_DATA_H_
#define STRATA_WORKER_NN_DATA_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace strata {
namespace nn {

// Images as float32 NCHW in [0, 1] after loading, labels as class indices.
// A plain value type.
struct Dataset {
  int64_t channels = 0, height = 0, width = 0;
  std::vector<float> images;  // size() * ImageSize()
  std::vector<int32_t> labels;

  int64_t size() const { return static_cast<int64_t>(labels.size()); }
  int64_t ImageSize() const { return channels * height * width; }
  // Keeps the first n examples (no-op when n >= size()).
  void Truncate(int64_t n);
};

// Caps on what the readers load, so that a corrupt or hostile file (a
// header promising 2^32 x 2^32 images, a gzip bomb, /dev/zero) gets a
// status naming the file and the cap instead of exhausting the worker's
// memory. The defaults hold MNIST (47 MB decompressed, 188 MB loaded) and
// CIFAR-10 (184 MB, 737 MB) with room to spare. A plain value type.
struct ReadOptions {
  // Bytes one file may hold once decompressed (a raw file: its size).
  // Checked while inflating, so a gzip bomb costs at most this much memory.
  uint64_t max_file_bytes = uint64_t{1} << 30;  // 1 GiB
  // Bytes the returned Dataset may hold over all files of the call: 4 per
  // pixel (floats) plus 4 per label. Checked from the headers (overflow-safe)
  // before anything is allocated.
  uint64_t max_dataset_bytes = uint64_t{2} << 30;  // 2 GiB
};

// Reads an MNIST images/labels IDX pair (each gzipped or raw; zlib detects
// which). Every message names the file:
//   NOT_FOUND              a missing file;
//   INVALID_ARGUMENT       a bad magic number, disagreeing counts, a header
//                          whose sizes overflow 64 bits, an empty image
//                          (0 rows or columns), a label above 9;
//   DATA_LOSS              a truncated header or data, a corrupt gzip stream;
//   RESOURCE_EXHAUSTED     a file or dataset over a cap of `options`.
absl::StatusOr<Dataset> ReadMnist(const std::string& images_path,
                                  const std::string& labels_path,
                                  const ReadOptions& options = {});
// Reads `dir`/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz].
absl::StatusOr<Dataset> ReadMnistSplit(const std::string& dir, bool train,
                                       const ReadOptions& options = {});

// Reads CIFAR-10 binary batch files (records of 1 label byte + 3072 pixel
// bytes; each file gzipped or raw) and concatenates them. DATA_LOSS when a
// file is not a whole number of records (naming the offset of the partial
// record) or is empty, INVALID_ARGUMENT for
// a label > 9, RESOURCE_EXHAUSTED past a cap of `options`; otherwise as
// ReadMnist.
absl::StatusOr<Dataset> ReadCifar10(const std::vector<std::string>& paths,
                                    const ReadOptions& options = {});

// A CIFAR-10 binary directory (the "binary version": data_batch_1.bin ...
// data_batch_5.bin, test_batch.bin, each of any record count). The training
// split is every data_batch_N.bin the directory holds (N a decimal number,
// ascending N; at least one, else NOT_FOUND naming the directory), the test
// split test_batch.bin. Errors as ReadCifar10.
absl::StatusOr<Dataset> ReadCifar10Split(const std::string& dir, bool train,
                                         const ReadOptions& options = {});
// The training batch files of `dir` as ReadCifar10Split picks them.
absl::StatusOr<std::vector<std::string>> Cifar10TrainFiles(
    const std::string& dir);

// Standard CIFAR augmentation, in place, on `images` (whole images of
// channels x height x width, NCHW): each image is zero-padded by `pad`
// pixels on every side, cropped back at a random offset in [0, 2 x pad]^2,
// and mirrored left-right with probability 1/2. Image i draws from a
// generator seeded by (seed, first_index + i) only, so a batch split over
// workers in any way augments each image alike. The zero is the padding's
// value as stored: after Normalize, the training set's mean colour.
void RandomCropFlip(int64_t channels, int64_t height, int64_t width,
                    int64_t pad, uint64_t seed, int64_t first_index,
                    absl::Span<float> images);

// `n` random images of the given shape, pixels uniform in [0,1), labels
// uniform in [0, classes). Deterministic in `seed`.
Dataset SyntheticImages(int64_t n, int64_t channels, int64_t height,
                        int64_t width, int32_t classes, uint64_t seed);
// Linearly separable images: each class has a fixed random template; an
// example is its template plus small noise. Learnable in a few steps.
Dataset SeparableImages(int64_t n, int64_t channels, int64_t height,
                        int64_t width, int32_t classes, uint64_t seed);

struct ChannelStats {
  std::vector<float> mean, stddev;
};
// Per-channel mean and standard deviation. INVALID_ARGUMENT when empty.
absl::StatusOr<ChannelStats> ComputeChannelStats(const Dataset& d);
// x = (x - mean[c]) / stddev[c]. INVALID_ARGUMENT on a channel mismatch or a
// zero stddev.
absl::Status Normalize(const ChannelStats& stats, Dataset* d);

// A permutation of [0, n) from `seed` (Fisher-Yates on mt19937_64).
std::vector<int64_t> ShuffledIndices(int64_t n, uint64_t seed);
// Copies examples order[start .. start+batch) into images (batch*ImageSize
// floats) and labels (batch). INVALID_ARGUMENT when out of range.
absl::Status GatherBatch(const Dataset& d, absl::Span<const int64_t> order,
                         int64_t start, int64_t batch, absl::Span<float> images,
                         absl::Span<int32_t> labels);

}  // namespace nn
}  // namespace strata

#endif  // STRATA_WORKER_NN_DATA_H_
