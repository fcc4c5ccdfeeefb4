// What the RPC fuzz targets share (docs/fuzzing.md): their input format, a
// sequence of records `u8 op | u16 length (LE) | length bytes` (the last
// one cut short by the end of the input), and quiet logs. Test-only.
#ifndef STRATA_THIRD_PARTY_FUZZ_RPC_RECORDS_H_
#define STRATA_THIRD_PARTY_FUZZ_RPC_RECORDS_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>

#include "glog/logging.h"
#include "google/protobuf/stubs/logging.h"

namespace strata {
namespace fuzz {

// Calls fn(op, payload) on each record of `data`, in order.
template <typename Fn>
void ForEachRecord(const uint8_t* data, size_t size, Fn fn) {
  size_t i = 0;
  while (i + 3 <= size) {
    const uint8_t op = data[i];
    const size_t len = data[i + 1] | (size_t{data[i + 2]} << 8);
    i += 3;
    const size_t n = std::min(len, size - i);
    const std::string payload(reinterpret_cast<const char*>(data) + i, n);
    i += n;
    fn(op, payload);
  }
}

// Silences glog's INFO and WARNING lines (a node registered, a job failed)
// and protobuf's (a request that does not parse): writing them would cost
// more than the calls. Call before the first input; not thread-safe.
inline void QuietLogs() {
  FLAGS_minloglevel = google::GLOG_ERROR;
  google::protobuf::SetLogHandler(nullptr);
}

}  // namespace fuzz
}  // namespace strata

#endif  // STRATA_THIRD_PARTY_FUZZ_RPC_RECORDS_H_
