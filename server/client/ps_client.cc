#include "server/client/ps_client.h"

#include <sys/random.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <utility>

#include "absl/container/fixed_array.h"
#include "absl/random/random.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/grpcpp.h"
#include "proto/base/cpu_dispatch.h"
#include "proto/base/status_macros.h"
#include "proto/rpc_util.h"
#include "server/client/internal/key_dedup.h"
#include "server/client/internal/shard_group.h"
#include "server/ps/payload_wire.h"

namespace strata {

using internal::ShardStubs;

// A batch of keys after de-duplication and routing. `shard_keys[s]` holds
// the distinct keys owned by shard s; key i of the request is row
// `slot[i].second` of shard `slot[i].first`'s list. For a batch without
// duplicates, `shard_index[s][p]` is the batch index of shard s's key p
// (what a push gathers its gradient rows by).
struct PsClient::RoutedBatch {
  std::vector<std::vector<uint64_t>> shard_keys;
  std::vector<std::pair<uint32_t, uint32_t>> slot;
  std::vector<std::vector<uint32_t>> shard_index;
};

namespace {

// Routes a batch of distinct keys (PsClient::RoutedBatch, cleared and
// sized by the caller): each key's shard, slot and, if `with_index`, batch
// index (`base` + i for keys[i]). A template so that the default router's
// ShardForKey inlines.
// Two passes: each key's shard and place in that shard's list, then the
// lists filled through raw pointers (a push_back per key and list cost a
// quarter more, docs/benchmarks.md "Seventh step").
template <typename Router, typename Batch>
void RouteDistinct(const Router& router, absl::Span<const uint64_t> keys,
                   bool with_index, uint32_t base, Batch* batch) {
  const uint32_t n = router.num_shards();
  absl::FixedArray<uint32_t, 64> count(n, 0);
  for (size_t i = 0; i < keys.size(); ++i) {
    const uint32_t s = router.ShardForKey(keys[i]);
    batch->slot[i] = {s, count[s]++};
  }
  absl::FixedArray<uint64_t*, 64> key_out(n);
  absl::FixedArray<uint32_t*, 64> index_out(n, nullptr);
  for (uint32_t s = 0; s < n; ++s) {
    batch->shard_keys[s].resize(count[s]);
    key_out[s] = batch->shard_keys[s].data();
    if (with_index) {
      batch->shard_index[s].resize(count[s]);
      index_out[s] = batch->shard_index[s].data();
    }
  }
  for (size_t i = 0; i < keys.size(); ++i) {
    const auto [s, place] = batch->slot[i];
    key_out[s][place] = keys[i];
    if (with_index) index_out[s][place] = base + static_cast<uint32_t>(i);
  }
}

// One RPC of a fan-out: a contiguous range of one shard's key list.
struct Chunk {
  uint32_t shard = 0;
  size_t begin = 0;
  size_t count = 0;
};

std::vector<Chunk> MakeChunks(const std::vector<std::vector<uint64_t>>& keys,
                              size_t max_keys) {
  std::vector<Chunk> chunks;
  for (uint32_t s = 0; s < keys.size(); ++s) {
    for (size_t b = 0; b < keys[s].size(); b += max_keys) {
      chunks.push_back({s, b, std::min(max_keys, keys[s].size() - b)});
    }
  }
  return chunks;
}

// Full names of the sparse data-plane methods, as the generated stubs name
// them.
const std::string& PullMethod() {
  static const std::string* const name = new std::string(
      absl::StrCat("/", EmbeddingService::service_full_name(), "/Pull"));
  return *name;
}
const std::string& PushMethod() {
  static const std::string* const name = new std::string(
      absl::StrCat("/", EmbeddingService::service_full_name(), "/Push"));
  return *name;
}

// Full names of the dense data-plane methods, as the generated stubs name
// them.
const std::string& DensePullMethod() {
  static const std::string* const name = new std::string(
      absl::StrCat("/", DenseService::service_full_name(), "/Pull"));
  return *name;
}
const std::string& DensePushMethod() {
  static const std::string* const name = new std::string(
      absl::StrCat("/", DenseService::service_full_name(), "/Push"));
  return *name;
}

// Floats one dense request or response carries: the message's payload
// share, as for sparse batches.
uint64_t DenseFloatsPerMessage(const PsClientOptions& options) {
  return std::max<uint64_t>(
      1, MaxPayloadBytes(options.max_message_bytes) / sizeof(float));
}

// Keys per request at `dim`: at most max_keys_per_request, and few enough
// that a push request (8 bytes of key and dim floats a key) and a pull
// response fit the message limit.
size_t KeysPerRequest(const PsClientOptions& options, uint32_t dim) {
  const size_t fit = MaxPayloadBytes(options.max_message_bytes) /
                     (sizeof(uint64_t) + dim * sizeof(float));
  return std::max<size_t>(1, std::min(options.max_keys_per_request, fit));
}

// Keys per request of a push of distinct keys: the batch's largest share
// split into options.push_pieces pieces of at least
// options.min_push_piece_keys keys, within KeysPerRequest.
size_t PushPieceKeys(const PsClientOptions& options,
                     const std::vector<std::vector<uint64_t>>& shard_keys,
                     uint32_t dim) {
  const size_t most = KeysPerRequest(options, dim);
  if (options.push_pieces <= 1) return most;
  size_t largest = 0;
  for (const auto& k : shard_keys) largest = std::max(largest, k.size());
  const size_t piece = std::max<size_t>(
      options.min_push_piece_keys,
      (largest + options.push_pieces - 1) / options.push_pieces);
  return std::min(most, piece);
}

// Parts a push of `keys` distinct keys over `shards` shards goes out in
// (PushInPieces): options.push_pieces, fewer when a shard's share of a
// part would fall under options.min_push_piece_keys, more when a part
// would not fit one request (all its keys may go to one shard).
size_t PushPieces(const PsClientOptions& options, size_t keys, uint32_t shards,
                  uint32_t dim) {
  size_t pieces = std::min<size_t>(
      options.push_pieces,
      keys / (std::max<size_t>(1, options.min_push_piece_keys) * shards));
  const size_t most = KeysPerRequest(options, dim);
  return std::max({pieces, size_t{1}, (keys + most - 1) / most});
}

// A random client id for request ids: getrandom, or absl's generator
// (itself seeded from the OS) where that fails; never 0 (no id).
uint64_t NewClientId() {
  uint64_t id = 0;
  while (id == 0) {
    if (getrandom(&id, sizeof(id), 0) != static_cast<ssize_t>(sizeof(id))) {
      id = absl::Uniform<uint64_t>(absl::BitGen());
    }
  }
  return id;
}

PsAdminClientOptions AdminOptions(const PsClientOptions& options) {
  PsAdminClientOptions admin;
  static_cast<ShardRpcOptions&>(admin) = options;
  return admin;
}

// A shard's refusal of an unresolved pull or push of a cluster-wide table
// (CompressedTable::CheckUnresolved).
bool NeedsResolve(const absl::Status& s) {
  return s.code() == absl::StatusCode::kFailedPrecondition &&
         absl::StrContains(s.message(), "resolve keys first");
}

}  // namespace

// All requests in flight at once; stops at the first error that is not
// retried (internal::Retryable; the call fails as a whole).
template <typename Req, typename Resp, typename Prepare>
absl::Status PsClient::FanOut(const std::string& what,
                              const std::vector<uint32_t>& shard_of,
                              const std::vector<Req>& reqs,
                              std::vector<Resp>* resps, Prepare prepare,
                              absl::Duration timeout) const {
  const internal::FanOutCall call = internal::FanOutCall::With(
      options_, what, timeout, /*stop_at_first_error=*/true);
  return internal::FanOut(*shards_, call, shard_of, reqs, resps, prepare);
}

absl::StatusOr<std::unique_ptr<PsClient>> PsClient::Connect(
    std::vector<std::string> addresses, PsClientOptions options,
    std::unique_ptr<ShardRouter> router) {
  if (options.max_keys_per_request == 0) {
    return absl::InvalidArgumentError("max_keys_per_request must be > 0");
  }
  STRATA_ASSIGN_OR_RETURN(
      std::shared_ptr<const internal::ShardGroup> shards,
      internal::ShardGroup::Connect(addresses, options, std::move(router)));
  return std::unique_ptr<PsClient>(new PsClient(std::move(shards), options));
}

PsClient::PsClient(std::shared_ptr<const internal::ShardGroup> shards,
                   PsClientOptions options)
    : options_(options),
      shards_(std::move(shards)),
      router_(&shards_->router()),
      admin_(std::make_unique<PsAdminClient>(shards_, AdminOptions(options))),
      client_id_(NewClientId()),
      sequences_(new std::atomic<uint64_t>[shards_->size()]()) {}

uint64_t PsClient::NextSequence(uint32_t shard) const {
  return sequences_[shard].fetch_add(1, std::memory_order_relaxed) + 1;
}

PsClient::~PsClient() = default;

bool PsClient::KnownDistinct(absl::Span<const uint64_t> keys) const {
  // Strictly increasing keys (ps-lite's required input format, and what a
  // sorted-unique batch looks like) have no duplicates: no hash pass.
  return !options_.dedup || std::adjacent_find(keys.begin(), keys.end(),
                                               [](uint64_t a, uint64_t b) {
                                                 return a >= b;
                                               }) == keys.end();
}

namespace {

// Empties `batch`'s lists (keeping their capacity) for `n` shards and
// `keys` keys.
template <typename Batch>
void ClearRoutedBatch(uint32_t n, size_t keys, bool with_index, Batch* batch) {
  batch->shard_keys.resize(n);
  for (auto& v : batch->shard_keys) v.clear();  // keeps capacity
  batch->slot.resize(keys);
  if (with_index) {
    batch->shard_index.resize(n);
    for (auto& v : batch->shard_index) v.clear();
  }
}

// RouteDistinct with the default router inlined (HashRouter is final), not
// a virtual call per key.
template <typename Batch>
void RouteDistinctWith(const ShardRouter& router,
                       absl::Span<const uint64_t> keys, bool with_index,
                       uint32_t base, Batch* batch) {
  if (const auto* hash_router = dynamic_cast<const HashRouter*>(&router)) {
    RouteDistinct(*hash_router, keys, with_index, base, batch);
  } else {
    RouteDistinct(router, keys, with_index, base, batch);
  }
}

}  // namespace

void PsClient::RouteDistinctKeys(absl::Span<const uint64_t> keys, uint32_t base,
                                 RoutedBatch* batch) const {
  ClearRoutedBatch(num_shards(), keys.size(), /*with_index=*/true, batch);
  RouteDistinctWith(*router_, keys, /*with_index=*/true, base, batch);
}

bool PsClient::Route(absl::Span<const uint64_t> keys, RoutedBatch* batch,
                     bool with_index) const {
  const uint32_t n = num_shards();
  ClearRoutedBatch(n, keys.size(), with_index, batch);
  if (KnownDistinct(keys)) {
    RouteDistinctWith(*router_, keys, with_index, 0, batch);
    return true;
  }
  thread_local internal::KeyDedup dedup;
  thread_local std::vector<std::pair<uint32_t, uint32_t>> unique_slot;
  dedup.Reset(keys.size());
  unique_slot.resize(keys.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    bool inserted = false;
    const uint32_t u = dedup.Insert(keys[i], &inserted);
    if (inserted) {
      const uint32_t s = router_->ShardForKey(keys[i]);
      unique_slot[u] = {s, static_cast<uint32_t>(batch->shard_keys[s].size())};
      batch->shard_keys[s].push_back(keys[i]);
    }
    batch->slot[i] = unique_slot[u];
  }
  if (dedup.size() != keys.size()) return false;
  if (!with_index) return true;
  // Distinct after all (an unsorted batch): each shard key's batch index.
  for (uint32_t s = 0; s < n; ++s) {
    batch->shard_index[s].resize(batch->shard_keys[s].size());
  }
  for (size_t i = 0; i < keys.size(); ++i) {
    batch->shard_index[batch->slot[i].first][batch->slot[i].second] =
        static_cast<uint32_t>(i);
  }
  return true;
}

namespace {

// Sends the push requests reqs[c] (made by produce(c), FanOutProduced) to
// shards shard_of[c] and waits for their answers.
template <typename Produce>
absl::Status SendPushes(const internal::ShardGroup& shards,
                        const PsClientOptions& options,
                        const std::string& table,
                        const std::vector<uint32_t>& shard_of,
                        const std::vector<grpc::ByteBuffer>& reqs,
                        Produce produce) {
  thread_local std::vector<PushResponse> resps;
  return internal::FanOutProduced(
      shards,
      internal::FanOutCall::With(options, "Push(" + table + ")",
                                 options.rpc_timeout,
                                 /*stop_at_first_error=*/true),
      shard_of, reqs, &resps,
      [](const ShardStubs& sh, grpc::ClientContext* ctx,
         const grpc::ByteBuffer& r, grpc::CompletionQueue* cq) {
        return sh.push_wire->PrepareUnaryCall(ctx, PushMethod(), r, cq);
      },
      produce);
}

// Copies rows of `row_bytes`, a multiple of `kMove`, at batch indices
// `index` from `src` to `out`, one after another, in kMove-byte moves
// inline: a libc memcpy call per row of 64 bytes cost as much as the copy
// (docs/benchmarks.md, issue 16).
template <size_t kMove>
inline void CopyRowsInMoves(absl::Span<const uint32_t> index, const char* src,
                            size_t row_bytes, char* out) {
  for (size_t p = 0; p < index.size(); ++p) {
    const char* from = src + size_t{index[p]} * row_bytes;
    char* to = out + p * row_bytes;
    for (size_t b = 0; b < row_bytes; b += kMove) {
      __builtin_memcpy(to + b, from + b, kMove);
    }
  }
}

// Copies the gradient rows of batch indices `index` (rows of `dim`) to
// `out`, one after another: in 32-byte moves (one AVX2 move in the clone
// for AVX2, proto/base/cpu_dispatch.h) or 16-byte ones where the row size
// allows, else a memcpy per row.
STRATA_CLONE_FOR_AVX2 void CopyGradientRows(absl::Span<const uint32_t> index,
                                            const float* grads, uint32_t dim,
                                            char* out) {
  const size_t row_bytes = dim * sizeof(float);
  const char* const src = reinterpret_cast<const char*>(grads);
  if (row_bytes % 32 == 0) {
    CopyRowsInMoves<32>(index, src, row_bytes, out);
  } else if (row_bytes % 16 == 0) {
    CopyRowsInMoves<16>(index, src, row_bytes, out);
  } else {
    for (size_t p = 0; p < index.size(); ++p) {
      std::memcpy(out + p * row_bytes, src + size_t{index[p]} * row_bytes,
                  row_bytes);
    }
  }
}

// Sums the gradient rows of a batch with duplicate keys (key i is at
// position slot[i].second of shard slot[i].first's key list) into the
// payloads of its push requests, zeroed first (messages[c] is chunks[c]'s;
// a shard's chunks are consecutive ranges of its list, in order).
void SumDuplicateGradients(absl::Span<const std::pair<uint32_t, uint32_t>> slot,
                           const std::vector<Chunk>& chunks, const float* grads,
                           uint32_t dim, uint32_t num_shards,
                           std::vector<WireMessage>* messages) {
  const size_t row_bytes = dim * sizeof(float);
  // Row pointers per shard, by position in the shard's key list.
  thread_local std::vector<std::vector<float*>> rows;
  rows.resize(num_shards);
  for (auto& r : rows) r.clear();
  for (size_t c = 0; c < chunks.size(); ++c) {
    char* payload = (*messages)[c].payload();
    std::memset(payload, 0, chunks[c].count * row_bytes);
    for (size_t k = 0; k < chunks[c].count; ++k) {
      rows[chunks[c].shard].push_back(
          reinterpret_cast<float*>(payload + k * row_bytes));
    }
  }
  for (size_t i = 0; i < slot.size(); ++i) {
    float* dst = rows[slot[i].first][slot[i].second];
    const float* src = grads + i * dim;
    for (uint32_t d = 0; d < dim; ++d) dst[d] += src[d];
  }
}

}  // namespace

absl::Status PsClient::Pull(const std::string& table,
                            absl::Span<const uint64_t> keys, uint32_t dim,
                            float* out, const PullOptions& opts) {
  if (keys.empty()) return absl::InvalidArgumentError("Pull: empty batch");
  if (dim == 0) return absl::InvalidArgumentError("Pull: dim must be > 0");
  if (ModeOf(table).cluster_wide) {
    return PullClusterWide(table, keys, dim, out, opts);
  }
  const absl::Status s = PullRouted(table, keys, dim, out, opts, false);
  if (!NeedsResolve(s)) return s;
  STRATA_ASSIGN_OR_RETURN(const TableMode mode, RefreshMode(table));
  if (!mode.cluster_wide) return s;
  return PullClusterWide(table, keys, dim, out, opts);
}

absl::Status PsClient::Push(const std::string& table,
                            absl::Span<const uint64_t> keys,
                            absl::Span<const float> grads, uint32_t dim) {
  if (keys.empty()) return absl::InvalidArgumentError("Push: empty batch");
  if (dim == 0) return absl::InvalidArgumentError("Push: dim must be > 0");
  if (grads.size() != keys.size() * dim) {
    return absl::InvalidArgumentError(
        absl::StrCat("Push(", table, "): ", grads.size(),
                     " gradient values for ", keys.size(), " keys of dim ", dim,
                     " (expected ", keys.size() * dim, ")"));
  }
  TableMode mode = ModeOf(table);
  if (mode.cluster_wide) return PushClusterWide(table, mode, keys, grads, dim);
  const absl::Status s = PushRouted(table, keys, grads, dim, false);
  if (!NeedsResolve(s)) return s;
  // Every shard of a cluster-wide table refuses the unresolved push, so
  // nothing was applied.
  STRATA_ASSIGN_OR_RETURN(mode, RefreshMode(table));
  if (!mode.cluster_wide) return s;
  return PushClusterWide(table, mode, keys, grads, dim);
}

// Requests and responses travel as grpc::ByteBuffers encoded and decoded
// in place (server/ps/payload_wire.h): the rows are copied once, from the
// received slices to `out`.
absl::Status PsClient::PullRouted(const std::string& table,
                                  absl::Span<const uint64_t> keys, uint32_t dim,
                                  float* out, const PullOptions& opts,
                                  bool resolved) {
  thread_local RoutedBatch batch;  // reused: no allocation in steady state
  Route(keys, &batch, /*with_index=*/false);
  const std::vector<Chunk> chunks =
      MakeChunks(batch.shard_keys, KeysPerRequest(options_, dim));
  std::vector<uint32_t> shard_of;
  std::vector<grpc::ByteBuffer> reqs(chunks.size());
  thread_local std::vector<grpc::ByteBuffer> resps;
  for (size_t c = 0; c < chunks.size(); ++c) {
    const Chunk& ch = chunks[c];
    shard_of.push_back(ch.shard);
    reqs[c] = EncodePullRequest(table,
                                absl::MakeConstSpan(batch.shard_keys[ch.shard])
                                    .subspan(ch.begin, ch.count),
                                opts.count_frequency, opts.read_only, resolved);
  }
  STRATA_RETURN_IF_ERROR(FanOut(
      "Pull(" + table + ")", shard_of, reqs, &resps,
      [](const ShardStubs& sh, grpc::ClientContext* ctx,
         const grpc::ByteBuffer& r, grpc::CompletionQueue* cq) {
        return sh.pull_wire->PrepareUnaryCall(ctx, PullMethod(), r, cq);
      },
      options_.rpc_timeout));
  // Row pointers per shard, indexed by position in the shard's key list
  // (a shard's chunks are consecutive ranges of it, in order).
  thread_local std::vector<PullResponseView> views;
  thread_local std::vector<std::vector<const char*>> rows;
  views.resize(chunks.size());
  rows.resize(num_shards());
  for (auto& r : rows) r.clear();
  const size_t row_bytes = dim * sizeof(float);
  for (size_t c = 0; c < chunks.size(); ++c) {
    const Chunk& ch = chunks[c];
    STRATA_RETURN_IF_ERROR(views[c].Parse(resps[c]));
    if (views[c].dim() != dim ||
        views[c].values_bytes() != ch.count * row_bytes) {
      return absl::FailedPreconditionError(
          absl::StrCat("Pull(", table, "): shard ", ch.shard, " returned dim ",
                       views[c].dim(), " and ", views[c].values_bytes(),
                       " bytes; expected dim ", dim, " and ",
                       ch.count * row_bytes, " bytes"));
    }
    views[c].Rows(row_bytes, &rows[ch.shard]);
  }
  for (size_t i = 0; i < keys.size(); ++i) {
    const auto [sh, pos] = batch.slot[i];
    std::memcpy(out + i * dim, rows[sh][pos], row_bytes);
  }
  return absl::OkStatus();
}

absl::Status PsClient::PushInPieces(const std::string& table,
                                    absl::Span<const uint64_t> keys,
                                    absl::Span<const float> grads, uint32_t dim,
                                    bool resolved, size_t pieces) {
  const uint32_t n = num_shards();
  const size_t per_piece = (keys.size() + pieces - 1) / pieces;
  // Request c carries piece c / n's keys of shard c % n (none: not sent).
  std::vector<uint32_t> shard_of(pieces * n);
  for (size_t c = 0; c < shard_of.size(); ++c) shard_of[c] = c % n;
  std::vector<grpc::ByteBuffer> reqs(shard_of.size());
  thread_local RoutedBatch batch;  // one piece's
  const auto produce = [&](size_t c) {
    const uint32_t shard = shard_of[c];
    if (shard == 0) {
      const size_t begin = std::min(keys.size(), c / n * per_piece);
      RouteDistinctKeys(keys.subspan(begin, per_piece),
                        static_cast<uint32_t>(begin), &batch);
    }
    const std::vector<uint64_t>& shard_keys = batch.shard_keys[shard];
    if (shard_keys.empty()) return false;
    WireMessage m = EncodePushRequest(
        table, shard_keys, shard_keys.size() * dim * sizeof(float), client_id_,
        NextSequence(shard), resolved);
    CopyGradientRows(batch.shard_index[shard], grads.data(), dim, m.payload());
    reqs[c] = m.Release();
    return true;
  };
  return SendPushes(*shards_, options_, table, shard_of, reqs, produce);
}

absl::Status PsClient::PushRouted(const std::string& table,
                                  absl::Span<const uint64_t> keys,
                                  absl::Span<const float> grads, uint32_t dim,
                                  bool resolved) {
  if (options_.push_pieces > 1) {
    // The piece count first: a small batch is not scanned for order twice
    // (Route scans it again).
    const size_t pieces = PushPieces(options_, keys.size(), num_shards(), dim);
    if (pieces > 1 && KnownDistinct(keys)) {
      return PushInPieces(table, keys, grads, dim, resolved, pieces);
    }
  }
  thread_local RoutedBatch batch;
  const bool unique = Route(keys, &batch, /*with_index=*/true);
  const size_t row_bytes = dim * sizeof(float);
  // Distinct keys (found so by de-duplication: not in order) go out in
  // pieces of each shard's list, each sent as soon as it is gathered;
  // duplicates are summed into whole requests first (a key's rows may lie
  // anywhere in the batch).
  std::vector<Chunk> chunks = MakeChunks(
      batch.shard_keys, unique ? PushPieceKeys(options_, batch.shard_keys, dim)
                               : KeysPerRequest(options_, dim));
  // Piece j of every shard before piece j + 1 of any: every shard has its
  // first piece to apply while the rest are gathered.
  std::stable_sort(
      chunks.begin(), chunks.end(),
      [](const Chunk& a, const Chunk& b) { return a.begin < b.begin; });
  std::vector<uint32_t> shard_of;
  std::vector<WireMessage> messages;
  messages.reserve(chunks.size());
  for (const Chunk& ch : chunks) {
    shard_of.push_back(ch.shard);
    messages.push_back(EncodePushRequest(
        table,
        absl::MakeConstSpan(batch.shard_keys[ch.shard])
            .subspan(ch.begin, ch.count),
        ch.count * row_bytes, client_id_, NextSequence(ch.shard), resolved));
  }
  if (!unique) {
    SumDuplicateGradients(batch.slot, chunks, grads.data(), dim, num_shards(),
                          &messages);
  }
  std::vector<grpc::ByteBuffer> reqs(chunks.size());
  const auto produce = [&](size_t c) {
    if (unique) {
      const Chunk& ch = chunks[c];
      CopyGradientRows(absl::MakeConstSpan(batch.shard_index[ch.shard])
                           .subspan(ch.begin, ch.count),
                       grads.data(), dim, messages[c].payload());
    }
    reqs[c] = messages[c].Release();
    return true;
  };
  return SendPushes(*shards_, options_, table, shard_of, reqs, produce);
}

PsClient::TableMode PsClient::ModeOf(const std::string& table) const {
  absl::ReaderMutexLock lock(&modes_mu_);  // shared: every pull and push
  const auto it = modes_.find(table);
  return it == modes_.end() ? TableMode{} : it->second;
}

absl::StatusOr<PsClient::TableMode> PsClient::RefreshMode(
    const std::string& table) const {
  const PerShard<ListTablesResponse> lists = admin_->ListTables();
  STRATA_RETURN_IF_ERROR(OkOnSomeShard(lists));
  TableMode mode;
  for (const auto& r : lists) {
    if (!r.ok()) continue;
    for (const TableInfo& t : r.response->tables()) {
      if (t.name() != table) continue;
      mode.cluster_wide = t.cluster_wide();
      mode.cluster_gradient = t.cluster_gradient();
    }
    break;
  }
  absl::MutexLock lock(&modes_mu_);
  modes_[table] = mode;
  return mode;
}

absl::StatusOr<std::vector<uint64_t>> PsClient::Resolve(
    const std::string& table, absl::Span<const uint64_t> keys) {
  if (keys.empty()) return absl::InvalidArgumentError("Resolve: empty batch");
  RoutedBatch batch;
  Route(keys, &batch, /*with_index=*/false);
  const std::vector<Chunk> chunks =
      MakeChunks(batch.shard_keys, KeysPerRequest(options_, 0));
  std::vector<uint32_t> shard_of;
  std::vector<ResolveRequest> reqs(chunks.size());
  for (size_t c = 0; c < chunks.size(); ++c) {
    const Chunk& ch = chunks[c];
    shard_of.push_back(ch.shard);
    reqs[c].set_table(table);
    reqs[c].set_keys(batch.shard_keys[ch.shard].data() + ch.begin,
                     ch.count * sizeof(uint64_t));
  }
  std::vector<ResolveResponse> resps;
  STRATA_RETURN_IF_ERROR(FanOut(
      "Resolve(" + table + ")", shard_of, reqs, &resps,
      [](const ShardStubs& sh, grpc::ClientContext* ctx,
         const ResolveRequest& r, grpc::CompletionQueue* cq) {
        return sh.embedding->PrepareAsyncResolve(ctx, r, cq);
      },
      options_.rpc_timeout));
  // Resolved keys per shard, by position in the shard's key list.
  std::vector<std::vector<uint64_t>> resolved(num_shards());
  for (size_t c = 0; c < chunks.size(); ++c) {
    const Chunk& ch = chunks[c];
    if (resps[c].keys().size() != ch.count * sizeof(uint64_t)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "Resolve(", table, "): shard ", ch.shard, " returned ",
          resps[c].keys().size(), " bytes for ", ch.count, " keys"));
    }
    std::vector<uint64_t>& r = resolved[ch.shard];
    r.resize(ch.begin + ch.count);
    std::memcpy(r.data() + ch.begin, resps[c].keys().data(),
                resps[c].keys().size());
  }
  std::vector<uint64_t> out(keys.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    const auto [sh, pos] = batch.slot[i];
    out[i] = resolved[sh][pos];
  }
  return out;
}

absl::Status PsClient::PullClusterWide(const std::string& table,
                                       absl::Span<const uint64_t> keys,
                                       uint32_t dim, float* out,
                                       const PullOptions& opts) {
  STRATA_ASSIGN_OR_RETURN(const std::vector<uint64_t> resolved,
                          Resolve(table, keys));
  return PullRouted(table, resolved, dim, out, opts, /*resolved=*/true);
}

absl::Status PsClient::PushClusterWide(const std::string& table, TableMode mode,
                                       absl::Span<const uint64_t> keys,
                                       absl::Span<const float> grads,
                                       uint32_t dim) {
  STRATA_ASSIGN_OR_RETURN(const std::vector<uint64_t> resolved,
                          Resolve(table, keys));
  // One row per resolved key: the gradients summed, with the number of
  // distinct keys that share it (a ClusterKey's cluster) for the mean.
  absl::flat_hash_map<uint64_t, uint32_t> row_of;
  absl::flat_hash_map<uint64_t, bool> seen;  // distinct original keys
  std::vector<uint64_t> unique;
  std::vector<float> rows;
  std::vector<uint32_t> members;
  for (size_t i = 0; i < keys.size(); ++i) {
    const auto [it, fresh] =
        row_of.try_emplace(resolved[i], static_cast<uint32_t>(unique.size()));
    if (fresh) {
      unique.push_back(resolved[i]);
      rows.resize(rows.size() + dim, 0.f);
      members.push_back(0);
    }
    float* dst = rows.data() + size_t{it->second} * dim;
    const float* src = grads.data() + i * dim;
    for (uint32_t d = 0; d < dim; ++d) dst[d] += src[d];
    if (seen.try_emplace(keys[i], true).second) ++members[it->second];
  }
  if (mode.cluster_gradient == CLUSTER_GRADIENT_MEAN) {
    for (size_t r = 0; r < unique.size(); ++r) {
      if (members[r] <= 1) continue;  // overflow rows: one key each
      const float scale = 1.0f / static_cast<float>(members[r]);
      for (uint32_t d = 0; d < dim; ++d) rows[r * dim + d] *= scale;
    }
  }
  return PushRouted(table, unique, rows, dim, /*resolved=*/true);
}

// Dense requests and responses travel as grpc::ByteBuffers too: a pull's
// values are copied once, from the received slices to the caller's vector;
// a push's gradients once, into the request's slice.
absl::Status PsClient::PullDenseRange(const std::string& name, int64_t min_step,
                                      uint64_t offset, uint64_t count,
                                      DensePullResponseView* view) const {
  DensePullRequest r;
  r.set_name(name);
  r.set_min_step(min_step);
  r.set_offset(offset);
  r.set_count(count);
  std::vector<grpc::ByteBuffer> req(1);
  bool own_buffer = false;
  const grpc::Status serialized =
      grpc::SerializationTraits<DensePullRequest>::Serialize(r, &req[0],
                                                             &own_buffer);
  if (!serialized.ok()) return FromGrpcStatus(serialized);
  thread_local std::vector<grpc::ByteBuffer> resps;
  const auto pull = [&](absl::Duration timeout) {
    return FanOut(
        "PullDense(" + name + ")", {router_->ShardForName(name)}, req, &resps,
        [](const ShardStubs& sh, grpc::ClientContext* ctx,
           const grpc::ByteBuffer& r, grpc::CompletionQueue* cq) {
          return sh.pull_wire->PrepareUnaryCall(ctx, DensePullMethod(), r, cq);
        },
        timeout);
  };
  absl::Status s;
  if (!options_.cancelled || min_step <= 0) {
    s = pull(options_.dense_wait_timeout);
  } else {
    // Waits in slices so a cancelled task stops promptly (PsClientOptions).
    const absl::Time give_up = absl::Now() + options_.dense_wait_timeout;
    for (;;) {
      if (options_.cancelled()) {
        return absl::CancelledError(
            absl::StrCat("PullDense(", name,
                         "): cancelled while waiting for step ", min_step));
      }
      const absl::Duration left = give_up - absl::Now();
      s = pull(std::min(left, options_.dense_wait_slice));
      if (s.ok() || s.code() != absl::StatusCode::kDeadlineExceeded ||
          left <= options_.dense_wait_slice) {
        break;
      }
    }
  }
  STRATA_RETURN_IF_ERROR(s);
  s = view->Parse(resps[0]);
  resps[0].Clear();  // the view holds the slices it needs
  return s;
}

absl::StatusOr<int64_t> PsClient::PushDenseRange(const std::string& name,
                                                 absl::Span<const float> grads,
                                                 uint64_t offset,
                                                 uint64_t count, int64_t step,
                                                 uint32_t worker) const {
  const uint32_t shard = router_->ShardForName(name);
  DensePushFields fields;
  fields.name = name;
  fields.step = step;
  fields.worker = worker;
  fields.offset = offset;
  fields.count = count;
  fields.client_id = client_id_;
  fields.sequence = NextSequence(shard);
  WireMessage message =
      EncodeDensePushRequest(fields, grads.size() * sizeof(float));
  if (!grads.empty()) {
    std::memcpy(message.payload(), grads.data(), message.payload_bytes());
  }
  std::vector<grpc::ByteBuffer> req;
  req.push_back(message.Release());
  std::vector<DensePushResponse> resps;
  STRATA_RETURN_IF_ERROR(FanOut(
      "PushDense(" + name + ")", {shard}, req, &resps,
      [](const ShardStubs& sh, grpc::ClientContext* ctx,
         const grpc::ByteBuffer& r, grpc::CompletionQueue* cq) {
        // A stub is a channel and nothing else: made per call.
        return grpc::TemplatedGenericStub<grpc::ByteBuffer, DensePushResponse>(
                   sh.channel)
            .PrepareUnaryCall(ctx, DensePushMethod(), r, cq);
      },
      options_.rpc_timeout));
  return resps[0].step();
}

absl::StatusOr<uint64_t> PsClient::DenseSize(const std::string& name,
                                             int64_t min_step) const {
  DensePullResponseView first;
  STRATA_RETURN_IF_ERROR(PullDenseRange(name, min_step, 0, 1, &first));
  if (first.size() == 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "PullDense(", name,
        "): the shard does not report tensor sizes, so "
        "the tensor cannot be moved in chunks (an older ps_server?)"));
  }
  return first.size();
}

absl::StatusOr<int64_t> PsClient::PullDense(const std::string& name,
                                            int64_t min_step,
                                            std::vector<float>* out) {
  // One message when the tensor fits; chunks when `out` already holds more
  // than one message (the tensor's last pull, in a training loop) or the
  // whole tensor is refused RESOURCE_EXHAUSTED (by the shard, before it
  // waits or allocates, or by gRPC for a reply over this client's limit).
  if (out->size() > DenseFloatsPerMessage(options_)) {
    return PullDenseChunks(name, min_step, out);
  }
  DensePullResponseView whole;
  const absl::Status s = PullDenseRange(name, min_step, 0, 0, &whole);
  if (s.code() == absl::StatusCode::kResourceExhausted) {
    return PullDenseChunks(name, min_step, out);
  }
  STRATA_RETURN_IF_ERROR(s);
  STRATA_ASSIGN_OR_RETURN(
      const size_t n,
      PackedF32CountOfSize(whole.values_bytes(), "dense values"));
  out->resize(n);
  whole.CopyValues(reinterpret_cast<char*>(out->data()));
  return whole.step();
}

absl::StatusOr<int64_t> PsClient::PullDenseChunks(const std::string& name,
                                                  int64_t min_step,
                                                  std::vector<float>* out) {
  STRATA_ASSIGN_OR_RETURN(const uint64_t size, DenseSize(name, min_step));
  const uint64_t per_chunk = DenseFloatsPerMessage(options_);
  out->resize(size);  // written in place: a tensor here is large
  int64_t step = std::numeric_limits<int64_t>::max();
  for (uint64_t offset = 0; offset < size; offset += per_chunk) {
    const uint64_t n = std::min(per_chunk, size - offset);
    DensePullResponseView r;
    STRATA_RETURN_IF_ERROR(PullDenseRange(name, min_step, offset, n, &r));
    if (r.size() != size || r.values_bytes() != n * sizeof(float)) {
      return absl::AbortedError(
          absl::StrCat("PullDense(", name, "): elements [", offset, ", ",
                       offset + n, ") of ", size, " came back as ",
                       r.values_bytes(), " bytes of a tensor of ", r.size(),
                       " (dropped and re-created meanwhile?)"));
    }
    r.CopyValues(reinterpret_cast<char*>(out->data() + offset));
    // ASYNC chunks may be read at different steps: report the oldest.
    step = std::min(step, r.step());
  }
  return step;
}

absl::StatusOr<int64_t> PsClient::PushDense(const std::string& name,
                                            absl::Span<const float> grads,
                                            int64_t step, uint32_t worker) {
  const uint64_t per_chunk = DenseFloatsPerMessage(options_);
  if (grads.size() <= per_chunk) {
    return PushDenseRange(name, grads, 0, 0, step, worker);  // one message
  }
  // Refuse a wrong length before any chunk is applied.
  STRATA_ASSIGN_OR_RETURN(const uint64_t size, DenseSize(name, 0));
  if (grads.size() != size) {
    return absl::InvalidArgumentError(
        absl::StrCat("PushDense(", name, "): ", grads.size(),
                     " gradient floats for a tensor of ", size, " elements"));
  }
  int64_t after = step;
  for (uint64_t offset = 0; offset < size; offset += per_chunk) {
    const uint64_t n = std::min(per_chunk, size - offset);
    STRATA_ASSIGN_OR_RETURN(
        after, PushDenseRange(name, grads.subspan(offset, n), offset, n, step,
                              worker));
  }
  return after;
}

}  // namespace strata
