// Fuzz target: the CIFAR-10 reader (ReadCifar10) on two batch files, each
// plain or gzipped: the input is cut into the two files as
// worker/nn/internal/data_testing.h (WriteFuzzFiles) says. Flag bit 2 reads
// the second file only, bit 3 reads it twice. The dataset cap is 4 records,
// so it is reached too.
// Properties checked on every input, beyond "no crash, no sanitizer report":
// as for idx_fuzz (CheckReadResult), with 3 channels.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "worker/nn/data.h"
#include "worker/nn/internal/data_testing.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using strata::nn::internal::FuzzFiles;
  const std::optional<FuzzFiles> files = strata::nn::internal::WriteFuzzFiles(
      absl::string_view(reinterpret_cast<const char*>(data), size),
      "cifar_fuzz");
  if (!files) return 0;
  std::vector<std::string> paths;
  if (!(files->flags & 4)) paths.push_back(files->first);
  paths.push_back(files->second);
  if (files->flags & 8) paths.push_back(files->second);
  strata::nn::ReadOptions options;
  options.max_file_bytes = 1 << 20;
  options.max_dataset_bytes = 4 * 3073 * sizeof(float);
  strata::nn::internal::CheckReadResult(strata::nn::ReadCifar10(paths, options),
                                        options, paths,
                                        /*channels=*/3);
  return 0;
}
