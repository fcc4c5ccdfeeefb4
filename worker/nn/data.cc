#include "worker/nn/data.h"

#include <zlib.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "proto/base/status_macros.h"

namespace strata {
namespace nn {
namespace {

// Whole file, decompressed if gzipped (gzread passes raw files through).
absl::StatusOr<std::string> ReadMaybeGzipped(const std::string& path) {
  FILE* probe = std::fopen(path.c_str(), "rb");
  if (probe == nullptr) {
    const int err = errno;
    std::string msg = absl::StrCat(path, ": ", std::strerror(err));
    return err == ENOENT ? absl::NotFoundError(msg)
                         : absl::PermissionDeniedError(msg);
  }
  std::fclose(probe);
  gzFile f = gzopen(path.c_str(), "rb");
  if (f == nullptr) return absl::InternalError(absl::StrCat(path, ": gzopen failed"));
  std::string out;
  char buf[1 << 16];
  int n = 0;
  while ((n = gzread(f, buf, sizeof(buf))) > 0) out.append(buf, n);
  int errnum = Z_OK;
  const char* msg = gzerror(f, &errnum);
  gzclose(f);
  if (n < 0 || (errnum != Z_OK && errnum != Z_STREAM_END)) {
    return absl::DataLossError(
        absl::StrCat(path, ": corrupt gzip stream (", msg, ")"));
  }
  return out;
}

uint32_t BigEndian32(const std::string& s, size_t off) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data() + off);
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) |
         (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

// Parses an IDX header with `dims` dimensions of unsigned bytes.
absl::StatusOr<std::vector<uint32_t>> IdxHeader(const std::string& path,
                                                const std::string& bytes,
                                                uint32_t dims) {
  const uint32_t magic = 0x00000800u | dims;
  if (bytes.size() < 4 + 4 * dims) {
    return absl::DataLossError(
        absl::StrCat(path, ": truncated IDX header (", bytes.size(), " bytes)"));
  }
  if (BigEndian32(bytes, 0) != magic) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: bad IDX magic 0x%08x, expected 0x%08x", path,
        BigEndian32(bytes, 0), magic));
  }
  std::vector<uint32_t> out;
  uint64_t total = 1;
  for (uint32_t i = 0; i < dims; ++i) {
    out.push_back(BigEndian32(bytes, 4 + 4 * i));
    total *= out.back();
  }
  if (bytes.size() - (4 + 4 * dims) < total) {
    return absl::DataLossError(absl::StrCat(
        path, ": truncated: header promises ", total, " bytes of data, file has ",
        bytes.size() - (4 + 4 * dims)));
  }
  return out;
}

}  // namespace

void Dataset::Truncate(int64_t n) {
  if (n >= size()) return;
  labels.resize(n);
  images.resize(n * ImageSize());
}

absl::StatusOr<Dataset> ReadMnist(const std::string& images_path,
                                  const std::string& labels_path) {
  STRATA_ASSIGN_OR_RETURN(std::string img, ReadMaybeGzipped(images_path));
  STRATA_ASSIGN_OR_RETURN(std::string lab, ReadMaybeGzipped(labels_path));
  STRATA_ASSIGN_OR_RETURN(std::vector<uint32_t> idims,
                          IdxHeader(images_path, img, 3));
  STRATA_ASSIGN_OR_RETURN(std::vector<uint32_t> ldims,
                          IdxHeader(labels_path, lab, 1));
  if (idims[0] != ldims[0]) {
    return absl::InvalidArgumentError(absl::StrCat(
        images_path, " has ", idims[0], " images but ", labels_path, " has ",
        ldims[0], " labels"));
  }
  Dataset d;
  d.channels = 1;
  d.height = idims[1];
  d.width = idims[2];
  const int64_t n = idims[0];
  d.images.resize(n * d.ImageSize());
  d.labels.resize(n);
  const auto* px = reinterpret_cast<const unsigned char*>(img.data() + 16);
  for (size_t i = 0; i < d.images.size(); ++i) d.images[i] = px[i] / 255.0f;
  for (int64_t i = 0; i < n; ++i) {
    const unsigned char l = static_cast<unsigned char>(lab[8 + i]);
    if (l > 9) {
      return absl::InvalidArgumentError(
          absl::StrCat(labels_path, ": label ", int{l}, " of example ", i,
                       " is not a digit"));
    }
    d.labels[i] = l;
  }
  return d;
}

absl::StatusOr<Dataset> ReadMnistSplit(const std::string& dir, bool train) {
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
                   pick(prefix + "-labels-idx1-ubyte"));
}

absl::StatusOr<Dataset> ReadCifar10(const std::vector<std::string>& paths) {
  constexpr int64_t kRecord = 1 + 3072;
  Dataset d;
  d.channels = 3;
  d.height = d.width = 32;
  for (const std::string& path : paths) {
    STRATA_ASSIGN_OR_RETURN(std::string bytes, ReadMaybeGzipped(path));
    if (bytes.empty() || bytes.size() % kRecord != 0) {
      return absl::DataLossError(absl::StrCat(
          path, ": ", bytes.size(), " bytes is not a whole number of ",
          kRecord, "-byte CIFAR-10 records"));
    }
    const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
    for (size_t r = 0; r < bytes.size() / kRecord; ++r, p += kRecord) {
      if (p[0] > 9) {
        return absl::InvalidArgumentError(absl::StrCat(
            path, ": record ", r, " has label ", int{p[0]}, " (want 0-9)"));
      }
      d.labels.push_back(p[0]);
      for (int i = 1; i < kRecord; ++i) d.images.push_back(p[i] / 255.0f);
    }
  }
  return d;
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
    return absl::InvalidArgumentError(absl::StrCat(
        "Normalize: stats for ", stats.mean.size(), " channels, dataset has ",
        d->channels));
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
    return absl::InvalidArgumentError(absl::StrCat(
        "GatherBatch: batch [", start, ", ", start + batch, ") of ",
        order.size(), " or buffer sizes do not fit"));
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
