#include "server/ps/payload_wire.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "gtest/gtest.h"
#include "proto/ps.pb.h"

namespace strata {
namespace {

// `bytes` cut into slices of `piece` bytes (the last one shorter).
grpc::ByteBuffer Sliced(const std::string& bytes, size_t piece) {
  std::vector<grpc::Slice> slices;
  for (size_t i = 0; i < bytes.size(); i += piece) {
    const size_t n = std::min(piece, bytes.size() - i);
    slices.emplace_back(bytes.data() + i, n);
  }
  return grpc::ByteBuffer(slices.data(), slices.size());
}

std::vector<uint64_t> Keys(size_t n) {
  std::vector<uint64_t> keys(n);
  for (size_t i = 0; i < n; ++i) keys[i] = 0x9e3779b97f4a7c15ull * (i + 1);
  return keys;
}

std::vector<float> Values(size_t n) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = 0.25f * i - 3.0f;
  return v;
}

std::string PackedKeys(const std::vector<uint64_t>& k) {
  return std::string(reinterpret_cast<const char*>(k.data()), k.size() * 8);
}

TEST(PayloadWireTest, PullResponseIsWhatProtobufWritesAndAligned) {
  for (uint32_t dim : {1u, 16u, 64u, 300u}) {
    for (size_t rows : {size_t{0}, size_t{1}, size_t{3}, size_t{5000}}) {
      const std::vector<float> v = Values(rows * dim);
      WireMessage m = EncodePullResponse(dim, v.size() * sizeof(float));
      ASSERT_EQ(m.payload_bytes(), v.size() * sizeof(float));
      EXPECT_EQ(reinterpret_cast<uintptr_t>(m.payload()) % alignof(float), 0u);
      if (!v.empty()) std::memcpy(m.payload(), v.data(), m.payload_bytes());
      PullResponse expected;
      expected.set_dim(dim);
      expected.set_values(v.data(), v.size() * sizeof(float));
      EXPECT_EQ(WireBytes(m.Release()), expected.SerializeAsString())
          << "dim " << dim << " rows " << rows;
    }
  }
}

TEST(PayloadWireTest, PushRequestIsWhatProtobufWrites) {
  const std::vector<uint64_t> keys = Keys(777);
  const std::vector<float> grads = Values(777 * 16);
  for (uint64_t client : {uint64_t{0}, uint64_t{1}, ~uint64_t{0}}) {
    WireMessage m =
        EncodePushRequest("emb", keys, grads.size() * 4, client, client / 3);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(m.payload()) % alignof(float), 0u);
    std::memcpy(m.payload(), grads.data(), grads.size() * 4);
    PushRequest expected;
    expected.set_table("emb");
    expected.set_keys(PackedKeys(keys));
    expected.set_gradients(grads.data(), grads.size() * 4);
    expected.set_client_id(client);
    expected.set_sequence(client / 3);
    EXPECT_EQ(WireBytes(m.Release()), expected.SerializeAsString());
  }
}

TEST(PayloadWireTest, PullRequestIsWhatProtobufWrites) {
  const std::vector<uint64_t> keys = Keys(1000);
  for (bool count : {false, true}) {
    for (bool read_only : {false, true}) {
      PullRequest expected;
      expected.set_table("a/table");
      expected.set_keys(PackedKeys(keys));
      expected.set_count_frequency(count);
      expected.set_read_only(read_only);
      EXPECT_EQ(WireBytes(EncodePullRequest("a/table", keys, count, read_only)),
                expected.SerializeAsString());
    }
  }
}

TEST(PayloadWireTest, ResolvedPushRequestIsWhatProtobufWrites) {
  const std::vector<uint64_t> keys = Keys(33);
  const std::vector<float> grads = Values(33 * 4);
  for (bool resolved : {false, true}) {
    WireMessage m =
        EncodePushRequest("emb", keys, grads.size() * 4, 7, 9, resolved);
    std::memcpy(m.payload(), grads.data(), grads.size() * 4);
    PushRequest expected;
    expected.set_table("emb");
    expected.set_keys(PackedKeys(keys));
    expected.set_gradients(grads.data(), grads.size() * 4);
    expected.set_client_id(7);
    expected.set_sequence(9);
    expected.set_resolved(resolved);
    EXPECT_EQ(WireBytes(m.Release()), expected.SerializeAsString());
  }
}

TEST(PayloadWireTest, ResolvedPullRequestIsWhatProtobufWrites) {
  const std::vector<uint64_t> keys = Keys(100);
  for (bool resolved : {false, true}) {
    PullRequest expected;
    expected.set_table("t");
    expected.set_keys(PackedKeys(keys));
    expected.set_count_frequency(true);
    expected.set_resolved(resolved);
    EXPECT_EQ(WireBytes(EncodePullRequest("t", keys, true, false, resolved)),
              expected.SerializeAsString());
  }
}

TEST(PayloadWireTest, ReleasedMessageOutlivesItsWireMessage) {
  grpc::ByteBuffer b;
  {
    WireMessage m = EncodePullResponse(1, 4);
    const float one = 1.0f;
    std::memcpy(m.payload(), &one, 4);
    WireMessage moved(std::move(m));
    b = moved.Release();
  }
  PullResponse r;
  ASSERT_TRUE(r.ParseFromString(WireBytes(b)));
  EXPECT_EQ(r.dim(), 1u);
  EXPECT_EQ(r.values(), std::string("\x00\x00\x80\x3f", 4));
}

// Rows read in place equal the proto's values for any slicing of the
// message, including rows split across slices.
TEST(PayloadWireTest, ViewReadsRowsAcrossSlices) {
  const uint32_t dim = 16;
  const std::vector<float> v = Values(200 * dim);
  PullResponse r;
  r.set_dim(dim);
  r.set_values(v.data(), v.size() * 4);
  const std::string wire = r.SerializeAsString();
  for (size_t piece :
       {size_t{1}, size_t{7}, size_t{64}, size_t{1000}, wire.size()}) {
    PullResponseView view;
    ASSERT_TRUE(view.Parse(Sliced(wire, piece)).ok()) << piece;
    EXPECT_EQ(view.dim(), dim);
    ASSERT_EQ(view.values_bytes(), v.size() * 4);
    std::vector<const char*> rows;
    view.Rows(dim * 4, &rows);
    ASSERT_EQ(rows.size(), 200u);
    for (size_t i = 0; i < rows.size(); ++i) {
      ASSERT_EQ(std::memcmp(rows[i], v.data() + i * dim, dim * 4), 0)
          << "row " << i << " piece " << piece;
    }
  }
}

// Parsed as protobuf parses: fields in any order, the last value wins,
// unknown fields of every wire type skipped.
TEST(PayloadWireTest, ViewParsesLikeProtobuf) {
  std::string wire;
  wire += std::string("\x12\x04", 2) + std::string(4, 'x');  // values, old
  wire += std::string("\x08\x05", 2);                        // dim 5
  wire += std::string("\x18\x96\x01", 3);                    // field 3 varint
  wire += std::string("\x21", 1) + std::string(8, 'f');      // field 4 fixed64
  wire += std::string("\x2d", 1) + std::string(4, 'g');      // field 5 fixed32
  wire += std::string("\x0a\x02zz", 4);  // field 1 as bytes: unknown
  wire += std::string("\x33\x08\x07\x3b\x3c\x34", 6);  // nested groups
  wire += std::string("\x12\x08", 2) + std::string("abcdefgh");
  wire += std::string("\x08\x02", 2);  // dim 2, last wins
  PullResponse proto;
  ASSERT_TRUE(proto.ParseFromString(wire));
  PullResponseView view;
  ASSERT_TRUE(view.Parse(Sliced(wire, 3)).ok());
  EXPECT_EQ(view.dim(), proto.dim());
  ASSERT_EQ(view.values_bytes(), proto.values().size());
  std::vector<const char*> rows;
  view.Rows(4, &rows);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(std::string(rows[0], 4) + std::string(rows[1], 4), proto.values());
}

// Each of `bad` fails protobuf's parse as a Proto, and the View's parse of
// it (in slices of 2 bytes) with INTERNAL.
template <typename Proto, typename View>
void ExpectRefusedLikeProtobuf(const std::vector<std::string>& bad) {
  for (const std::string& wire : bad) {
    Proto proto;
    EXPECT_FALSE(proto.ParseFromString(wire)) << absl::CEscape(wire);
    View view;
    const absl::Status s = view.Parse(Sliced(wire, 2));
    EXPECT_EQ(s.code(), absl::StatusCode::kInternal) << absl::CEscape(wire);
  }
}

TEST(PayloadWireTest, ViewRejectsWhatProtobufRejects) {
  const std::vector<std::string> bad = {
      std::string("\x12\x08"
                  "abc",
                  5),                  // values cut short
      std::string("\x08", 1),          // dim without a value
      std::string("\x08\xff\xff", 3),  // unterminated varint
      std::string("\x00\x01", 2),      // field 0
      std::string("\x0b\x14", 2),      // a group ended by another
      std::string("\x0f", 1),          // wire type 7
      std::string("\x21"
                  "1234",
                  5),                                 // fixed64 cut short
      std::string("\x08") + std::string(11, '\xff'),  // varint > 10 bytes
  };
  ExpectRefusedLikeProtobuf<PullResponse, PullResponseView>(bad);
  PullResponseView empty;
  EXPECT_TRUE(empty.Parse(grpc::ByteBuffer()).ok());
  EXPECT_EQ(empty.dim(), 0u);
  EXPECT_EQ(empty.values_bytes(), 0u);
}

// The gradient pieces of `view` laid end to end; none may be empty.
std::string GradientBytes(const PushRequestView& view) {
  std::string out;
  for (absl::string_view p : view.gradient_pieces()) {
    EXPECT_FALSE(p.empty());
    out.append(p.data(), p.size());
  }
  EXPECT_EQ(out.size(), view.gradient_bytes());
  return out;
}

// PushRequestView's fields against protobuf's parse of the same bytes.
void ExpectSameAsProto(PushRequestView& view, const PushRequest& proto) {
  EXPECT_EQ(view.table(), proto.table());
  EXPECT_EQ(view.keys(), proto.keys());
  EXPECT_EQ(GradientBytes(view), proto.gradients());
  EXPECT_EQ(view.client_id(), proto.client_id());
  EXPECT_EQ(view.sequence(), proto.sequence());
  EXPECT_EQ(view.resolved(), proto.resolved());
  EXPECT_EQ(reinterpret_cast<uintptr_t>(view.keys().data()) % 8, 0u);
}

// Any slicing of a good request, including keys and gradients split
// across slices and at odd addresses, reads as protobuf reads it.
TEST(PayloadWireTest, PushViewReadsWhatProtobufReadsForAnySlicing) {
  const std::vector<uint64_t> keys = Keys(300);
  const std::vector<float> grads = Values(300 * 16);
  PushRequest r;
  r.set_table("emb/\xc3\xa9t\xc3\xa9");  // UTF-8
  r.set_keys(PackedKeys(keys));
  r.set_gradients(grads.data(), grads.size() * 4);
  r.set_client_id(~uint64_t{0});
  r.set_sequence(12345);
  r.set_resolved(true);
  const std::string wire = r.SerializeAsString();
  PushRequestView view;  // reused, as the shard's threads reuse theirs
  for (size_t piece : {size_t{1}, size_t{3}, size_t{7}, size_t{64},
                       size_t{1000}, size_t{5001}, wire.size()}) {
    ASSERT_TRUE(view.Parse(Sliced(wire, piece)).ok()) << piece;
    ExpectSameAsProto(view, r);
  }
  view.Clear();
  EXPECT_TRUE(view.keys().empty());
  EXPECT_TRUE(view.gradient_pieces().empty());
}

// The field the shard reads lies in one aligned slice: no copy.
TEST(PayloadWireTest, PushViewReadsGradientsInPlace) {
  const std::vector<uint64_t> keys = Keys(100);
  const std::vector<float> grads = Values(100 * 8);
  WireMessage m = EncodePushRequest("t", keys, grads.size() * 4, 7, 1);
  std::memcpy(m.payload(), grads.data(), grads.size() * 4);
  const char* payload = m.payload();
  const grpc::ByteBuffer message = m.Release();
  PushRequestView view;
  ASSERT_TRUE(view.Parse(message).ok());
  ASSERT_EQ(view.gradient_pieces().size(), 1u);
  EXPECT_EQ(view.gradient_pieces()[0].data(), payload);
  EXPECT_EQ(view.gradient_pieces()[0].size(), grads.size() * 4);
  EXPECT_EQ(view.keys(), PackedKeys(keys));
  EXPECT_EQ(view.client_id(), 7u);
  EXPECT_EQ(view.sequence(), 1u);
}

// Fields in any order, repeated (the last wins), unknown fields of every
// wire type and known fields of another wire type skipped: as protobuf.
TEST(PayloadWireTest, PushViewParsesLikeProtobuf) {
  std::string wire;
  wire += std::string("\x28\x09", 2);                        // sequence 9
  wire += std::string("\x1a\x04", 2) + std::string(4, 'o');  // grads, old
  wire += std::string("\x0a\x03old", 5);                     // table, old
  wire += std::string("\x12\x08", 2) + std::string(8, 'k');  // keys, old
  wire += std::string("\x20\x05", 2);                        // client 5
  wire += std::string("\x30\x96\x01", 3);                    // resolved: 150
  wire += std::string("\x39", 1) + std::string(8, 'f');      // field 7 fixed64
  wire += std::string("\x45", 1) + std::string(4, 'g');      // field 8 fixed32
  wire += std::string("\x4b\x08\x07\x4c", 4);                // group 9
  wire += std::string("\x52\x02zz", 4);                      // field 10 bytes
  wire += std::string("\x08\x03", 2);  // table as a varint: unknown
  wire += std::string("\x21", 1) + std::string(8, 'x');  // client as fixed64
  wire += std::string("\x12\x10", 2) + std::string("0123456789abcdef");
  wire += std::string("\x1a\x08", 2) + std::string("ABCDEFGH");
  wire += std::string(
      "\x0a\x03"
      "emb",
      5);
  wire += std::string("\x20\x06", 2);  // client 6, last wins
  // A 5-byte tag past 32 bits: protobuf keeps it mod 2^32 (here an unknown
  // varint field), found by the fuzzer.
  wire += std::string("\xb8\xb8\xb8\xb8\x38\x01", 6);
  PushRequest proto;
  ASSERT_TRUE(proto.ParseFromString(wire));
  ASSERT_EQ(proto.client_id(), 6u);
  ASSERT_TRUE(proto.resolved());
  for (size_t piece : {size_t{1}, size_t{2}, size_t{5}, wire.size()}) {
    PushRequestView view;
    ASSERT_TRUE(view.Parse(Sliced(wire, piece)).ok()) << piece;
    ExpectSameAsProto(view, proto);
  }
  PushRequestView empty;
  ASSERT_TRUE(empty.Parse(grpc::ByteBuffer()).ok());
  ExpectSameAsProto(empty, PushRequest());
}

TEST(PayloadWireTest, PushViewRejectsWhatProtobufRejects) {
  const std::vector<std::string> bad = {
      std::string("\x1a\x08"
                  "abc",
                  5),                                 // gradients cut short
      std::string("\x12\x09") + std::string(8, 'k'),  // keys cut short
      std::string("\x20", 1),                         // client id, no value
      std::string("\x28\xff\xff", 3),                 // unterminated varint
      std::string("\x00\x01", 2),                     // field 0
      std::string("\x33\x44", 2),  // a group ended by another
      std::string("\x0f", 1),      // wire type 7
      std::string("\x39"
                  "1234",
                  5),                                  // fixed64 cut short
      std::string("\x20") + std::string(11, '\xff'),   // varint > 10 bytes
      std::string("\x0a\x02\xc3\x28", 4),              // table: bad UTF-8
      std::string("\x0a\x03\xed\xa0\x80", 5),          // table: a surrogate
      std::string("\x0a\x02\xc0\x80", 4),              // table: overlong
      std::string("\x0a\x01\xff", 3),                  // table: 0xff
      std::string("\x0a\x01\xff\x0a\x01\x61", 6),      // bad, then good
      std::string("\xa0\x80\x80\x80\x80\x00\x01", 7),  // 6-byte tag
      std::string("\x80\x80\x80\x80\x10\x01", 6),      // tag 0 mod 2^32
  };
  ExpectRefusedLikeProtobuf<PushRequest, PushRequestView>(bad);
}

// --- Dense tensors.

TEST(PayloadWireTest, DensePullResponseIsWhatProtobufWritesAndAligned) {
  for (int64_t step : {int64_t{0}, int64_t{7}, int64_t{-3}}) {
    for (size_t n : {size_t{0}, size_t{1}, size_t{1000}, size_t{300000}}) {
      const std::vector<float> v = Values(n);
      WireMessage m = EncodeDensePullResponse(n * 4, step, n + 5);
      ASSERT_EQ(m.payload_bytes(), n * 4);
      EXPECT_EQ(reinterpret_cast<uintptr_t>(m.payload()) % alignof(float), 0u);
      if (n > 0) std::memcpy(m.payload(), v.data(), n * 4);
      DensePullResponse expected;
      expected.set_values(v.data(), n * 4);
      expected.set_step(step);
      expected.set_size(n + 5);
      EXPECT_EQ(WireBytes(m.Release()), expected.SerializeAsString())
          << "step " << step << " n " << n;
    }
  }
}

TEST(PayloadWireTest, DensePushRequestIsWhatProtobufWrites) {
  for (size_t n : {size_t{0}, size_t{3}, size_t{300000}}) {
    for (int64_t step : {int64_t{0}, int64_t{-1}, int64_t{1} << 40}) {
      const std::vector<float> g = Values(n);
      DensePushFields f;
      f.name = "job-1/w";
      f.step = step;
      f.worker = static_cast<uint32_t>(n % 5);
      f.offset = n / 2;
      f.count = n;
      f.client_id = ~uint64_t{0};
      f.sequence = n + 1;
      WireMessage m = EncodeDensePushRequest(f, n * 4);
      EXPECT_EQ(reinterpret_cast<uintptr_t>(m.payload()) % alignof(float), 0u);
      if (n > 0) std::memcpy(m.payload(), g.data(), n * 4);
      DensePushRequest expected;
      expected.set_name("job-1/w");
      expected.set_gradients(g.data(), n * 4);
      expected.set_step(step);
      expected.set_worker(f.worker);
      expected.set_offset(f.offset);
      expected.set_count(f.count);
      expected.set_client_id(f.client_id);
      expected.set_sequence(f.sequence);
      EXPECT_EQ(WireBytes(m.Release()), expected.SerializeAsString()) << n;
    }
  }
}

// Large dense messages reuse pooled buffers: a message released and dropped
// gives its buffer to the next one of about its size.
TEST(PayloadWireTest, LargeDenseMessagesReuseTheirBuffers) {
  const size_t bytes = size_t{4} << 20;
  const char* first = nullptr;
  {
    WireMessage m = EncodeDensePullResponse(bytes, 1, bytes / 4);
    first = m.payload();
    std::memset(m.payload(), 1, bytes);
    grpc::ByteBuffer released = m.Release();
  }
  WireMessage again = EncodeDensePullResponse(bytes, 1, bytes / 4);
  EXPECT_EQ(again.payload(), first);
  // A much smaller one does not take it.
  WireMessage small = EncodeDensePullResponse(bytes / 4, 1, bytes / 16);
  EXPECT_NE(small.payload(), first);
}

// The view's fields and values against protobuf's parse of `wire`, cut into
// slices of `piece` bytes.
void ExpectDensePullSameAsProto(const std::string& wire, size_t piece) {
  DensePullResponse proto;
  ASSERT_TRUE(proto.ParseFromString(wire));
  DensePullResponseView view;
  ASSERT_TRUE(view.Parse(Sliced(wire, piece)).ok()) << piece;
  EXPECT_EQ(view.step(), proto.step());
  EXPECT_EQ(view.size(), proto.size());
  ASSERT_EQ(view.values_bytes(), proto.values().size());
  std::string values(view.values_bytes(), '\0');
  view.CopyValues(values.data());
  EXPECT_EQ(values, proto.values()) << piece;
}

TEST(PayloadWireTest, DensePullViewReadsWhatProtobufReadsForAnySlicing) {
  const std::vector<float> v = Values(5000);
  DensePullResponse r;
  r.set_values(v.data(), v.size() * 4);
  r.set_step(-9);
  r.set_size(123456789);
  const std::string wire = r.SerializeAsString();
  for (size_t piece :
       {size_t{1}, size_t{3}, size_t{7}, size_t{4096}, wire.size()}) {
    ExpectDensePullSameAsProto(wire, piece);
  }
}

TEST(PayloadWireTest, DensePullViewParsesLikeProtobuf) {
  std::string wire;
  wire += std::string("\x18\x07", 2);                        // size 7
  wire += std::string("\x0a\x04", 2) + std::string(4, 'o');  // values, old
  wire += std::string("\x10\x05", 2);                        // step 5
  wire += std::string("\x21", 1) + std::string(8, 'f');      // field 4 fixed64
  wire += std::string("\x2d", 1) + std::string(4, 'g');      // field 5 fixed32
  wire += std::string("\x33\x08\x07\x3b\x3c\x34", 6);        // nested groups
  wire += std::string("\x12\x02zz", 4);  // step as bytes: unknown
  wire += std::string("\x08\x03", 2);    // values as a varint: unknown
  wire += std::string("\x0a\x08", 2) + std::string("abcdefgh");
  wire += std::string("\x10\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11);
  for (size_t piece : {size_t{1}, size_t{2}, size_t{5}, wire.size()}) {
    ExpectDensePullSameAsProto(wire, piece);
  }
  DensePullResponseView empty;
  ASSERT_TRUE(empty.Parse(grpc::ByteBuffer()).ok());
  EXPECT_EQ(empty.values_bytes(), 0u);
  EXPECT_EQ(empty.step(), 0);
  EXPECT_EQ(empty.size(), 0u);
}

TEST(PayloadWireTest, DensePullViewRejectsWhatProtobufRejects) {
  const std::vector<std::string> bad = {
      std::string("\x0a\x08"
                  "abc",
                  5),                  // values cut short
      std::string("\x10", 1),          // step without a value
      std::string("\x18\xff\xff", 3),  // unterminated varint
      std::string("\x00\x01", 2),      // field 0
      std::string("\x0b\x14", 2),      // a group ended by another
      std::string("\x0f", 1),          // wire type 7
      std::string("\x10") + std::string(11, '\xff'),  // varint > 10 bytes
  };
  ExpectRefusedLikeProtobuf<DensePullResponse, DensePullResponseView>(bad);
}

// DensePushRequestView's fields and gradients (read in blocks of `block`
// floats) against protobuf's parse of the same bytes.
void ExpectSameAsProto(const DensePushRequestView& view,
                       const DensePushRequest& proto, size_t block) {
  EXPECT_EQ(view.name(), proto.name());
  EXPECT_EQ(view.step(), proto.step());
  EXPECT_EQ(view.worker(), proto.worker());
  EXPECT_EQ(view.offset(), proto.offset());
  EXPECT_EQ(view.count(), proto.count());
  EXPECT_EQ(view.client_id(), proto.client_id());
  EXPECT_EQ(view.sequence(), proto.sequence());
  ASSERT_EQ(view.gradient_bytes(), proto.gradients().size());
  const size_t n = view.gradient_bytes() / 4;
  std::string read;
  std::vector<float> buffer(block);
  for (size_t first = 0; first < n; first += block) {
    const size_t m = std::min(block, n - first);
    const float* p = view.Floats(first, m, buffer.data());
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % alignof(float), 0u);
    read.append(reinterpret_cast<const char*>(p), m * 4);
  }
  EXPECT_EQ(read, proto.gradients().substr(0, n * 4)) << "block " << block;
}

TEST(PayloadWireTest, DensePushViewReadsWhatProtobufReadsForAnySlicing) {
  const std::vector<float> g = Values(5000);
  DensePushRequest r;
  r.set_name("job-3/\xc3\xa9t\xc3\xa9");  // UTF-8
  r.set_gradients(g.data(), g.size() * 4);
  r.set_step(-2);
  r.set_worker(3);
  r.set_offset(1000);
  r.set_count(5000);
  r.set_client_id(~uint64_t{0});
  r.set_sequence(77);
  const std::string wire = r.SerializeAsString();
  DensePushRequestView view;  // reused, as the shard's threads reuse theirs
  for (size_t piece : {size_t{1}, size_t{3}, size_t{7}, size_t{64},
                       size_t{1000}, size_t{5001}, wire.size()}) {
    ASSERT_TRUE(view.Parse(Sliced(wire, piece)).ok()) << piece;
    for (size_t block : {size_t{1}, size_t{5}, size_t{4096}, size_t{5000}}) {
      ExpectSameAsProto(view, r, block);
    }
  }
  view.Clear();
}

// Gradients that lie in one slice at an aligned address are read in place.
TEST(PayloadWireTest, DensePushViewReadsGradientsInPlace) {
  const std::vector<float> g = Values(800);
  DensePushFields f;
  f.name = "t";
  f.client_id = 7;
  WireMessage m = EncodeDensePushRequest(f, g.size() * 4);
  std::memcpy(m.payload(), g.data(), g.size() * 4);
  const char* payload = m.payload();
  const grpc::ByteBuffer message = m.Release();
  DensePushRequestView view;
  ASSERT_TRUE(view.Parse(message).ok());
  std::vector<float> buffer(800);
  EXPECT_EQ(reinterpret_cast<const char*>(view.Floats(0, 800, buffer.data())),
            payload);
  EXPECT_EQ(reinterpret_cast<const char*>(view.Floats(10, 5, buffer.data())),
            payload + 40);
  EXPECT_EQ(view.client_id(), 7u);
}

// Fields in any order, repeated (the last wins), unknown fields of every
// wire type and known fields of another wire type skipped: as protobuf.
TEST(PayloadWireTest, DensePushViewParsesLikeProtobuf) {
  std::string wire;
  wire += std::string("\x40\x09", 2);                        // sequence 9
  wire += std::string("\x12\x04", 2) + std::string(4, 'o');  // grads, old
  wire += std::string("\x0a\x03old", 5);                     // name, old
  wire += std::string("\x38\x05", 2);                        // client 5
  wire += std::string("\x18\x7f", 2);                        // step 127
  wire += std::string("\x20\x80\x80\x80\x80\x10", 6);        // worker 2^32: 0
  wire += std::string("\x28\x0c", 2);                        // offset 12
  wire += std::string("\x30\x02", 2);                        // count 2
  wire += std::string("\x49", 1) + std::string(8, 'f');      // field 9 fixed64
  wire += std::string("\x55", 1) + std::string(4, 'g');      // field 10 fixed32
  wire += std::string("\x5b\x08\x07\x5c", 4);                // group 11
  wire += std::string("\x62\x02zz", 4);                      // field 12 bytes
  wire += std::string("\x08\x03", 2);   // name as a varint: unknown
  wire += std::string("\x1a\x01z", 3);  // step as bytes: unknown
  wire += std::string("\x12\x08", 2) + std::string("ABCDEFGH");
  wire += std::string(
      "\x0a\x03"
      "emb",
      5);
  wire += std::string("\x38\x06", 2);  // client 6, last wins
  wire += std::string("\x18\xfe\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11);
  DensePushRequest proto;
  ASSERT_TRUE(proto.ParseFromString(wire));
  ASSERT_EQ(proto.client_id(), 6u);
  ASSERT_EQ(proto.step(), -2);
  ASSERT_EQ(proto.worker(), 0u);
  for (size_t piece : {size_t{1}, size_t{2}, size_t{5}, wire.size()}) {
    DensePushRequestView view;
    ASSERT_TRUE(view.Parse(Sliced(wire, piece)).ok()) << piece;
    ExpectSameAsProto(view, proto, 1);
    ExpectSameAsProto(view, proto, 2);
  }
  DensePushRequestView empty;
  ASSERT_TRUE(empty.Parse(grpc::ByteBuffer()).ok());
  ExpectSameAsProto(empty, DensePushRequest(), 1);
}

TEST(PayloadWireTest, DensePushViewRejectsWhatProtobufRejects) {
  const std::vector<std::string> bad = {
      std::string("\x12\x08"
                  "abc",
                  5),                                 // gradients cut short
      std::string("\x0a\x09") + std::string(8, 'n'),  // name cut short
      std::string("\x18", 1),                         // step, no value
      std::string("\x20\xff\xff", 3),                 // unterminated varint
      std::string("\x00\x01", 2),                     // field 0
      std::string("\x33\x44", 2),  // a group ended by another
      std::string("\x0f", 1),      // wire type 7
      std::string("\x49"
                  "1234",
                  5),                                 // fixed64 cut short
      std::string("\x38") + std::string(11, '\xff'),  // varint > 10 bytes
      std::string("\x0a\x02\xc3\x28", 4),             // name: bad UTF-8
      std::string("\x0a\x03\xed\xa0\x80", 5),         // name: a surrogate
      std::string("\x0a\x02\xc0\x80", 4),             // name: overlong
      std::string("\x0a\x01\xff", 3),                 // name: 0xff
      std::string("\x0a\x01\xff\x0a\x01\x61", 6),     // bad, then good
  };
  ExpectRefusedLikeProtobuf<DensePushRequest, DensePushRequestView>(bad);
}

}  // namespace
}  // namespace strata
