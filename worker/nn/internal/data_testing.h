// Helpers for the data-reader tests and fuzz targets (worker/nn/data.h):
// scratch files, gzip members made with zlib, and the invariants every
// reader result must satisfy. Test-only; stateless, so thread-compatible.
#ifndef STRATA_WORKER_NN_INTERNAL_DATA_TESTING_H_
#define STRATA_WORKER_NN_INTERNAL_DATA_TESTING_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "worker/nn/data.h"

namespace strata {
namespace nn {
namespace internal {

// `name` in $TEST_TMPDIR (else /dev/shm, else $TMPDIR, else /tmp),
// prefixed with the process id so concurrent fuzzers do not share files.
std::string ScratchPath(absl::string_view name);

// Writes `bytes` to `path`, replacing it. INTERNAL when that fails.
absl::Status WriteBytes(const std::string& path, absl::string_view bytes);

// `bytes` as one gzip member (RFC 1952) deflated at `level` (1-9).
// Concatenated members are one stream to gunzip and to zlib's gzread.
std::string GzipMember(absl::string_view bytes, int level);

// The two files a reader fuzz target reads, cut from its input:
//   byte 0      flags: bit 0 gzips the first file, bit 1 the second (a file
//               written as is may still start with the gzip magic: that
//               covers corrupt streams); the other bits are the target's;
//   bytes 1-2   the first file's length L (little-endian, at most what is
//               left);
//   then        L bytes of the first file; the rest is the second.
struct FuzzFiles {
  uint8_t flags = 0;
  std::string first, second;  // scratch paths
};
// Writes the files (named after `target`); nullopt for an input under 3
// bytes. Aborts when writing fails (fuzz targets have nobody to tell).
std::optional<FuzzFiles> WriteFuzzFiles(absl::string_view input,
                                        absl::string_view target);

// Aborts with a message unless `result` is what a reader may return under
// `options` from `paths`: a dataset with `channels` channels, images.size()
// == size() * ImageSize(), non-empty images, labels 0-9, pixels in [0, 1]
// and bytes within the caps; or INVALID_ARGUMENT, DATA_LOSS or
// RESOURCE_EXHAUSTED naming one of `paths`.
void CheckReadResult(const absl::StatusOr<Dataset>& result,
                     const ReadOptions& options,
                     const std::vector<std::string>& paths, int64_t channels);

}  // namespace internal
}  // namespace nn
}  // namespace strata

#endif  // STRATA_WORKER_NN_INTERNAL_DATA_TESTING_H_
