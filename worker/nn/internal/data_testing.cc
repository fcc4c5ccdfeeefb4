#include "worker/nn/internal/data_testing.h"

#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace strata {
namespace nn {
namespace internal {

std::string ScratchPath(absl::string_view name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  // Memory-backed: fuzzers rewrite their files on every input, and on a
  // disk ext4 flushes every truncated file on close (auto_da_alloc).
  if (dir == nullptr && ::access("/dev/shm", W_OK) == 0) dir = "/dev/shm";
  if (dir == nullptr) dir = std::getenv("TMPDIR");
  return absl::StrCat(dir != nullptr ? dir : "/tmp", "/strata-", ::getpid(),
                      "-", name);
}

absl::Status WriteBytes(const std::string& path, absl::string_view bytes) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return absl::InternalError(absl::StrCat("open ", path));
  const size_t written = std::fwrite(bytes.data(), 1, bytes.size(), f);
  if (std::fclose(f) != 0 || written != bytes.size()) {
    return absl::InternalError(absl::StrCat("write ", path));
  }
  return absl::OkStatus();
}

std::string GzipMember(absl::string_view bytes, int level) {
  z_stream z = {};
  // 15 + 16: a 32 KiB window with a gzip header and trailer.
  if (deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) !=
      Z_OK) {
    std::abort();
  }
  std::string out(deflateBound(&z, bytes.size()), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
  z.avail_in = static_cast<uInt>(bytes.size());
  z.next_out = reinterpret_cast<Bytef*>(&out[0]);
  z.avail_out = static_cast<uInt>(out.size());
  if (deflate(&z, Z_FINISH) != Z_STREAM_END) std::abort();
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

namespace {

// Files deleted by the destructor (of a static: at exit).
class RemovedAtExit {
 public:
  explicit RemovedAtExit(std::vector<std::string> paths)
      : paths_(std::move(paths)) {}
  ~RemovedAtExit() {
    for (const std::string& path : paths_) std::remove(path.c_str());
  }

 private:
  const std::vector<std::string> paths_;
};

void WriteOrDie(const std::string& path, absl::string_view bytes, bool gzip) {
  const absl::Status written =
      WriteBytes(path, gzip ? GzipMember(bytes, 1) : std::string(bytes));
  if (!written.ok()) {
    std::fprintf(stderr, "%s\n", written.ToString().c_str());
    std::abort();
  }
}

}  // namespace

std::optional<FuzzFiles> WriteFuzzFiles(absl::string_view input,
                                        absl::string_view target) {
  if (input.size() < 3) return std::nullopt;
  const auto* bytes = reinterpret_cast<const unsigned char*>(input.data());
  FuzzFiles files;
  files.flags = bytes[0];
  const size_t first_len =
      std::min<size_t>(bytes[1] | size_t{bytes[2]} << 8, input.size() - 3);
  files.first = ScratchPath(absl::StrCat(target, "_1"));
  files.second = ScratchPath(absl::StrCat(target, "_2"));
  // Removed when the fuzzer exits.
  static const RemovedAtExit removed({files.first, files.second});
  WriteOrDie(files.first, input.substr(3, first_len), files.flags & 1);
  WriteOrDie(files.second, input.substr(3 + first_len), files.flags & 2);
  return files;
}

namespace {

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "reader result violates its contract: %s\n",
               what.c_str());
  std::abort();
}

void CheckDataset(const Dataset& d, const ReadOptions& options,
                  int64_t channels) {
  if (d.channels != channels || d.height <= 0 || d.width <= 0) {
    Fail(absl::StrCat("shape ", d.channels, "x", d.height, "x", d.width));
  }
  if (d.images.size() != static_cast<uint64_t>(d.size() * d.ImageSize())) {
    Fail(absl::StrCat(d.images.size(), " pixels for ", d.size(), " images"));
  }
  const uint64_t bytes =
      (d.images.size() + d.labels.size()) * uint64_t{sizeof(float)};
  if (bytes > options.max_dataset_bytes) {
    Fail(absl::StrCat(bytes, " bytes over the cap"));
  }
  for (const int32_t label : d.labels) {
    if (label < 0 || label > 9) Fail(absl::StrCat("label ", label));
  }
  for (const float x : d.images) {
    if (!(x >= 0.0f && x <= 1.0f)) Fail(absl::StrCat("pixel ", x));
  }
}

}  // namespace

void CheckReadResult(const absl::StatusOr<Dataset>& result,
                     const ReadOptions& options,
                     const std::vector<std::string>& paths, int64_t channels) {
  if (result.ok()) return CheckDataset(*result, options, channels);
  const absl::Status& s = result.status();
  if (!absl::IsInvalidArgument(s) && !absl::IsDataLoss(s) &&
      !absl::IsResourceExhausted(s)) {
    Fail(absl::StrCat("unexpected code: ", s.ToString()));
  }
  for (const std::string& path : paths) {
    if (absl::StrContains(s.message(), path)) return;
  }
  Fail(absl::StrCat("the error names no file: ", s.ToString()));
}

}  // namespace internal
}  // namespace nn
}  // namespace strata
