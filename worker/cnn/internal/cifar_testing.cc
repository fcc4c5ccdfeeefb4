#include "worker/cnn/internal/cifar_testing.h"

#include <cstdio>
#include <filesystem>
#include <random>
#include <vector>

#include "absl/strings/str_cat.h"
#include "proto/base/status_macros.h"

namespace strata {
namespace cnn {
namespace internal {
namespace {

constexpr int kPixels = 3072;

absl::Status WriteRecords(const std::string& path, int records,
                          const std::vector<std::string>& templates,
                          std::mt19937_64* rng) {
  std::string bytes;
  for (int k = 0; k < records; ++k) {
    const int label = k % 10;
    bytes.push_back(static_cast<char>(label));
    for (int i = 0; i < kPixels; ++i) {
      const int noise = static_cast<int>((*rng)() % 41) - 20;
      const int v = static_cast<unsigned char>(templates[label][i]) + noise;
      bytes.push_back(static_cast<char>(v < 0 ? 0 : v > 255 ? 255 : v));
    }
  }
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return absl::InternalError(absl::StrCat("open ", path));
  const bool ok = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
  if (std::fclose(f) != 0 || !ok) {
    return absl::InternalError(absl::StrCat("write ", path));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status WriteCifar10Dir(const std::string& dir, int batches,
                             int per_batch, int test, uint64_t seed) {
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  if (!std::filesystem::create_directories(dir, ec) || ec) {
    return absl::InternalError(absl::StrCat("mkdir ", dir));
  }
  std::mt19937_64 rng(seed);
  std::vector<std::string> templates(10, std::string(kPixels, '\0'));
  for (std::string& t : templates) {
    for (char& c : t) c = static_cast<char>(rng() % 256);
  }
  for (int b = 1; b <= batches; ++b) {
    STRATA_RETURN_IF_ERROR(
        WriteRecords(absl::StrCat(dir, "/data_batch_", b, ".bin"), per_batch,
                     templates, &rng));
  }
  return WriteRecords(dir + "/test_batch.bin", test, templates, &rng);
}

}  // namespace internal
}  // namespace cnn
}  // namespace strata
