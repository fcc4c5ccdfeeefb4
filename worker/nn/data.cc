#include "worker/nn/data.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "proto/base/status_macros.h"

namespace strata {
namespace nn {
namespace {
// Longest side of an IDX image the reader accepts.
constexpr uint32_t kMaxImageSide = 1 << 16;
}  // namespace
namespace {

// Whole file, decompressed if gzipped (gzread passes raw files through).
// RESOURCE_EXHAUSTED once it passes `max_bytes`: memory stays bounded
// whatever the file (a gzip bomb, /dev/zero).
absl::StatusOr<std::string> ReadMaybeGzipped(const std::string& path,
                                             uint64_t max_bytes) {
  FILE* probe = std::fopen(path.c_str(), "rb");
  if (probe == nullptr) {
    const int err = errno;
    std::string msg = absl::StrCat(path, ": ", std::strerror(err));
    return err == ENOENT ? absl::NotFoundError(msg)
                         : absl::PermissionDeniedError(msg);
  }
  std::fclose(probe);
  gzFile f = gzopen(path.c_str(), "rb");
  if (f == nullptr) {
    return absl::InternalError(absl::StrCat(path, ": gzopen failed"));
  }
  std::string out;
  char buf[1 << 16];
  int n = 0;
  while ((n = gzread(f, buf, sizeof(buf))) > 0) {
    if (out.size() + static_cast<uint64_t>(n) > max_bytes) {
      gzclose(f);
      return absl::ResourceExhaustedError(
          absl::StrCat(path, ": holds more than ", max_bytes,
                       " bytes (decompressed), the reader's cap "
                       "(ReadOptions::max_file_bytes)"));
    }
    out.append(buf, n);
  }
  int errnum = Z_OK;
  const char* msg = gzerror(f, &errnum);
  const std::string error = msg == nullptr ? "" : msg;
  gzclose(f);
  if (n < 0 || (errnum != Z_OK && errnum != Z_STREAM_END)) {
    return absl::DataLossError(absl::StrCat(
        path, ": corrupt gzip stream or read error (", error, ")"));
  }
  return out;
}

uint32_t BigEndian32(absl::string_view s, size_t off) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data() + off);
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) |
         (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

// a * b, or false when it does not fit 64 bits.
bool CheckedMul(uint64_t a, uint64_t b, uint64_t* out) {
  return !__builtin_mul_overflow(a, b, out);
}

// An IDX file of unsigned bytes: its dimensions and, after the header, its
// data (exactly the product of the dimensions; trailing bytes are ignored).
struct Idx {
  std::vector<uint32_t> dims;
  absl::string_view data;
};

// Parses an IDX file with `dims` dimensions of unsigned bytes. The product
// of the dimensions is computed overflow-safe and checked against the bytes
// the file holds before anyone allocates for it.
absl::StatusOr<Idx> ParseIdx(const std::string& path, absl::string_view bytes,
                             uint32_t dims) {
  const uint32_t magic = 0x00000800u | dims;
  const size_t header = 4 + 4 * size_t{dims};
  if (bytes.size() < header) {
    return absl::DataLossError(absl::StrCat(path, ": truncated IDX header (",
                                            bytes.size(), " bytes)"));
  }
  if (BigEndian32(bytes, 0) != magic) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: bad IDX magic 0x%08x, expected 0x%08x", path,
                        BigEndian32(bytes, 0), magic));
  }
  Idx idx;
  for (uint32_t i = 0; i < dims; ++i) {
    idx.dims.push_back(BigEndian32(bytes, 4 + 4 * i));
  }
  uint64_t total = 1;
  for (const uint32_t dim : idx.dims) {
    if (!CheckedMul(total, dim, &total)) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": IDX header dimensions ",
                       absl::StrJoin(idx.dims, " x "), " overflow 64 bits"));
    }
  }
  if (bytes.size() - header < total) {
    return absl::DataLossError(
        absl::StrCat(path, ": truncated: header promises ", total,
                     " bytes of data, file has ", bytes.size() - header));
  }
  idx.data = bytes.substr(header, total);
  return idx;
}

// RESOURCE_EXHAUSTED unless `examples` images of `image_size` pixels (plus
// their labels) fit `options.max_dataset_bytes` on top of `loaded` bytes.
absl::Status CheckDatasetBytes(const std::string& path, uint64_t examples,
                               uint64_t image_size, uint64_t loaded,
                               const ReadOptions& options) {
  const uint64_t room =
      options.max_dataset_bytes - std::min(loaded, options.max_dataset_bytes);
  uint64_t per_example = 0, bytes = 0;
  if (!CheckedMul(image_size + 1, sizeof(float), &per_example) ||
      !CheckedMul(examples, per_example, &bytes) || bytes > room) {
    return absl::ResourceExhaustedError(absl::StrCat(
        path, ": ", examples, " images of ", image_size,
        " pixels do not fit the reader's cap of ", options.max_dataset_bytes,
        " bytes (ReadOptions::max_dataset_bytes)"));
  }
  return absl::OkStatus();
}

// Appends `n` images from `pixels` (n * d->ImageSize() bytes) as floats.
void AppendPixels(const unsigned char* pixels, size_t n, Dataset* d) {
  const size_t count = n * static_cast<size_t>(d->ImageSize());
  const size_t at = d->images.size();
  d->images.resize(at + count);
  for (size_t i = 0; i < count; ++i) d->images[at + i] = pixels[i] / 255.0f;
}

}  // namespace

void Dataset::Truncate(int64_t n) {
  if (n >= size()) return;
  labels.resize(n);
  images.resize(n * ImageSize());
}

absl::StatusOr<Dataset> ReadMnist(const std::string& images_path,
                                  const std::string& labels_path,
                                  const ReadOptions& options) {
  STRATA_ASSIGN_OR_RETURN(
      const std::string img,
      ReadMaybeGzipped(images_path, options.max_file_bytes));
  STRATA_ASSIGN_OR_RETURN(
      const std::string lab,
      ReadMaybeGzipped(labels_path, options.max_file_bytes));
  STRATA_ASSIGN_OR_RETURN(const Idx images, ParseIdx(images_path, img, 3));
  STRATA_ASSIGN_OR_RETURN(const Idx labels, ParseIdx(labels_path, lab, 1));
  const uint32_t n = images.dims[0];
  if (n != labels.dims[0]) {
    return absl::InvalidArgumentError(
        absl::StrCat(images_path, " has ", n, " images but ", labels_path,
                     " has ", labels.dims[0], " labels"));
  }
  if (images.dims[1] == 0 || images.dims[2] == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(images_path, ": images of ", images.dims[1], " x ",
                     images.dims[2], " pixels are empty"));
  }
  // Bounds each side so that pixel products fit int64 even for a header
  // that claims 0 images (whose total size no file size bounds).
  if (images.dims[1] > kMaxImageSide || images.dims[2] > kMaxImageSide) {
    return absl::InvalidArgumentError(absl::StrCat(
        images_path, ": images of ", images.dims[1], " x ", images.dims[2],
        " pixels exceed ", kMaxImageSide, " pixels a side"));
  }
  Dataset d;
  d.channels = 1;
  d.height = images.dims[1];
  d.width = images.dims[2];
  STRATA_RETURN_IF_ERROR(
      CheckDatasetBytes(images_path, n, d.ImageSize(), 0, options));
  d.labels.resize(n);
  for (uint32_t i = 0; i < n; ++i) {
    const unsigned char l = static_cast<unsigned char>(labels.data[i]);
    if (l > 9) {
      return absl::InvalidArgumentError(absl::StrCat(labels_path, ": label ",
                                                     int{l}, " of example ", i,
                                                     " is not a digit"));
    }
    d.labels[i] = l;
  }
  AppendPixels(reinterpret_cast<const unsigned char*>(images.data.data()), n,
               &d);
  return d;
}

absl::StatusOr<Dataset> ReadMnistSplit(const std::string& dir, bool train,
                                       const ReadOptions& options) {
  const std::string prefix = absl::StrCat(dir, "/", train ? "train" : "t10k");
  auto pick = [](const std::string& base) {
    const std::string gz = base + ".gz";
    FILE* f = std::fopen(gz.c_str(), "rb");
    if (f != nullptr) {
      std::fclose(f);
      return gz;
    }
    return base;
  };
  return ReadMnist(pick(prefix + "-images-idx3-ubyte"),
                   pick(prefix + "-labels-idx1-ubyte"), options);
}

absl::StatusOr<Dataset> ReadCifar10(const std::vector<std::string>& paths,
                                    const ReadOptions& options) {
  constexpr int64_t kPixels = 3072;
  constexpr int64_t kRecord = 1 + kPixels;
  Dataset d;
  d.channels = 3;
  d.height = d.width = 32;
  for (const std::string& path : paths) {
    STRATA_ASSIGN_OR_RETURN(const std::string bytes,
                            ReadMaybeGzipped(path, options.max_file_bytes));
    if (bytes.empty()) {
      return absl::DataLossError(
          absl::StrCat(path, ": empty file, no CIFAR-10 record"));
    }
    if (bytes.size() % kRecord != 0) {
      return absl::DataLossError(absl::StrCat(
          path, ": truncated CIFAR-10 record at offset ",
          bytes.size() - bytes.size() % kRecord, " (", bytes.size(),
          " bytes is not a whole number of ", kRecord, "-byte records)"));
    }
    const size_t records = bytes.size() / kRecord;
    STRATA_RETURN_IF_ERROR(
        CheckDatasetBytes(path, records, kPixels,
                          d.size() * (kPixels + 1) * sizeof(float), options));
    d.images.reserve(d.images.size() + records * kPixels);
    d.labels.reserve(d.labels.size() + records);
    const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
    for (size_t r = 0; r < records; ++r, p += kRecord) {
      if (p[0] > 9) {
        return absl::InvalidArgumentError(absl::StrCat(
            path, ": record ", r, " has label ", int{p[0]}, " (want 0-9)"));
      }
      d.labels.push_back(p[0]);
      AppendPixels(p + 1, 1, &d);
    }
  }
  return d;
}

absl::StatusOr<std::vector<std::string>> Cifar10TrainFiles(
    const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  std::map<uint64_t, std::string> batches;  // by N
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end;
       it.increment(ec)) {
    const std::string name = it->path().filename().string();
    absl::string_view n = name;
    uint64_t index = 0;
    if (absl::ConsumePrefix(&n, "data_batch_") &&
        absl::ConsumeSuffix(&n, ".bin") && !n.empty() &&
        n.find_first_not_of("0123456789") == absl::string_view::npos &&
        absl::SimpleAtoi(n, &index)) {
      batches[index] = absl::StrCat(dir, "/", name);
    }
  }
  if (ec) {
    return absl::NotFoundError(absl::StrCat(dir, ": ", ec.message()));
  }
  if (batches.empty()) {
    return absl::NotFoundError(absl::StrCat(
        dir, ": no CIFAR-10 training batch (data_batch_N.bin)"));
  }
  std::vector<std::string> out;
  for (auto& [index, path] : batches) out.push_back(std::move(path));
  return out;
}

absl::StatusOr<Dataset> ReadCifar10Split(const std::string& dir, bool train,
                                         const ReadOptions& options) {
  if (!train) return ReadCifar10({dir + "/test_batch.bin"}, options);
  STRATA_ASSIGN_OR_RETURN(const std::vector<std::string> files,
                          Cifar10TrainFiles(dir));
  return ReadCifar10(files, options);
}

namespace {

// SplitMix64's finaliser: a well-mixed 64-bit value of `x`.
uint64_t Mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

}  // namespace

void RandomCropFlip(int64_t channels, int64_t height, int64_t width,
                    int64_t pad, uint64_t seed, int64_t first_index,
                    absl::Span<float> images) {
  const int64_t hw = height * width, size = channels * hw;
  if (size == 0) return;
  std::vector<float> src(size);
  const int64_t n = static_cast<int64_t>(images.size()) / size;
  for (int64_t i = 0; i < n; ++i) {
    std::mt19937_64 rng(Mix64(seed ^ Mix64(first_index + i)));
    const int64_t dy = static_cast<int64_t>(rng() % (2 * pad + 1)) - pad;
    const int64_t dx = static_cast<int64_t>(rng() % (2 * pad + 1)) - pad;
    const bool flip = (rng() & 1) != 0;
    float* img = images.data() + i * size;
    std::copy(img, img + size, src.begin());
    for (int64_t c = 0; c < channels; ++c) {
      for (int64_t y = 0; y < height; ++y) {
        for (int64_t x = 0; x < width; ++x) {
          const int64_t sy = y + dy, sx = (flip ? width - 1 - x : x) + dx;
          const bool inside = sy >= 0 && sy < height && sx >= 0 && sx < width;
          img[c * hw + y * width + x] =
              inside ? src[c * hw + sy * width + sx] : 0.0f;
        }
      }
    }
  }
}

Dataset SyntheticImages(int64_t n, int64_t channels, int64_t height,
                        int64_t width, int32_t classes, uint64_t seed) {
  std::mt19937_64 rng(seed);
  Dataset d;
  d.channels = channels;
  d.height = height;
  d.width = width;
  d.images.resize(n * d.ImageSize());
  d.labels.resize(n);
  for (float& x : d.images) x = (rng() >> 40) / 16777216.0f;
  for (int32_t& l : d.labels) l = static_cast<int32_t>(rng() % classes);
  return d;
}

Dataset SeparableImages(int64_t n, int64_t channels, int64_t height,
                        int64_t width, int32_t classes, uint64_t seed) {
  Dataset templates =
      SyntheticImages(classes, channels, height, width, classes, seed);
  Dataset d = SyntheticImages(n, channels, height, width, classes, seed + 1);
  const int64_t size = d.ImageSize();
  for (int64_t i = 0; i < n; ++i) {
    const float* t = templates.images.data() + d.labels[i] * size;
    float* x = d.images.data() + i * size;
    for (int64_t j = 0; j < size; ++j) x[j] = t[j] + 0.2f * (x[j] - 0.5f);
  }
  return d;
}

absl::StatusOr<ChannelStats> ComputeChannelStats(const Dataset& d) {
  if (d.size() == 0 || d.channels == 0) {
    return absl::InvalidArgumentError("ComputeChannelStats: empty dataset");
  }
  ChannelStats s;
  const int64_t hw = d.height * d.width;
  for (int64_t c = 0; c < d.channels; ++c) {
    double sum = 0, sq = 0;
    for (int64_t i = 0; i < d.size(); ++i) {
      const float* p = d.images.data() + (i * d.channels + c) * hw;
      for (int64_t j = 0; j < hw; ++j) {
        sum += p[j];
        sq += double{p[j]} * p[j];
      }
    }
    const double cnt = static_cast<double>(d.size() * hw);
    const double mean = sum / cnt;
    s.mean.push_back(static_cast<float>(mean));
    s.stddev.push_back(
        static_cast<float>(std::sqrt(std::max(0.0, sq / cnt - mean * mean))));
  }
  return s;
}

absl::Status Normalize(const ChannelStats& stats, Dataset* d) {
  if (static_cast<int64_t>(stats.mean.size()) != d->channels ||
      stats.stddev.size() != stats.mean.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("Normalize: stats for ", stats.mean.size(),
                     " channels, dataset has ", d->channels));
  }
  const int64_t hw = d->height * d->width;
  for (int64_t c = 0; c < d->channels; ++c) {
    if (!(stats.stddev[c] > 0.0f)) {
      return absl::InvalidArgumentError(
          absl::StrCat("Normalize: channel ", c, " has zero stddev"));
    }
    const float inv = 1.0f / stats.stddev[c];
    for (int64_t i = 0; i < d->size(); ++i) {
      float* p = d->images.data() + (i * d->channels + c) * hw;
      for (int64_t j = 0; j < hw; ++j) p[j] = (p[j] - stats.mean[c]) * inv;
    }
  }
  return absl::OkStatus();
}

std::vector<int64_t> ShuffledIndices(int64_t n, uint64_t seed) {
  std::vector<int64_t> idx(n);
  for (int64_t i = 0; i < n; ++i) idx[i] = i;
  std::mt19937_64 rng(seed);
  for (int64_t i = n - 1; i > 0; --i) {
    std::swap(idx[i], idx[rng() % static_cast<uint64_t>(i + 1)]);
  }
  return idx;
}

absl::Status GatherBatch(const Dataset& d, absl::Span<const int64_t> order,
                         int64_t start, int64_t batch, absl::Span<float> images,
                         absl::Span<int32_t> labels) {
  const int64_t size = d.ImageSize();
  if (start < 0 || start + batch > static_cast<int64_t>(order.size()) ||
      static_cast<int64_t>(images.size()) != batch * size ||
      static_cast<int64_t>(labels.size()) != batch) {
    return absl::InvalidArgumentError(
        absl::StrCat("GatherBatch: batch [", start, ", ", start + batch,
                     ") of ", order.size(), " or buffer sizes do not fit"));
  }
  for (int64_t b = 0; b < batch; ++b) {
    const int64_t i = order[start + b];
    if (i < 0 || i >= d.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("GatherBatch: index ", i, " outside the dataset"));
    }
    std::memcpy(images.data() + b * size, d.images.data() + i * size,
                size * sizeof(float));
    labels[b] = d.labels[i];
  }
  return absl::OkStatus();
}

}  // namespace nn
}  // namespace strata
