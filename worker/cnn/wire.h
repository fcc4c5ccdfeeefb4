// Stanza wire helpers: float32 / fp16 packing of activation and gradient
// payloads, the finiteness check every received payload passes, and the byte
// and time counters every Stanza process keeps.
#ifndef STRATA_WORKER_CNN_WIRE_H_
#define STRATA_WORKER_CNN_WIRE_H_

#include <atomic>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "proto/stanza.pb.h"

namespace strata {
namespace cnn {

// IEEE 754 binary16 conversions, round to nearest even; overflow gives inf.
uint16_t FloatToHalf(float f);
float HalfToFloat(uint16_t h);

// Appends `values` to *out (replacing its contents) as little-endian
// float32 or float16.
void PackFloats(absl::Span<const float> values, WireFormat format,
                std::string* out);
// Unpacks exactly out.size() values. INVALID_ARGUMENT when the byte count
// does not match `format` and out.size(), or for an unknown format.
absl::Status UnpackFloats(absl::string_view bytes, WireFormat format,
                          absl::Span<float> out);
// OK when every value is finite; otherwise INVALID_ARGUMENT naming `what`,
// the first bad index and its value.
absl::Status CheckFinite(absl::Span<const float> values,
                         absl::string_view what);

// Bytes and seconds one Stanza process spent, by kind of peer. Counted at
// the application level: protobuf message sizes for Stanza messages,
// payload bytes (4 per float plus the tensor name) for dense-tensor traffic
// with the shards; HTTP/2 and TCP framing are not included. Thread-safe
// (relaxed atomics).
struct Traffic {
  std::atomic<int64_t> ps_sent{0}, ps_recv{0};      // with PS shards
  std::atomic<int64_t> fc_sent{0}, fc_recv{0};      // with FC nodes
  std::atomic<int64_t> conv_sent{0}, conv_recv{0};  // with conv workers
  std::atomic<int64_t> compute_us{0}, comm_us{0};
  std::atomic<int64_t> checkpoint_us{0};  // writing progress checkpoints
};

}  // namespace cnn
}  // namespace strata

#endif  // STRATA_WORKER_CNN_WIRE_H_
