// Tiny CIFAR-10 binary directories for tests (there is no real CIFAR-10 on
// the build machines). Test-only; stateless, so thread-compatible.
#ifndef STRATA_WORKER_CNN_INTERNAL_CIFAR_TESTING_H_
#define STRATA_WORKER_CNN_INTERNAL_CIFAR_TESTING_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"

namespace strata {
namespace cnn {
namespace internal {

// Writes `dir`/data_batch_1.bin .. data_batch_<batches>.bin of
// `per_batch` records each and `dir`/test_batch.bin of `test` records,
// replacing what `dir` held. Record k has label k % 10 and pixels of its
// class's fixed random template plus a little noise (learnable in a few
// steps), deterministic in `seed`. INTERNAL when a write fails.
absl::Status WriteCifar10Dir(const std::string& dir, int batches,
                             int per_batch, int test, uint64_t seed = 1);

}  // namespace internal
}  // namespace cnn
}  // namespace strata

#endif  // STRATA_WORKER_CNN_INTERNAL_CIFAR_TESTING_H_
