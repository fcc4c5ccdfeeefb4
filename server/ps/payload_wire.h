// The data plane's large messages (PullRequest, PushRequest, PullResponse,
// DensePullResponse and DensePushRequest of proto/ps.proto) encoded and
// decoded straight in gRPC slices, without a protobuf message in between: the
// payload of a pull response or a push request is written by its producer (the
// shard's table, the client's gradient gather) into the one slice that gRPC
// sends, a received pull response is read row by row out of the slices gRPC
// received, and a received push request is read in place by the shard.
// The bytes on the wire are exactly what protobuf writes for the same
// message (fields in number order, defaults omitted; tested against
// SerializeAsString), so either side may use the generated proto path.
// Plain library (gRPC slices only, no services); little-endian hosts, as
// proto/rpc_util.h.
#ifndef STRATA_SERVER_PS_PAYLOAD_WIRE_H_
#define STRATA_SERVER_PS_PAYLOAD_WIRE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "grpc/slice.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/slice.h"

namespace strata {
namespace internal {
class SliceCursor;

// Where a bytes field's contents lie in a received message's slices. Plain
// value.
struct FieldLocation {
  size_t slice = 0;   // they start in this slice...
  size_t offset = 0;  // ...at this offset
  size_t bytes = 0;
};
}  // namespace internal

// One message being encoded: its header fields are written when it is
// made, its payload (the last bytes field's contents, 4-byte aligned, not
// initialized) is filled by the caller through payload(), then Release()
// hands the message to gRPC without a copy. Owns its buffer; move-only;
// not thread-safe. The dense encoders take buffers of 1 MiB and more from a
// process-wide pool they return to when gRPC drops the message (at most 128
// MiB of free buffers kept), so that a tensor's pages are not faulted in
// afresh on every call.
class WireMessage {
 public:
  WireMessage(WireMessage&& other) noexcept;
  WireMessage& operator=(WireMessage&&) = delete;
  WireMessage(const WireMessage&) = delete;
  ~WireMessage();

  // The payload: payload_bytes() bytes, aligned for float and uint32.
  char* payload() { return payload_; }
  size_t payload_bytes() const { return payload_bytes_; }
  // The message; the WireMessage is empty afterwards.
  grpc::ByteBuffer Release();

 private:
  friend class WireWriter;
  WireMessage(size_t message_bytes, size_t header_bytes, size_t payload_bytes,
              bool pooled);

  grpc_slice buffer_;  // message_bytes_ + alignment slack
  size_t begin_ = 0;   // where the message starts in buffer_
  size_t message_bytes_ = 0;
  char* payload_ = nullptr;
  size_t payload_bytes_ = 0;
};

// PullResponse{dim, values} with `value_bytes` bytes of values to fill.
WireMessage EncodePullResponse(uint32_t dim, size_t value_bytes);

// PushRequest{table, keys, gradients, client_id, sequence, resolved} with
// `gradient_bytes` bytes of gradients to fill.
WireMessage EncodePushRequest(absl::string_view table,
                              absl::Span<const uint64_t> keys,
                              size_t gradient_bytes, uint64_t client_id,
                              uint64_t sequence, bool resolved = false);

// PullRequest{table, keys, count_frequency, read_only, resolved}.
grpc::ByteBuffer EncodePullRequest(absl::string_view table,
                                   absl::Span<const uint64_t> keys,
                                   bool count_frequency, bool read_only,
                                   bool resolved = false);

// The bytes of `message` in one string (a copy: for tests, the fuzzer and
// diagnostics, not the data path).
std::string WireBytes(const grpc::ByteBuffer& message);

// A received PullResponse, read in place: holds references to the
// message's slices (no copy of the values). Parses as protobuf would: any
// field order, the last `dim` and `values` win, unknown fields skipped.
// Owns its slice references and a scratch buffer; not thread-safe.
class PullResponseView {
 public:
  // INTERNAL when `message` is not a well-formed protobuf message (a
  // truncated field, a group, a bad wire type).
  absl::Status Parse(const grpc::ByteBuffer& message);

  uint32_t dim() const { return dim_; }
  size_t values_bytes() const { return values_at_.bytes; }

  // Appends to `rows` a pointer to each of the values_bytes() / row_bytes
  // consecutive rows of the values (row_bytes > 0 must divide
  // values_bytes()). A row that straddles two slices is copied into this
  // view's scratch; the pointers stay valid until the next Parse or Rows.
  // Pointers need not be aligned: read them with memcpy.
  void Rows(size_t row_bytes, std::vector<const char*>* rows);

 private:
  // Reads one field; false when it is malformed or truncated.
  bool ReadField(internal::SliceCursor* in);

  std::vector<grpc::Slice> slices_;
  uint32_t dim_ = 0;
  internal::FieldLocation values_at_;
  std::string scratch_;
};

// A received PushRequest, read in place (the shard's push path): the table
// name and request id are copied out; the gradients are handed out in place
// as the pieces of gRPC's slices that hold them (at any alignment: the
// table reads them through GradientRows); the keys as contiguous, aligned
// bytes: a view into the slice gRPC received when the field lies in one
// slice at an aligned address, else one copy into this view's scratch
// buffer (kept across Parse calls, so a thread that parses push after push
// does not allocate or fault in fresh pages; Clear() frees a scratch larger
// than kMaxRetainedScratchBytes). Parses as protobuf would:
// any field order, the last value of each field wins, unknown fields (and
// known ones of another wire type) skipped, a table name that is not valid
// UTF-8 refused (proto3 strings).
// Owns its slice references and scratch; not thread-safe.
class PushRequestView {
 public:
  // A scratch up to this size is kept by Clear() for the next request.
  static constexpr size_t kMaxRetainedScratchBytes = size_t{16} << 20;

  PushRequestView();
  ~PushRequestView();
  PushRequestView(const PushRequestView&) = delete;
  PushRequestView& operator=(const PushRequestView&) = delete;

  // INTERNAL when `message` is not a well-formed PushRequest (a truncated
  // field, a group, a bad wire type, a table name that is not UTF-8): the
  // code gRPC answers when protobuf cannot parse a request.
  absl::Status Parse(const grpc::ByteBuffer& message);
  // Drops the message's slices (and a scratch over the retained size).
  void Clear();

  const std::string& table() const { return table_; }
  uint64_t client_id() const { return client_id_; }
  uint64_t sequence() const { return sequence_; }
  bool resolved() const { return resolved_; }
  // The keys field's bytes, 8-byte aligned; the gradients field's bytes in
  // place, in order, at any alignment (no piece is empty); their total
  // size. Valid until the next Parse or Clear.
  absl::string_view keys() const { return keys_; }
  absl::Span<const absl::string_view> gradient_pieces() const {
    return gradient_pieces_;
  }
  size_t gradient_bytes() const { return gradients_at_.bytes; }

 private:
  using Location = internal::FieldLocation;
  bool ReadField(internal::SliceCursor* in);
  // The field at `at`, in place when it lies in one slice at an address
  // aligned to `align`, else copied to `scratch_`.
  absl::string_view Contiguous(const Location& at, size_t align);
  char* ScratchBytes() { return reinterpret_cast<char*>(scratch_.get()); }

  std::vector<grpc::Slice> slices_;
  std::string table_;
  // Every occurrence of the table field was UTF-8 (protobuf checks each,
  // not only the last, which wins).
  bool table_utf8_ = true;
  uint64_t client_id_ = 0;
  uint64_t sequence_ = 0;
  bool resolved_ = false;
  Location keys_at_;
  Location gradients_at_;
  absl::string_view keys_;
  std::vector<absl::string_view> gradient_pieces_;
  std::unique_ptr<uint64_t[]> scratch_;  // uninitialized; 8-byte aligned
  size_t scratch_bytes_ = 0;
};

// --- Dense tensors (DenseService; proto/ps.proto DensePullResponse and
// DensePushRequest), encoded and read the same way.

// DensePullResponse{values, step, size} with `value_bytes` bytes of values
// to fill (the float payload; step and size follow it, as protobuf orders
// them).
WireMessage EncodeDensePullResponse(size_t value_bytes, int64_t step,
                                    uint64_t size);

// The fields of a DensePushRequest other than its gradients.
struct DensePushFields {
  absl::string_view name;
  int64_t step = 0;
  uint32_t worker = 0;
  uint64_t offset = 0;
  uint64_t count = 0;
  uint64_t client_id = 0;
  uint64_t sequence = 0;
};

// DensePushRequest{fields, gradients} with `gradient_bytes` bytes of
// gradients to fill.
WireMessage EncodeDensePushRequest(const DensePushFields& fields,
                                   size_t gradient_bytes);

// A received DensePullResponse, read in place (the client's dense pull):
// the values are copied once, from the slices gRPC received to the
// caller's buffer. Parses as protobuf would (any field order, the last
// value of each field wins, unknown fields skipped). Owns its slice
// references; not thread-safe.
class DensePullResponseView {
 public:
  // INTERNAL when `message` is not a well-formed protobuf message.
  absl::Status Parse(const grpc::ByteBuffer& message);

  int64_t step() const { return step_; }
  uint64_t size() const { return size_; }
  size_t values_bytes() const { return values_at_.bytes; }
  // Copies the values_bytes() bytes of the values to `out`.
  void CopyValues(char* out) const;

 private:
  bool ReadField(internal::SliceCursor* in);

  std::vector<grpc::Slice> slices_;
  int64_t step_ = 0;
  uint64_t size_ = 0;
  internal::FieldLocation values_at_;
};

// A received DensePushRequest, read in place (the shard's dense push path).
// The name and the scalar fields are copied out; the gradients stay in the
// slices gRPC received and are read block by block (Floats): a block that
// lies in one slice at a float-aligned address is handed out in place,
// any other is copied into the caller's (small, cache-resident) buffer, so
// a tensor of any size is never copied whole. Parses as protobuf would: any
// field order, the last value of each field wins, unknown fields (and known
// ones of another wire type) skipped, a name that is not valid UTF-8
// refused (proto3 strings). Owns its slice references; not thread-safe.
class DensePushRequestView {
 public:
  // INTERNAL when `message` is not a well-formed DensePushRequest (a
  // truncated field, a group, a bad wire type, a name that is not UTF-8):
  // the code gRPC answers when protobuf cannot parse a request.
  absl::Status Parse(const grpc::ByteBuffer& message);
  // Drops the message's slices.
  void Clear();

  const std::string& name() const { return name_; }
  int64_t step() const { return fields_.step; }
  uint32_t worker() const { return fields_.worker; }
  uint64_t offset() const { return fields_.offset; }
  uint64_t count() const { return fields_.count; }
  uint64_t client_id() const { return fields_.client_id; }
  uint64_t sequence() const { return fields_.sequence; }
  // All of the above (the name a view of name()).
  DensePushFields fields() const {
    DensePushFields f = fields_;
    f.name = name_;
    return f;
  }
  // Bytes of the gradients field (a multiple of 4 in a valid request).
  size_t gradient_bytes() const { return gradients_.bytes; }
  // Floats [first, first + n) of the gradients (first + n <=
  // gradient_bytes() / 4): in place, or copied to `buffer` (n floats).
  // Valid until the next Parse or Clear.
  const float* Floats(size_t first, size_t n, float* buffer) const;

 private:
  bool ReadField(internal::SliceCursor* in);

  std::vector<grpc::Slice> slices_;
  // Byte offset of each slice's start in the message (slices_.size() + 1
  // entries), to find a block's slice.
  std::vector<size_t> starts_;
  std::string name_;
  bool name_utf8_ = true;   // every occurrence (as table_utf8_)
  DensePushFields fields_;  // but its name
  struct {
    size_t begin = 0;  // byte offset of the field's contents in the message
    size_t bytes = 0;
  } gradients_;
};

}  // namespace strata

#endif  // STRATA_SERVER_PS_PAYLOAD_WIRE_H_
