// Helpers at the RPC boundary: absl::Status <-> grpc::Status, and the packed
// little-endian byte payloads used for keys and float values (see
// docs/protocol.md). Every service and client goes through these, so error
// codes and payload validation are uniform.
#ifndef STRATA_PROTO_RPC_UTIL_H_
#define STRATA_PROTO_RPC_UTIL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "grpcpp/grpcpp.h"

namespace strata {

// Codes map one to one (gRPC and Abseil share the canonical code space).
grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

// Appends/reads raw little-endian arrays. This project only targets
// little-endian hosts (x86-64, aarch64); a static_assert guards that.
void PackU64(absl::Span<const uint64_t> values, std::string* out);
void PackF32(absl::Span<const float> values, std::string* out);
std::string PackU64(absl::Span<const uint64_t> values);
std::string PackF32(absl::Span<const float> values);

// Number of elements in a packed payload; INVALID_ARGUMENT naming `what` if
// its size is not a multiple of the element size.
absl::StatusOr<size_t> PackedU64Count(absl::string_view bytes,
                                      absl::string_view what);
absl::StatusOr<size_t> PackedF32Count(absl::string_view bytes,
                                      absl::string_view what);
// The same for a payload of `bytes` bytes held elsewhere (gRPC slices).
absl::StatusOr<size_t> PackedF32CountOfSize(size_t bytes,
                                            absl::string_view what);

// Views the payload as an array without copying. Callers must have checked
// the size with Packed*Count. Payload strings from protobuf are not
// guaranteed to be aligned, so these copy into `out` (a reused buffer).
void UnpackU64(absl::string_view bytes, std::vector<uint64_t>* out);
void UnpackF32(absl::string_view bytes, std::vector<float>* out);

// INVALID_ARGUMENT if any value is NaN or +-Inf, naming `what` and the first
// offending index.
absl::Status CheckFinite(absl::Span<const float> values,
                         absl::string_view what);

// Channel arguments every Strata client uses: message-size limits raised to
// `max_message_bytes` and keepalive so dead peers are noticed.
grpc::ChannelArguments DefaultChannelArguments(int max_message_bytes);

// HTTP/2 settings of the parameter server's data plane, set on both ends of
// its connections (PsServer and the shard channels): frames of up to 1 MiB
// instead of 16 KiB and a 16 MiB stream window, so a batch of several MiB
// crosses in a few frames without waiting for window updates (measured in
// docs/benchmarks.md, issue 16). Costs up to 16 MiB of buffered data per
// stream when a reader falls behind.
struct ChannelIntArgument {
  const char* name;
  int value;
};
inline constexpr ChannelIntArgument kDataPlaneHttp2Arguments[] = {
    {GRPC_ARG_HTTP2_MAX_FRAME_SIZE, 1 << 20},
    {GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 16 << 20},
    {GRPC_ARG_HTTP2_WRITE_BUFFER_SIZE, 8 << 20},
};

// Default message-size limit for clients and servers: 256 MiB. Requests are
// validated against per-service batch limits well below this.
inline constexpr int kDefaultMaxMessageBytes = 256 << 20;

// Room every message keeps for what is not its bulk payload (keys, values,
// gradients): names (at most 128 bytes), scalars and protobuf framing, a few
// hundred bytes in all; the rest is margin.
inline constexpr size_t kMessageHeadroomBytes = size_t{64} << 10;

// Largest payload one message of `max_message_bytes` carries: the limit less
// kMessageHeadroomBytes (0 for a limit below the headroom). A shard refuses
// a pull whose response would exceed it; the client splits batches to fit.
inline constexpr size_t MaxPayloadBytes(int max_message_bytes) {
  const size_t limit = max_message_bytes < 0 ? 0 : size_t(max_message_bytes);
  return limit > kMessageHeadroomBytes ? limit - kMessageHeadroomBytes : 0;
}

}  // namespace strata

#endif  // STRATA_PROTO_RPC_UTIL_H_
