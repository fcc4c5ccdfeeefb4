// The CUDA backend: CudaContext (one per worker) owns the device binding,
// the cuBLAS handle, the stream and every device allocation, and implements
// Backend with cuBLAS GEMMs and the kernels of cuda_backend.cu. Compiled from
// cuda_backend.cu under --config=cuda, from cuda_backend_nocuda.cc otherwise.
// No CUDA types appear here.
#ifndef STRATA_WORKER_NN_CUDA_CUDA_BACKEND_H_
#define STRATA_WORKER_NN_CUDA_CUDA_BACKEND_H_

#include <memory>

#include "absl/status/statusor.h"
#include "worker/nn/backend.h"

namespace strata {
namespace nn {

// True when this binary was built with --config=cuda.
bool CudaBackendBuilt();

// Number of visible CUDA devices: 0 when CUDA works but none is visible;
// FAILED_PRECONDITION without the CUDA build or on a driver error.
absl::StatusOr<int> CudaDeviceCount();

// Creates the context for device `index`: sets the device, creates a
// stream and a cuBLAS handle bound to it. FAILED_PRECONDITION without the
// CUDA build or without any visible device; INVALID_ARGUMENT for an index
// out of range. The returned backend frees its device memory, handle and
// stream on destruction. Not thread-safe (one per worker thread); all work
// is ordered on its stream, and host copies synchronise it.
absl::StatusOr<std::unique_ptr<Backend>> CreateCudaContext(int index);

}  // namespace nn
}  // namespace strata

#endif  // STRATA_WORKER_NN_CUDA_CUDA_BACKEND_H_
