// Fuzz target: the CIFAR-10 reader (ReadCifar10) on two batch files, each
// plain or gzipped. Input layout:
//   byte 0      bit 0: gzip the first file, bit 1: gzip the second; bit 2:
//               read the second file only, bit 3: read it twice;
//   bytes 1-2   first file length L (little-endian, at most what is left);
//   then        L bytes of the first file, the rest is the second.
// The caps are low (a few records), so the dataset cap is reached too.
// Properties checked on every input, beyond "no crash, no sanitizer report":
// as for idx_fuzz (worker/nn/internal/data_testing.h, CheckReadResult).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "worker/nn/data.h"
#include "worker/nn/internal/data_testing.h"

namespace {

using strata::nn::internal::CheckReadResult;
using strata::nn::internal::ScratchPath;
using strata::nn::internal::WriteOrDie;

// Low enough that a few records reach the dataset cap and no input can
// take much memory or time.
strata::nn::ReadOptions FuzzOptions() {
  strata::nn::ReadOptions options;
  options.max_file_bytes = 1 << 20;
  options.max_dataset_bytes = 4 * 3073 * sizeof(float);
  return options;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  const absl::string_view in(reinterpret_cast<const char*>(data), size);
  const uint8_t flags = data[0];
  const size_t first_len =
      std::min<size_t>(data[1] | size_t{data[2]} << 8, size - 3);
  static const std::string first = ScratchPath("cifar_fuzz_1");
  static const std::string second = ScratchPath("cifar_fuzz_2");
  WriteOrDie(first, in.substr(3, first_len), flags & 1);
  WriteOrDie(second, in.substr(3 + first_len), flags & 2);
  std::vector<std::string> paths;
  if (!(flags & 4)) paths.push_back(first);
  paths.push_back(second);
  if (flags & 8) paths.push_back(second);
  const strata::nn::ReadOptions options = FuzzOptions();
  CheckReadResult(strata::nn::ReadCifar10(paths, options), options, paths,
                  /*channels=*/3);
  return 0;
}
