// Creates the backend named by a device string at run time.
#ifndef STRATA_WORKER_NN_BACKEND_FACTORY_H_
#define STRATA_WORKER_NN_BACKEND_FACTORY_H_

#include <memory>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "worker/nn/backend.h"

namespace strata {
namespace nn {

// "cpu" -> CpuBackend; "gpu:N" -> the CUDA context of device N.
// INVALID_ARGUMENT for a malformed string or a device index out of range;
// FAILED_PRECONDITION for a GPU without the CUDA build or without a device.
absl::StatusOr<std::unique_ptr<Backend>> CreateBackend(absl::string_view device);

}  // namespace nn
}  // namespace strata

#endif  // STRATA_WORKER_NN_BACKEND_FACTORY_H_
