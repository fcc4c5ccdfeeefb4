#include "worker/internal/frame_io.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"

namespace strata {
namespace internal {
namespace {

absl::Status WriteAll(int fd, const char* data, size_t size) {
  bool socket = true;  // until send() says otherwise
  while (size > 0) {
    const ssize_t n = socket ? send(fd, data, size, MSG_NOSIGNAL)
                       : write(fd, data, size);
    if (n < 0 && errno == ENOTSOCK) {
      socket = false;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EPIPE) {
      return absl::UnavailableError("frame peer closed the connection");
    }
    if (n < 0) {
      return absl::InternalError(
          absl::StrCat("writing a frame: ", strerror(errno)));
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

// Reads exactly `size` bytes; *got is how many arrived before the end.
absl::Status ReadAll(int fd, char* data, size_t size, size_t* got) {
  *got = 0;
  while (*got < size) {
    const ssize_t n = read(fd, data + *got, size - *got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      return absl::InternalError(
          absl::StrCat("reading a frame: ", strerror(errno)));
    }
    if (n == 0) return absl::OkStatus();
    *got += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status WriteFrame(int fd, const google::protobuf::MessageLite& message,
                        size_t max_bytes) {
  const size_t size = message.ByteSizeLong();
  if (size > max_bytes || size > UINT32_MAX) {
    return absl::InvalidArgumentError(absl::StrCat(
        "frame of ", size, " bytes exceeds the ", max_bytes, "-byte limit"));
  }
  std::string buffer(4 + size, '\0');
  for (int i = 0; i < 4; ++i) buffer[i] = static_cast<char>(size >> (8 * i));
  if (!message.SerializeToArray(buffer.data() + 4, static_cast<int>(size))) {
    return absl::InternalError("serializing a frame failed");
  }
  return WriteAll(fd, buffer.data(), buffer.size());
}

absl::Status ReadFrame(int fd, size_t max_bytes,
                       google::protobuf::MessageLite* message) {
  unsigned char header[4];
  size_t got = 0;
  absl::Status s = ReadAll(fd, reinterpret_cast<char*>(header), 4, &got);
  if (!s.ok()) return s;
  if (got == 0) return absl::OutOfRangeError("end of frame stream");
  if (got < 4) return absl::DataLossError("stream ended inside a frame length");
  const uint32_t size = uint32_t{header[0]} | uint32_t{header[1]} << 8 |
                        uint32_t{header[2]} << 16 | uint32_t{header[3]} << 24;
  if (size > max_bytes) {
    return absl::DataLossError(absl::StrCat(
        "frame of ", size, " bytes exceeds the ", max_bytes, "-byte limit"));
  }
  std::string body(size, '\0');
  s = ReadAll(fd, body.data(), size, &got);
  if (!s.ok()) return s;
  if (got < size) {
    return absl::DataLossError(absl::StrCat("stream ended inside a frame (",
                                            got, " of ", size, " bytes)"));
  }
  if (!message->ParseFromString(body)) {
    return absl::DataLossError(
        absl::StrCat("a ", size, "-byte frame does not parse as ",
                     message->GetTypeName()));
  }
  return absl::OkStatus();
}

}  // namespace internal
}  // namespace strata
