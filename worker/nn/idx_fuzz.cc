// Fuzz target: the MNIST IDX reader (ReadMnist) on an images and a labels
// file, each plain or gzipped: the input is cut into the two files as
// worker/nn/internal/data_testing.h (WriteFuzzFiles) says, images first.
// Properties checked on every input, beyond "no crash, no sanitizer report"
// (CheckReadResult):
//   - a loaded dataset is consistent: 1 channel, images.size() ==
//     size() * ImageSize(), labels 0-9, pixels in [0, 1], within the caps;
//   - every error is INVALID_ARGUMENT, DATA_LOSS or RESOURCE_EXHAUSTED and
//     names one of the two files.
#include <cstddef>
#include <cstdint>
#include <optional>

#include "absl/strings/string_view.h"
#include "worker/nn/data.h"
#include "worker/nn/internal/data_testing.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using strata::nn::internal::FuzzFiles;
  const std::optional<FuzzFiles> files = strata::nn::internal::WriteFuzzFiles(
      absl::string_view(reinterpret_cast<const char*>(data), size), "idx_fuzz");
  if (!files) return 0;
  // Caps low enough that no input can take much memory or time.
  strata::nn::ReadOptions options;
  options.max_file_bytes = 1 << 20;
  options.max_dataset_bytes = 16 << 20;
  strata::nn::internal::CheckReadResult(
      strata::nn::ReadMnist(files->first, files->second, options), options,
      {files->first, files->second}, /*channels=*/1);
  return 0;
}
