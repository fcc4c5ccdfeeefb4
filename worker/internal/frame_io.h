// Length-prefixed protobuf frames over a stream file descriptor (a pipe or
// a Unix socket): a 4-byte little-endian length, then that many bytes of a
// serialized message. Used between the worker daemon and its task child
// processes (docs/protocol.md, "Task processes"). Plain POSIX I/O; the
// functions are thread-compatible (one reader and one writer per fd at a
// time; callers serialise writers).
#ifndef STRATA_WORKER_INTERNAL_FRAME_IO_H_
#define STRATA_WORKER_INTERNAL_FRAME_IO_H_

#include <cstddef>

#include "absl/status/status.h"
#include "google/protobuf/message_lite.h"

namespace strata {
namespace internal {

// Writes one frame, retrying short writes and EINTR. INVALID_ARGUMENT when
// the message is bigger than `max_bytes`; UNAVAILABLE when the peer is gone
// (EPIPE; the caller must ignore SIGPIPE or use a socket, whose writes here
// pass MSG_NOSIGNAL); INTERNAL on other write errors.
absl::Status WriteFrame(int fd, const google::protobuf::MessageLite& message,
                        size_t max_bytes);

// Reads one frame into `message`. OUT_OF_RANGE on a clean end of stream
// before the first byte of a frame; DATA_LOSS when the stream ends inside a
// frame, the length exceeds `max_bytes` (nothing is allocated for it), or
// the bytes do not parse; INTERNAL on read errors. Blocks until a whole
// frame or the end arrives.
absl::Status ReadFrame(int fd, size_t max_bytes,
                       google::protobuf::MessageLite* message);

}  // namespace internal
}  // namespace strata

#endif  // STRATA_WORKER_INTERNAL_FRAME_IO_H_
