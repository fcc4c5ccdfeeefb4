// Fuzz target: the MNIST IDX reader (ReadMnist) on an images and a labels
// file, each plain or gzipped. Input layout:
//   byte 0      bit 0: gzip the images file, bit 1: gzip the labels file
//               (a file written as is may still start with the gzip magic:
//               that covers corrupt gzip streams);
//   bytes 1-2   images file length L (little-endian, at most what is left);
//   then        L bytes of images file, the rest is the labels file.
// Properties checked on every input, beyond "no crash, no sanitizer report":
//   - a loaded dataset is consistent: 1 channel, images.size() ==
//     size() * ImageSize(), labels 0-9, pixels in [0, 1], within the caps;
//   - every error is INVALID_ARGUMENT, DATA_LOSS or RESOURCE_EXHAUSTED and
//     names one of the two files.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "worker/nn/data.h"
#include "worker/nn/internal/data_testing.h"

namespace {

using strata::nn::internal::CheckReadResult;
using strata::nn::internal::ScratchPath;
using strata::nn::internal::WriteOrDie;

// Caps low enough that no input can take much memory or time.
strata::nn::ReadOptions FuzzOptions() {
  strata::nn::ReadOptions options;
  options.max_file_bytes = 1 << 20;
  options.max_dataset_bytes = 16 << 20;
  return options;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  const absl::string_view in(reinterpret_cast<const char*>(data), size);
  const uint8_t flags = data[0];
  const size_t images_len =
      std::min<size_t>(data[1] | size_t{data[2]} << 8, size - 3);
  static const std::string images_path = ScratchPath("idx_fuzz_images");
  static const std::string labels_path = ScratchPath("idx_fuzz_labels");
  WriteOrDie(images_path, in.substr(3, images_len), flags & 1);
  WriteOrDie(labels_path, in.substr(3 + images_len), flags & 2);
  const strata::nn::ReadOptions options = FuzzOptions();
  CheckReadResult(strata::nn::ReadMnist(images_path, labels_path, options),
                  options, {images_path, labels_path}, /*channels=*/1);
  return 0;
}
