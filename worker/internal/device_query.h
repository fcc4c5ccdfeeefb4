// GPU discovery for worker daemons: how many CUDA devices a worker can use
// and what they are. Compiled from device_query.cu under --config=cuda and
// from device_query_nocuda.cc otherwise.
#ifndef STRATA_WORKER_INTERNAL_DEVICE_QUERY_H_
#define STRATA_WORKER_INTERNAL_DEVICE_QUERY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace strata {

struct GpuInfo {
  int index = 0;
  std::string name;
  int compute_major = 0;
  int compute_minor = 0;
  uint64_t total_memory_bytes = 0;
  int multiprocessors = 0;
};

// True when this binary was built with --config=cuda.
bool BuiltWithCuda();

// Lists the visible CUDA devices. FAILED_PRECONDITION when the binary has
// no CUDA support or the driver reports an error other than "no device"
// (the message carries the CUDA error string); an empty list when CUDA works
// but no device is visible. Thread-safe.
absl::StatusOr<std::vector<GpuInfo>> ListCudaDevices();

}  // namespace strata

#endif  // STRATA_WORKER_INTERNAL_DEVICE_QUERY_H_
