// libFuzzer target for the task-process frame reader (frame_io.h), which
// the worker daemon runs on whatever its task's process writes.
// Input: one byte choosing the message type (bit 0: TaskProcessCommand or
// TaskProcessReport) and the frame limit (bits 1-2: 16 B, 256 B, 4 KiB,
// 16 MiB), then the byte stream. Properties: frames are read until the
// first error, which is OUT_OF_RANGE exactly at the end of the stream or
// DATA_LOSS; every frame read fits the limit and round-trips through
// WriteFrame + ReadFrame unchanged (compared in deterministic form).
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/message.h"
#include "proto/task_process.pb.h"
#include "worker/internal/frame_io.h"

namespace {

void Check(bool ok) {
  if (!ok) abort();
}

// `m`'s bytes with map entries in key order: a map's entries may be
// serialized in another order after a round trip (found by this fuzzer:
// corpus file report_map_order).
std::string Deterministic(const google::protobuf::Message& m) {
  std::string out;
  {
    google::protobuf::io::StringOutputStream stream(&out);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    Check(m.SerializeToCodedStream(&coded));
  }
  return out;
}

int FdWith(const uint8_t* data, size_t size) {
  const int fd = memfd_create("frames", 0);
  Check(fd >= 0);
  Check(write(fd, data, size) == static_cast<ssize_t>(size));
  Check(lseek(fd, 0, SEEK_SET) == 0);
  return fd;
}

template <typename Message>
void ReadAll(int fd, size_t limit, size_t size) {
  while (true) {
    Message m;
    absl::Status s = strata::internal::ReadFrame(fd, limit, &m);
    if (absl::IsOutOfRange(s)) {
      Check(lseek(fd, 0, SEEK_CUR) == static_cast<off_t>(size));
      return;
    }
    if (!s.ok()) {
      Check(absl::IsDataLoss(s));
      return;
    }
    // Round trip through a second memfd.
    const int copy = memfd_create("copy", 0);
    Check(copy >= 0);
    if (m.ByteSizeLong() <= limit) {
      Check(strata::internal::WriteFrame(copy, m, limit).ok());
      Check(lseek(copy, 0, SEEK_SET) == 0);
      Message again;
      Check(strata::internal::ReadFrame(copy, limit, &again).ok());
      Check(Deterministic(again) == Deterministic(m));
    }
    close(copy);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static const size_t kLimits[] = {16, 256, 4096, 16 << 20};
  const size_t limit = kLimits[(data[0] >> 1) & 3];
  const int fd = FdWith(data + 1, size - 1);
  if (data[0] & 1) {
    ReadAll<strata::TaskProcessCommand>(fd, limit, size - 1);
  } else {
    ReadAll<strata::TaskProcessReport>(fd, limit, size - 1);
  }
  close(fd);
  return 0;
}
