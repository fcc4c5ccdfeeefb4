#include "server/ps/payload_wire.h"

#include <algorithm>
#include <cstring>
#include <new>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/impl/grpc_library.h"
#include "proto/base/status_macros.h"

namespace strata {
namespace {

// Wire types (protobuf encoding).
constexpr uint32_t kVarint = 0;
constexpr uint32_t kFixed64 = 1;
constexpr uint32_t kLengthDelimited = 2;
constexpr uint32_t kStartGroup = 3;
constexpr uint32_t kEndGroup = 4;
constexpr uint32_t kFixed32 = 5;

// Field numbers of proto/ps.proto.
constexpr uint32_t kPullRequestTable = 1;
constexpr uint32_t kPullRequestKeys = 2;
constexpr uint32_t kPullRequestCountFrequency = 3;
constexpr uint32_t kPullRequestReadOnly = 4;
constexpr uint32_t kPullRequestResolved = 5;
constexpr uint32_t kPullResponseDim = 1;
constexpr uint32_t kPullResponseValues = 2;
constexpr uint32_t kPushRequestTable = 1;
constexpr uint32_t kPushRequestKeys = 2;
constexpr uint32_t kPushRequestGradients = 3;
constexpr uint32_t kPushRequestClientId = 4;
constexpr uint32_t kPushRequestSequence = 5;
constexpr uint32_t kPushRequestResolved = 6;

uint64_t Tag(uint32_t field, uint32_t type) {
  return (uint64_t{field} << 3) | type;
}

size_t VarintSize(uint64_t v) {
  size_t n = 1;
  for (; v >= 0x80; v >>= 7) ++n;
  return n;
}

char* PutVarint(uint64_t v, char* p) {
  for (; v >= 0x80; v >>= 7) *p++ = static_cast<char>(v | 0x80);
  *p++ = static_cast<char>(v);
  return p;
}

// Sizes of proto3 fields: 0 for a default value, which proto3 omits.
size_t VarintFieldSize(uint32_t field, uint64_t v) {
  return v == 0 ? 0 : VarintSize(Tag(field, kVarint)) + VarintSize(v);
}
size_t BytesFieldSize(uint32_t field, size_t len) {
  return len == 0
             ? 0
             : VarintSize(Tag(field, kLengthDelimited)) + VarintSize(len) + len;
}

char* PutVarintField(uint32_t field, uint64_t v, char* p) {
  if (v == 0) return p;
  return PutVarint(v, PutVarint(Tag(field, kVarint), p));
}
// The tag and length of a bytes field; its contents go at the result.
char* PutBytesHeader(uint32_t field, size_t len, char* p) {
  if (len == 0) return p;
  return PutVarint(len, PutVarint(Tag(field, kLengthDelimited), p));
}
char* PutBytesField(uint32_t field, const void* data, size_t len, char* p) {
  p = PutBytesHeader(field, len, p);
  if (len > 0) std::memcpy(p, data, len);
  return p + len;
}

}  // namespace

namespace {

// Large message buffers kept for reuse (the dense messages': a tensor's
// megabytes, malloc'd fresh per call, are mmap'd and unmapped by malloc each
// time and cost a page fault per 4 KiB page on every call). A buffer returns
// here when gRPC drops its last reference to the message; up to
// kMaxRetainedBytes of free buffers are kept, process-wide. Thread-safe.
class BufferPool {
 public:
  static constexpr size_t kMinBytes = size_t{1} << 20;  // smaller: malloc
  static constexpr size_t kMaxRetainedBytes = size_t{128} << 20;

  static BufferPool& Get() {
    static BufferPool* const pool = new BufferPool;
    return *pool;
  }

  // A slice of at least `bytes` bytes (uninitialized) whose buffer comes
  // back to the pool when the slice's last reference goes.
  grpc_slice Slice(size_t bytes) {
    Header* h = Take(bytes);
    return grpc_slice_new_with_user_data(h + 1, bytes, &BufferPool::Return, h);
  }

 private:
  // In front of each buffer; keeps it 64-byte aligned.
  struct alignas(64) Header {
    size_t capacity;
  };

  Header* Take(size_t bytes) {
    {
      absl::MutexLock lock(&mu_);
      // The smallest free buffer that fits without wasting over half.
      auto best = free_.end();
      for (auto it = free_.begin(); it != free_.end(); ++it) {
        const size_t c = (*it)->capacity;
        if (c >= bytes && c / 2 <= bytes &&
            (best == free_.end() || c < (*best)->capacity)) {
          best = it;
        }
      }
      if (best != free_.end()) {
        Header* h = *best;
        free_.erase(best);
        free_bytes_ -= h->capacity;
        return h;
      }
    }
    Header* h = static_cast<Header*>(
        ::operator new (sizeof(Header) + bytes, std::align_val_t{64}));
    h->capacity = bytes;
    return h;
  }

  static void Return(void* user_data) {
    Header* h = static_cast<Header*>(user_data);
    BufferPool& pool = Get();
    {
      absl::MutexLock lock(&pool.mu_);
      if (pool.free_bytes_ + h->capacity <= kMaxRetainedBytes) {
        pool.free_.push_back(h);
        pool.free_bytes_ += h->capacity;
        return;
      }
    }
    ::operator delete (h, std::align_val_t{64});
  }

  absl::Mutex mu_;
  std::vector<Header*> free_ ABSL_GUARDED_BY(mu_);
  size_t free_bytes_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace

// Makes WireMessages: the one place that knows their layout in memory.
class WireWriter {
 public:
  static WireMessage Make(size_t message_bytes, size_t header_bytes,
                          size_t payload_bytes, bool pooled = false) {
    return WireMessage(message_bytes, header_bytes, payload_bytes, pooled);
  }
  static char* Begin(WireMessage& m) {
    return reinterpret_cast<char*>(GRPC_SLICE_START_PTR(m.buffer_)) + m.begin_;
  }
};

WireMessage::WireMessage(size_t message_bytes, size_t header_bytes,
                         size_t payload_bytes, bool pooled)
    : message_bytes_(message_bytes), payload_bytes_(payload_bytes) {
  static grpc::internal::GrpcLibraryInitializer grpc_library;
  grpc_library.summon();
  // A refcounted (never inlined) buffer: its bytes do not move with the
  // slice. Up to 3 bytes of slack put the payload on a 4-byte boundary.
  constexpr size_t kAlign = 4;
  const size_t bytes = message_bytes + kAlign - 1;
  buffer_ = pooled && bytes >= BufferPool::kMinBytes
                ? BufferPool::Get().Slice(bytes)
                : grpc_slice_malloc_large(bytes);
  const uintptr_t start =
      reinterpret_cast<uintptr_t>(GRPC_SLICE_START_PTR(buffer_));
  begin_ = (kAlign - (start + header_bytes) % kAlign) % kAlign;
  payload_ = reinterpret_cast<char*>(start) + begin_ + header_bytes;
}

WireMessage::WireMessage(WireMessage&& other) noexcept
    : buffer_(std::exchange(other.buffer_, grpc_empty_slice())),
      begin_(other.begin_),
      message_bytes_(std::exchange(other.message_bytes_, 0)),
      payload_(std::exchange(other.payload_, nullptr)),
      payload_bytes_(std::exchange(other.payload_bytes_, 0)) {}

WireMessage::~WireMessage() { grpc_slice_unref(buffer_); }

grpc::ByteBuffer WireMessage::Release() {
  grpc::Slice message(grpc_slice_sub(buffer_, begin_, begin_ + message_bytes_),
                      grpc::Slice::STEAL_REF);
  grpc_slice_unref(std::exchange(buffer_, grpc_empty_slice()));
  message_bytes_ = 0;
  payload_ = nullptr;
  payload_bytes_ = 0;
  return grpc::ByteBuffer(&message, 1);
}

WireMessage EncodePullResponse(uint32_t dim, size_t value_bytes) {
  const size_t header = VarintFieldSize(kPullResponseDim, dim) +
                        BytesFieldSize(kPullResponseValues, value_bytes) -
                        value_bytes;
  WireMessage m = WireWriter::Make(header + value_bytes, header, value_bytes);
  char* p = WireWriter::Begin(m);
  p = PutVarintField(kPullResponseDim, dim, p);
  PutBytesHeader(kPullResponseValues, value_bytes, p);
  return m;
}

WireMessage EncodePushRequest(absl::string_view table,
                              absl::Span<const uint64_t> keys,
                              size_t gradient_bytes, uint64_t client_id,
                              uint64_t sequence, bool resolved) {
  const size_t key_bytes = keys.size() * sizeof(uint64_t);
  const size_t header = BytesFieldSize(kPushRequestTable, table.size()) +
                        BytesFieldSize(kPushRequestKeys, key_bytes) +
                        BytesFieldSize(kPushRequestGradients, gradient_bytes) -
                        gradient_bytes;
  const size_t trailer = VarintFieldSize(kPushRequestClientId, client_id) +
                         VarintFieldSize(kPushRequestSequence, sequence) +
                         VarintFieldSize(kPushRequestResolved, resolved);
  WireMessage m = WireWriter::Make(header + gradient_bytes + trailer, header,
                                   gradient_bytes);
  char* p = WireWriter::Begin(m);
  p = PutBytesField(kPushRequestTable, table.data(), table.size(), p);
  p = PutBytesField(kPushRequestKeys, keys.data(), key_bytes, p);
  p = PutBytesHeader(kPushRequestGradients, gradient_bytes, p);
  p += gradient_bytes;
  p = PutVarintField(kPushRequestClientId, client_id, p);
  p = PutVarintField(kPushRequestSequence, sequence, p);
  PutVarintField(kPushRequestResolved, resolved, p);
  return m;
}

grpc::ByteBuffer EncodePullRequest(absl::string_view table,
                                   absl::Span<const uint64_t> keys,
                                   bool count_frequency, bool read_only,
                                   bool resolved) {
  const size_t key_bytes = keys.size() * sizeof(uint64_t);
  const size_t size =
      BytesFieldSize(kPullRequestTable, table.size()) +
      BytesFieldSize(kPullRequestKeys, key_bytes) +
      VarintFieldSize(kPullRequestCountFrequency, count_frequency) +
      VarintFieldSize(kPullRequestReadOnly, read_only) +
      VarintFieldSize(kPullRequestResolved, resolved);
  WireMessage m = WireWriter::Make(size, size, 0);
  char* p = WireWriter::Begin(m);
  p = PutBytesField(kPullRequestTable, table.data(), table.size(), p);
  p = PutBytesField(kPullRequestKeys, keys.data(), key_bytes, p);
  p = PutVarintField(kPullRequestCountFrequency, count_frequency, p);
  p = PutVarintField(kPullRequestReadOnly, read_only, p);
  PutVarintField(kPullRequestResolved, resolved, p);
  return m.Release();
}

std::string WireBytes(const grpc::ByteBuffer& message) {
  std::vector<grpc::Slice> slices;
  if (message.Valid() && !message.Dump(&slices).ok()) return "";
  std::string out;
  for (const grpc::Slice& s : slices) {
    out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  return out;
}

namespace internal {

// Reads a message spread over slices, byte by byte for field headers and
// by whole slices for skipped contents.
class SliceCursor {
 public:
  explicit SliceCursor(const std::vector<grpc::Slice>& slices)
      : slices_(slices) {
    SkipEmpty();
  }
  bool AtEnd() const { return slice_ == slices_.size(); }
  size_t slice() const { return slice_; }
  size_t offset() const { return offset_; }

  bool ReadVarint(uint64_t* v) { return ReadVarintOf(10, v); }
  // A tag as protobuf reads one: at most 5 bytes, the value kept mod 2^32
  // (bits past the 32nd of a fifth byte are dropped, a sixth byte refused).
  bool ReadTagVarint(uint32_t* v) { return ReadVarintOf(5, v); }
  bool Skip(uint64_t n) {
    while (n > 0) {
      if (AtEnd()) return false;
      const size_t here =
          std::min<uint64_t>(n, slices_[slice_].size() - offset_);
      Advance(here);
      n -= here;
    }
    return true;
  }

 private:
  // A varint of at most `max_bytes` bytes, kept mod 2^(8 * sizeof(T)), as
  // protobuf reads one (10 bytes for a value, 5 for a tag; the last byte's
  // shift, 63 or 28, stays inside T).
  template <typename T>
  bool ReadVarintOf(int max_bytes, T* v) {
    *v = 0;
    for (int shift = 0; shift < 7 * max_bytes; shift += 7) {
      if (AtEnd()) return false;
      const uint8_t b = slices_[slice_].begin()[offset_];
      Advance(1);
      *v |= T{b & 0x7fu} << shift;
      if ((b & 0x80) == 0) return true;
    }
    return false;  // a byte too many
  }
  void Advance(size_t n) {
    offset_ += n;
    if (offset_ == slices_[slice_].size()) {
      ++slice_;
      offset_ = 0;
      SkipEmpty();
    }
  }
  void SkipEmpty() {
    while (slice_ < slices_.size() && slices_[slice_].size() == 0) ++slice_;
  }

  const std::vector<grpc::Slice>& slices_;
  size_t slice_ = 0;
  size_t offset_ = 0;
};

}  // namespace internal

namespace {

using internal::SliceCursor;

// Skips the contents of field `field` of wire type `type` (a group up to
// its end tag, nested at most `depth` deep, as protobuf's limit of 100);
// false when malformed.
bool SkipField(uint32_t field, uint32_t type, SliceCursor* in, int depth) {
  uint64_t v = 0;
  switch (type) {
    case kVarint:
      return in->ReadVarint(&v);
    case kFixed64:
      return in->Skip(8);
    case kLengthDelimited:
      return in->ReadVarint(&v) && in->Skip(v);
    case kStartGroup:
      if (depth <= 0) return false;
      for (;;) {
        uint64_t tag = 0;
        if (!in->ReadVarint(&tag) || (tag >> 3) == 0) return false;
        if ((tag & 7) == kEndGroup) return (tag >> 3) == field;
        if (!SkipField(tag >> 3, tag & 7, in, depth - 1)) return false;
      }
    case kFixed32:
      return in->Skip(4);
    default:  // an end tag without its group, wire types 6 and 7
      return false;
  }
}

// Reads a field's tag as protobuf does; false when malformed (field 0, or
// more than 5 bytes).
bool ReadTag(SliceCursor* in, uint32_t* field, uint32_t* type) {
  uint32_t tag = 0;
  if (!in->ReadTagVarint(&tag) || (tag >> 3) == 0) return false;
  *field = tag >> 3;
  *type = tag & 7;
  return true;
}

// Whether `s` is structurally valid UTF-8 (what protobuf requires of a
// proto3 string: no overlong forms, no surrogates, nothing past U+10FFFF).
bool IsValidUtf8(absl::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const uint8_t c = static_cast<uint8_t>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len = 0;
    uint32_t cp = 0;
    uint32_t min = 0;
    if ((c & 0xe0) == 0xc0) {
      len = 2, cp = c & 0x1f, min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
      len = 3, cp = c & 0x0f, min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
      len = 4, cp = c & 0x07, min = 0x10000;
    } else {
      return false;
    }
    if (s.size() - i < len) return false;
    for (size_t k = 1; k < len; ++k) {
      const uint8_t d = static_cast<uint8_t>(s[i + k]);
      if ((d & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
      return false;
    }
    i += len;
  }
  return true;
}

// Takes the slices of `message` into *slices and reads its fields one by
// one with read_field(cursor) (false: malformed); INTERNAL naming `what`
// when the message is unreadable or a field malformed.
template <typename ReadFieldFn>
absl::Status ReadMessage(const grpc::ByteBuffer& message,
                         absl::string_view what,
                         std::vector<grpc::Slice>* slices,
                         ReadFieldFn read_field) {
  if (message.Valid() && !message.Dump(slices).ok()) {
    return absl::InternalError(absl::StrCat(what, ": unreadable message"));
  }
  SliceCursor in(*slices);
  while (!in.AtEnd()) {
    if (!read_field(&in)) {
      return absl::InternalError(
          absl::StrCat(what, ": truncated or malformed field"));
    }
  }
  return absl::OkStatus();
}

// Reads a bytes field's length (the cursor at it) into *at with where its
// contents start, and skips them; false when truncated.
bool ReadBytesLocation(SliceCursor* in, internal::FieldLocation* at) {
  uint64_t bytes = 0;
  if (!in->ReadVarint(&bytes)) return false;
  *at = {in->slice(), in->offset(), bytes};
  return in->Skip(bytes);
}

// Calls fn(data, size) for each slice's piece of the field at `at`.
template <typename Fn>
void ForEachPiece(const std::vector<grpc::Slice>& slices,
                  const internal::FieldLocation& at, Fn fn) {
  size_t s = at.slice;
  size_t off = at.offset;
  for (size_t left = at.bytes; left > 0;) {
    const size_t take = std::min(left, slices[s].size() - off);
    fn(reinterpret_cast<const char*>(slices[s].begin()) + off, take);
    left -= take;
    ++s;
    off = 0;
  }
}

}  // namespace

absl::Status PullResponseView::Parse(const grpc::ByteBuffer& message) {
  slices_.clear();
  dim_ = 0;
  values_at_ = {};
  return ReadMessage(message, "PullResponse", &slices_,
                     [this](SliceCursor* in) { return ReadField(in); });
}

bool PullResponseView::ReadField(internal::SliceCursor* in) {
  uint32_t field = 0;
  uint32_t type = 0;
  if (!ReadTag(in, &field, &type)) return false;
  uint64_t v = 0;
  if (field == kPullResponseDim && type == kVarint) {
    if (!in->ReadVarint(&v)) return false;
    dim_ = static_cast<uint32_t>(v);  // as protobuf reads a uint32
    return true;
  }
  if (field == kPullResponseValues && type == kLengthDelimited) {
    return ReadBytesLocation(in, &values_at_);
  }
  return SkipField(field, type, in, /*depth=*/100);
}

void PullResponseView::Rows(size_t row_bytes, std::vector<const char*>* rows) {
  const size_t n = values_at_.bytes / row_bytes;
  scratch_.clear();
  // At most one straddling row per slice boundary: reserved up front, so
  // the scratch never moves while pointers into it are handed out.
  scratch_.reserve(slices_.size() * row_bytes);
  const size_t first = rows->size();
  rows->resize(first + n);
  const char** out = rows->data() + first;
  size_t s = values_at_.slice;
  size_t off = values_at_.offset;
  for (size_t r = 0; r < n;) {
    while (off == slices_[s].size()) {  // past this slice (or an empty one)
      ++s;
      off = 0;
    }
    // The whole rows left in this slice, in one tight loop.
    const char* base = reinterpret_cast<const char*>(slices_[s].begin());
    const size_t whole = std::min((slices_[s].size() - off) / row_bytes, n - r);
    for (size_t k = 0; k < whole; ++k) out[r + k] = base + off + k * row_bytes;
    r += whole;
    off += whole * row_bytes;
    if (r == n || slices_[s].size() - off == 0) continue;
    // A row that continues in the next slice(s): copied to the scratch.
    const size_t start = scratch_.size();
    for (size_t left = row_bytes; left > 0;) {
      if (off == slices_[s].size()) {
        ++s;
        off = 0;
        continue;
      }
      const size_t take = std::min(left, slices_[s].size() - off);
      scratch_.append(reinterpret_cast<const char*>(slices_[s].begin()) + off,
                      take);
      off += take;
      left -= take;
    }
    out[r++] = scratch_.data() + start;
  }
}

PushRequestView::PushRequestView() = default;
PushRequestView::~PushRequestView() = default;

absl::Status PushRequestView::Parse(const grpc::ByteBuffer& message) {
  Clear();
  table_.clear();
  table_utf8_ = true;
  client_id_ = sequence_ = 0;
  resolved_ = false;
  keys_at_ = gradients_at_ = Location();
  keys_ = absl::string_view();
  STRATA_RETURN_IF_ERROR(
      ReadMessage(message, "PushRequest", &slices_,
                  [this](SliceCursor* in) { return ReadField(in); }));
  if (!table_utf8_) {
    return absl::InternalError("PushRequest: table name is not UTF-8");
  }
  keys_ = Contiguous(keys_at_, alignof(uint64_t));
  if (gradients_at_.bytes != 0) {
    ForEachPiece(slices_, gradients_at_, [this](const char* p, size_t n) {
      if (n != 0) gradient_pieces_.emplace_back(p, n);
    });
  }
  return absl::OkStatus();
}

void PushRequestView::Clear() {
  slices_.clear();
  keys_ = absl::string_view();
  gradient_pieces_.clear();
  if (scratch_bytes_ > kMaxRetainedScratchBytes) {
    scratch_.reset();
    scratch_bytes_ = 0;
  }
}

bool PushRequestView::ReadField(internal::SliceCursor* in) {
  uint32_t field = 0;
  uint32_t type = 0;
  if (!ReadTag(in, &field, &type)) return false;
  uint64_t v = 0;
  if (type == kVarint &&
      (field == kPushRequestClientId || field == kPushRequestSequence)) {
    if (!in->ReadVarint(&v)) return false;
    (field == kPushRequestClientId ? client_id_ : sequence_) = v;
    return true;
  }
  if (type == kVarint && field == kPushRequestResolved) {
    if (!in->ReadVarint(&v)) return false;
    resolved_ = v != 0;  // as protobuf reads a bool
    return true;
  }
  if (type != kLengthDelimited ||
      (field != kPushRequestTable && field != kPushRequestKeys &&
       field != kPushRequestGradients)) {
    return SkipField(field, type, in, /*depth=*/100);
  }
  Location at;
  if (!ReadBytesLocation(in, &at)) return false;
  if (field == kPushRequestKeys) {
    keys_at_ = at;
  } else if (field == kPushRequestGradients) {
    gradients_at_ = at;
  } else {  // the table name: short, copied out
    table_.clear();
    ForEachPiece(slices_, at,
                 [this](const char* p, size_t n) { table_.append(p, n); });
    table_utf8_ = table_utf8_ && IsValidUtf8(table_);
  }
  return true;
}

absl::string_view PushRequestView::Contiguous(const Location& at,
                                              size_t align) {
  if (at.bytes == 0) return absl::string_view();
  const char* p =
      reinterpret_cast<const char*>(slices_[at.slice].begin()) + at.offset;
  if (slices_[at.slice].size() - at.offset >= at.bytes &&
      reinterpret_cast<uintptr_t>(p) % align == 0) {
    return absl::string_view(p, at.bytes);  // in place
  }
  if (at.bytes > scratch_bytes_) {
    // Grown only when needed; uninitialized: every byte is written below.
    scratch_.reset(new uint64_t[(at.bytes + 7) / 8]);
    scratch_bytes_ = (at.bytes + 7) / 8 * 8;
  }
  char* out = ScratchBytes();
  char* q = out;
  ForEachPiece(slices_, at, [&q](const char* piece, size_t n) {
    std::memcpy(q, piece, n);
    q += n;
  });
  return absl::string_view(out, at.bytes);
}

// --- Dense tensors.

namespace {

// Field numbers of proto/ps.proto's dense messages.
constexpr uint32_t kDensePullResponseValues = 1;
constexpr uint32_t kDensePullResponseStep = 2;
constexpr uint32_t kDensePullResponseSize = 3;
constexpr uint32_t kDensePushRequestName = 1;
constexpr uint32_t kDensePushRequestGradients = 2;
constexpr uint32_t kDensePushRequestStep = 3;
constexpr uint32_t kDensePushRequestWorker = 4;
constexpr uint32_t kDensePushRequestOffset = 5;
constexpr uint32_t kDensePushRequestCount = 6;
constexpr uint32_t kDensePushRequestClientId = 7;
constexpr uint32_t kDensePushRequestSequence = 8;

}  // namespace

WireMessage EncodeDensePullResponse(size_t value_bytes, int64_t step,
                                    uint64_t size) {
  const uint64_t step_bits = static_cast<uint64_t>(step);  // as int64 varint
  const size_t header =
      BytesFieldSize(kDensePullResponseValues, value_bytes) - value_bytes;
  const size_t trailer = VarintFieldSize(kDensePullResponseStep, step_bits) +
                         VarintFieldSize(kDensePullResponseSize, size);
  WireMessage m = WireWriter::Make(header + value_bytes + trailer, header,
                                   value_bytes, /*pooled=*/true);
  char* p = WireWriter::Begin(m);
  p = PutBytesHeader(kDensePullResponseValues, value_bytes, p);
  p += value_bytes;
  p = PutVarintField(kDensePullResponseStep, step_bits, p);
  PutVarintField(kDensePullResponseSize, size, p);
  return m;
}

WireMessage EncodeDensePushRequest(const DensePushFields& f,
                                   size_t gradient_bytes) {
  const uint64_t step_bits = static_cast<uint64_t>(f.step);
  const size_t header =
      BytesFieldSize(kDensePushRequestName, f.name.size()) +
      BytesFieldSize(kDensePushRequestGradients, gradient_bytes) -
      gradient_bytes;
  const size_t trailer =
      VarintFieldSize(kDensePushRequestStep, step_bits) +
      VarintFieldSize(kDensePushRequestWorker, f.worker) +
      VarintFieldSize(kDensePushRequestOffset, f.offset) +
      VarintFieldSize(kDensePushRequestCount, f.count) +
      VarintFieldSize(kDensePushRequestClientId, f.client_id) +
      VarintFieldSize(kDensePushRequestSequence, f.sequence);
  WireMessage m = WireWriter::Make(header + gradient_bytes + trailer, header,
                                   gradient_bytes, /*pooled=*/true);
  char* p = WireWriter::Begin(m);
  p = PutBytesField(kDensePushRequestName, f.name.data(), f.name.size(), p);
  p = PutBytesHeader(kDensePushRequestGradients, gradient_bytes, p);
  p += gradient_bytes;
  p = PutVarintField(kDensePushRequestStep, step_bits, p);
  p = PutVarintField(kDensePushRequestWorker, f.worker, p);
  p = PutVarintField(kDensePushRequestOffset, f.offset, p);
  p = PutVarintField(kDensePushRequestCount, f.count, p);
  p = PutVarintField(kDensePushRequestClientId, f.client_id, p);
  PutVarintField(kDensePushRequestSequence, f.sequence, p);
  return m;
}

absl::Status DensePullResponseView::Parse(const grpc::ByteBuffer& message) {
  slices_.clear();
  step_ = 0;
  size_ = 0;
  values_at_ = {};
  return ReadMessage(message, "DensePullResponse", &slices_,
                     [this](SliceCursor* in) { return ReadField(in); });
}

bool DensePullResponseView::ReadField(internal::SliceCursor* in) {
  uint32_t field = 0;
  uint32_t type = 0;
  if (!ReadTag(in, &field, &type)) return false;
  uint64_t v = 0;
  if (type == kVarint &&
      (field == kDensePullResponseStep || field == kDensePullResponseSize)) {
    if (!in->ReadVarint(&v)) return false;
    if (field == kDensePullResponseStep) {
      step_ = static_cast<int64_t>(v);  // as protobuf reads an int64
    } else {
      size_ = v;
    }
    return true;
  }
  if (field == kDensePullResponseValues && type == kLengthDelimited) {
    return ReadBytesLocation(in, &values_at_);
  }
  return SkipField(field, type, in, /*depth=*/100);
}

void DensePullResponseView::CopyValues(char* out) const {
  ForEachPiece(slices_, values_at_, [&out](const char* p, size_t n) {
    std::memcpy(out, p, n);
    out += n;
  });
}

absl::Status DensePushRequestView::Parse(const grpc::ByteBuffer& message) {
  Clear();
  name_.clear();
  name_utf8_ = true;
  fields_ = DensePushFields();
  gradients_ = {};
  const absl::Status read =
      ReadMessage(message, "DensePushRequest", &slices_,
                  [this](SliceCursor* in) { return ReadField(in); });
  if (!read.ok()) {
    Clear();
    return read;
  }
  if (!name_utf8_) {
    Clear();
    return absl::InternalError("DensePushRequest: name is not UTF-8");
  }
  return absl::OkStatus();
}

void DensePushRequestView::Clear() {
  slices_.clear();
  starts_.clear();
}

bool DensePushRequestView::ReadField(internal::SliceCursor* in) {
  if (starts_.empty()) {  // the first field: index the slices
    starts_.reserve(slices_.size() + 1);
    starts_.push_back(0);
    for (const grpc::Slice& s : slices_) {
      starts_.push_back(starts_.back() + s.size());
    }
  }
  uint32_t field = 0;
  uint32_t type = 0;
  if (!ReadTag(in, &field, &type)) return false;
  uint64_t v = 0;
  if (type == kVarint && field >= kDensePushRequestStep &&
      field <= kDensePushRequestSequence) {
    if (!in->ReadVarint(&v)) return false;
    switch (field) {
      case kDensePushRequestStep:
        fields_.step = static_cast<int64_t>(v);  // as protobuf reads an int64
        break;
      case kDensePushRequestWorker:
        fields_.worker = static_cast<uint32_t>(v);  // as protobuf: a uint32
        break;
      case kDensePushRequestOffset:
        fields_.offset = v;
        break;
      case kDensePushRequestCount:
        fields_.count = v;
        break;
      case kDensePushRequestClientId:
        fields_.client_id = v;
        break;
      default:
        fields_.sequence = v;
    }
    return true;
  }
  if (type != kLengthDelimited ||
      (field != kDensePushRequestName && field != kDensePushRequestGradients)) {
    return SkipField(field, type, in, /*depth=*/100);
  }
  if (!in->ReadVarint(&v)) return false;
  const size_t begin =
      in->AtEnd() ? starts_.back() : starts_[in->slice()] + in->offset();
  if (!in->Skip(v)) return false;
  if (field == kDensePushRequestGradients) {
    gradients_.begin = begin;
    gradients_.bytes = v;
    return true;
  }
  name_.resize(v);  // short: copied out
  size_t s = std::upper_bound(starts_.begin(), starts_.end(), begin) -
             starts_.begin() - 1;
  size_t off = begin - starts_[s];
  for (size_t done = 0; done < v; ++s, off = 0) {
    const size_t take = std::min<size_t>(v - done, slices_[s].size() - off);
    std::memcpy(&name_[done], slices_[s].begin() + off, take);
    done += take;
  }
  name_utf8_ = name_utf8_ && IsValidUtf8(name_);
  return true;
}

const float* DensePushRequestView::Floats(size_t first, size_t n,
                                          float* buffer) const {
  if (n == 0) return buffer;
  const size_t begin = gradients_.begin + first * sizeof(float);
  const size_t bytes = n * sizeof(float);
  // The slice holding `begin`: the last one starting at or before it that
  // is not empty.
  size_t s = std::upper_bound(starts_.begin(), starts_.end(), begin) -
             starts_.begin() - 1;
  size_t off = begin - starts_[s];
  const char* p = reinterpret_cast<const char*>(slices_[s].begin()) + off;
  if (slices_[s].size() - off >= bytes &&
      reinterpret_cast<uintptr_t>(p) % alignof(float) == 0) {
    return reinterpret_cast<const float*>(p);  // in place
  }
  char* out = reinterpret_cast<char*>(buffer);
  for (size_t done = 0; done < bytes; ++s, off = 0) {
    const size_t take = std::min(bytes - done, slices_[s].size() - off);
    std::memcpy(out + done, slices_[s].begin() + off, take);
    done += take;
  }
  return buffer;
}

}  // namespace strata
