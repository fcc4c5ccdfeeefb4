// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as used by iSCSI,
// ext4 and LevelDB. The Debian Abseil in use has no absl/crc, so this is a
// self-contained implementation: SSE4.2 crc32 instructions when the CPU has
// them, otherwise slicing-by-8 tables. Both give identical results.
#ifndef STRATA_SERVER_STORAGE_INTERNAL_CRC32C_H_
#define STRATA_SERVER_STORAGE_INTERNAL_CRC32C_H_

#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"

namespace strata {
namespace crc32c {

// Returns the CRC of (data whose CRC is `crc`) followed by data[0, n).
// Extend(0, ...) starts a new checksum. Thread-safe.
uint32_t Extend(uint32_t crc, const void* data, size_t n);

inline uint32_t Value(absl::string_view data) {
  return Extend(0, data.data(), data.size());
}

// The portable table-driven path, exposed so tests can compare it with the
// hardware path.
uint32_t ExtendPortable(uint32_t crc, const void* data, size_t n);

// True when Extend uses the SSE4.2 instructions on this machine.
bool HardwareAccelerated();

}  // namespace crc32c
}  // namespace strata

#endif  // STRATA_SERVER_STORAGE_INTERNAL_CRC32C_H_
