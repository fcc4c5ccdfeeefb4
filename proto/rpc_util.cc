#include "proto/rpc_util.h"

#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace strata {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "packed payloads assume a little-endian host");

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      std::string(status.message()));
}

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      status.error_message());
}

void PackU64(absl::Span<const uint64_t> values, std::string* out) {
  out->append(reinterpret_cast<const char*>(values.data()),
              values.size() * sizeof(uint64_t));
}

void PackF32(absl::Span<const float> values, std::string* out) {
  out->append(reinterpret_cast<const char*>(values.data()),
              values.size() * sizeof(float));
}

std::string PackU64(absl::Span<const uint64_t> values) {
  std::string out;
  PackU64(values, &out);
  return out;
}

std::string PackF32(absl::Span<const float> values) {
  std::string out;
  PackF32(values, &out);
  return out;
}

namespace {
absl::StatusOr<size_t> PackedCount(size_t bytes, size_t elem,
                                   absl::string_view what) {
  if (bytes % elem != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": ", bytes, " bytes is not a multiple of ", elem,
                     " (packed ", elem == 8 ? "uint64" : "float32",
                     " array expected)"));
  }
  return bytes / elem;
}
}  // namespace

absl::StatusOr<size_t> PackedU64Count(absl::string_view bytes,
                                      absl::string_view what) {
  return PackedCount(bytes.size(), sizeof(uint64_t), what);
}

absl::StatusOr<size_t> PackedF32Count(absl::string_view bytes,
                                      absl::string_view what) {
  return PackedCount(bytes.size(), sizeof(float), what);
}

absl::StatusOr<size_t> PackedF32CountOfSize(size_t bytes,
                                            absl::string_view what) {
  return PackedCount(bytes, sizeof(float), what);
}

void UnpackU64(absl::string_view bytes, std::vector<uint64_t>* out) {
  out->resize(bytes.size() / sizeof(uint64_t));
  if (!out->empty()) std::memcpy(out->data(), bytes.data(), out->size() * 8);
}

void UnpackF32(absl::string_view bytes, std::vector<float>* out) {
  out->resize(bytes.size() / sizeof(float));
  if (!out->empty()) std::memcpy(out->data(), bytes.data(), out->size() * 4);
}

absl::Status CheckFinite(absl::Span<const float> values,
                         absl::string_view what) {
  for (size_t i = 0; i < values.size(); ++i) {
    if (!std::isfinite(values[i])) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " contains a non-finite value (", values[i],
                       ") at element ", i));
    }
  }
  return absl::OkStatus();
}

grpc::ChannelArguments DefaultChannelArguments(int max_message_bytes) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(max_message_bytes);
  args.SetMaxSendMessageSize(max_message_bytes);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 10000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  // Each Strata channel is its own connection, so clients that open several
  // channels to one shard (benchmarks, parallel pulls) get several sockets.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return args;
}

}  // namespace strata
