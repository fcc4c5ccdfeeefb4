#include "server/client/ps_client.h"

#include <algorithm>
#include <cstring>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "glog/logging.h"
#include "grpcpp/grpcpp.h"
#include "proto/rpc_util.h"
#include "server/client/internal/key_dedup.h"

namespace strata {

struct PsClient::Shard {
  std::string address;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<EmbeddingService::Stub> embedding;
  std::unique_ptr<DenseService::Stub> dense;
  std::unique_ptr<AdminService::Stub> admin;
  std::unique_ptr<CompressionService::Stub> compression;
};

// A batch of keys after de-duplication and routing. `shard_keys[s]` holds
// the distinct keys owned by shard s; key i of the request is row
// `slot[i].second` of shard `slot[i].first`'s list.
struct PsClient::RoutedBatch {
  std::vector<std::vector<uint64_t>> shard_keys;
  std::vector<std::pair<uint32_t, uint32_t>> slot;
};

namespace {

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

// Keys per request at `dim`: at most max_keys_per_request, and few enough
// that a push request (8 bytes of key and dim floats a key) and a pull
// response fit the message limit.
size_t KeysPerRequest(const PsClientOptions& options, uint32_t dim) {
  const size_t fit = MaxPayloadBytes(options.max_message_bytes) /
                     (sizeof(uint64_t) + dim * sizeof(float));
  return std::max<size_t>(1, std::min(options.max_keys_per_request, fit));
}

absl::Status Annotate(const absl::Status& s, const std::string& what) {
  if (s.ok()) return s;
  return absl::Status(s.code(), absl::StrCat(what, ": ", s.message()));
}

}  // namespace

// Sends reqs[i] to shard shard_of[i] for every i, all in flight at once on
// one completion queue, and waits for all. Calls that fail with UNAVAILABLE
// are re-sent (only those) with exponential backoff. `prepare` is
// (Shard&, ClientContext*, const Req&, CompletionQueue*) -> unique_ptr<
// ClientAsyncResponseReader<Resp>> (a PrepareAsyncXxx stub method).
template <typename Req, typename Resp, typename Prepare>
absl::Status PsClient::FanOut(const std::string& what,
                              const std::vector<uint32_t>& shard_of,
                              const std::vector<Req>& reqs,
                              std::vector<Resp>* resps, Prepare prepare,
                              absl::Duration timeout) const {
  resps->resize(reqs.size());
  std::vector<size_t> pending(reqs.size());
  for (size_t i = 0; i < reqs.size(); ++i) pending[i] = i;
  absl::Duration backoff = options_.retry_backoff;
  absl::Status last;
  for (int attempt = 0; attempt <= options_.max_retries; ++attempt) {
    grpc::CompletionQueue cq;
    std::vector<grpc::ClientContext> ctx(reqs.size());
    std::vector<grpc::Status> status(reqs.size());
    std::vector<std::unique_ptr<grpc::ClientAsyncResponseReader<Resp>>> rpcs(
        reqs.size());
    const auto deadline = absl::ToChronoTime(absl::Now() + timeout);
    for (size_t i : pending) {
      ctx[i].set_deadline(deadline);
      rpcs[i] = prepare(*shards_[shard_of[i]], &ctx[i], reqs[i], &cq);
      rpcs[i]->StartCall();
      rpcs[i]->Finish(&(*resps)[i], &status[i], reinterpret_cast<void*>(i));
    }
    for (size_t done = 0; done < pending.size(); ++done) {
      void* tag = nullptr;
      bool ok = false;
      CHECK(cq.Next(&tag, &ok)) << "completion queue shut down unexpectedly";
    }
    std::vector<size_t> retry;
    for (size_t i : pending) {
      if (status[i].ok()) continue;
      absl::Status s = Annotate(
          FromGrpcStatus(status[i]),
          absl::StrCat(what, " on shard ", shard_of[i], " (",
                       shards_[shard_of[i]]->address, ")"));
      if (s.code() != absl::StatusCode::kUnavailable) return s;
      last = s;
      retry.push_back(i);
    }
    if (retry.empty()) return absl::OkStatus();
    pending = std::move(retry);
    if (attempt < options_.max_retries) {
      LOG(WARNING) << last << "; retrying " << pending.size()
                   << " request(s) in " << backoff;
      absl::SleepFor(backoff);
      backoff *= 2;
    }
  }
  return last;
}

absl::StatusOr<std::unique_ptr<PsClient>> PsClient::Connect(
    std::vector<std::string> addresses, PsClientOptions options,
    std::unique_ptr<ShardRouter> router) {
  if (addresses.empty()) {
    return absl::InvalidArgumentError("no parameter-server shard addresses");
  }
  if (router == nullptr) router = MakeHashRouter(addresses.size());
  if (router->num_shards() != addresses.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("router has ", router->num_shards(), " shards but ",
                     addresses.size(), " addresses were given"));
  }
  if (options.max_keys_per_request == 0) {
    return absl::InvalidArgumentError("max_keys_per_request must be > 0");
  }
  std::vector<std::unique_ptr<Shard>> shards;
  for (const std::string& addr : addresses) {
    if (addr.empty()) return absl::InvalidArgumentError("empty shard address");
    auto shard = std::make_unique<Shard>();
    shard->address = addr;
    shard->channel = grpc::CreateCustomChannel(
        addr, grpc::InsecureChannelCredentials(),
        DefaultChannelArguments(options.max_message_bytes));
    shard->embedding = EmbeddingService::NewStub(shard->channel);
    shard->dense = DenseService::NewStub(shard->channel);
    shard->admin = AdminService::NewStub(shard->channel);
    shard->compression = CompressionService::NewStub(shard->channel);
    shards.push_back(std::move(shard));
  }
  return std::unique_ptr<PsClient>(
      new PsClient(std::move(shards), options, std::move(router)));
}

PsClient::PsClient(std::vector<std::unique_ptr<Shard>> shards,
                   PsClientOptions options,
                   std::unique_ptr<ShardRouter> router)
    : options_(options), router_(std::move(router)), shards_(std::move(shards)) {}

PsClient::~PsClient() = default;

// Sends the same request to every shard (admin calls).
template <typename Req, typename Resp, typename Prepare>
absl::StatusOr<std::vector<Resp>> PsClient::Broadcast(
    const std::string& what, const Req& req, Prepare prepare,
    absl::Duration timeout) const {
  std::vector<uint32_t> all(num_shards());
  for (uint32_t s = 0; s < num_shards(); ++s) all[s] = s;
  std::vector<Resp> resps;
  absl::Status s = FanOut(what, all, std::vector<Req>(all.size(), req), &resps,
                          prepare, timeout);
  if (!s.ok()) return s;
  return resps;
}

void PsClient::Route(absl::Span<const uint64_t> keys,
                     RoutedBatch* batch) const {
  const uint32_t n = num_shards();
  batch->shard_keys.resize(n);
  for (auto& v : batch->shard_keys) v.clear();  // keeps capacity
  batch->slot.resize(keys.size());
  // Strictly increasing keys (ps-lite's required input format, and what a
  // sorted-unique batch looks like) have no duplicates: skip the hash pass.
  const bool unique =
      !options_.dedup ||
      std::adjacent_find(keys.begin(), keys.end(),
                         [](uint64_t a, uint64_t b) { return a >= b; }) ==
          keys.end();
  if (unique) {
    for (size_t i = 0; i < keys.size(); ++i) {
      const uint32_t s = router_->ShardForKey(keys[i]);
      batch->slot[i] = {s, static_cast<uint32_t>(batch->shard_keys[s].size())};
      batch->shard_keys[s].push_back(keys[i]);
    }
    return;
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
}

absl::Status PsClient::Pull(const std::string& table,
                            absl::Span<const uint64_t> keys, uint32_t dim,
                            float* out, const PullOptions& opts) {
  if (keys.empty()) return absl::InvalidArgumentError("Pull: empty batch");
  if (dim == 0) return absl::InvalidArgumentError("Pull: dim must be > 0");
  thread_local RoutedBatch batch;  // reused: no allocation in steady state
  Route(keys, &batch);
  const size_t per_chunk = KeysPerRequest(options_, dim);
  const std::vector<Chunk> chunks = MakeChunks(batch.shard_keys, per_chunk);
  std::vector<uint32_t> shard_of;
  std::vector<PullRequest> reqs(chunks.size());
  for (size_t c = 0; c < chunks.size(); ++c) {
    const Chunk& ch = chunks[c];
    shard_of.push_back(ch.shard);
    reqs[c].set_table(table);
    reqs[c].set_count_frequency(opts.count_frequency);
    reqs[c].set_read_only(opts.read_only);
    PackU64(absl::MakeConstSpan(batch.shard_keys[ch.shard]).subspan(
                ch.begin, ch.count),
            reqs[c].mutable_keys());
  }
  std::vector<PullResponse> resps;
  absl::Status s = FanOut(
      "Pull(" + table + ")", shard_of, reqs, &resps,
      [](Shard& sh, grpc::ClientContext* ctx, const PullRequest& r,
         grpc::CompletionQueue* cq) {
        return sh.embedding->PrepareAsyncPull(ctx, r, cq);
      },
      options_.rpc_timeout);
  if (!s.ok()) return s;
  // Row pointers per shard, indexed by position in the shard's key list.
  std::vector<std::vector<const float*>> base(num_shards());
  for (size_t c = 0; c < chunks.size(); ++c) {
    const Chunk& ch = chunks[c];
    const std::string& v = resps[c].values();
    if (resps[c].dim() != dim || v.size() != ch.count * dim * sizeof(float)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "Pull(", table, "): shard ", ch.shard, " returned dim ",
          resps[c].dim(), " and ", v.size(), " bytes; expected dim ", dim,
          " and ", ch.count * dim * sizeof(float), " bytes"));
    }
    base[ch.shard].push_back(reinterpret_cast<const float*>(v.data()));
  }
  const size_t row_bytes = dim * sizeof(float);
  for (size_t i = 0; i < keys.size(); ++i) {
    const auto [sh, pos] = batch.slot[i];
    const float* src = base[sh][pos / per_chunk] + (pos % per_chunk) * dim;
    std::memcpy(out + i * dim, src, row_bytes);
  }
  return absl::OkStatus();
}

absl::Status PsClient::Push(const std::string& table,
                            absl::Span<const uint64_t> keys,
                            absl::Span<const float> grads, uint32_t dim) {
  if (keys.empty()) return absl::InvalidArgumentError("Push: empty batch");
  if (dim == 0) return absl::InvalidArgumentError("Push: dim must be > 0");
  if (grads.size() != keys.size() * dim) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Push(", table, "): ", grads.size(), " gradient values for ",
        keys.size(), " keys of dim ", dim, " (expected ", keys.size() * dim,
        ")"));
  }
  thread_local RoutedBatch batch;
  Route(keys, &batch);
  // Sum the gradients of duplicate keys into one row per distinct key.
  thread_local std::vector<std::vector<float>> sums;
  sums.resize(num_shards());
  for (uint32_t s = 0; s < num_shards(); ++s) {
    sums[s].assign(batch.shard_keys[s].size() * dim, 0.f);
  }
  for (size_t i = 0; i < keys.size(); ++i) {
    const auto [sh, pos] = batch.slot[i];
    float* dst = sums[sh].data() + size_t{pos} * dim;
    const float* src = grads.data() + i * dim;
    for (uint32_t d = 0; d < dim; ++d) dst[d] += src[d];
  }
  const std::vector<Chunk> chunks =
      MakeChunks(batch.shard_keys, KeysPerRequest(options_, dim));
  std::vector<uint32_t> shard_of;
  std::vector<PushRequest> reqs(chunks.size());
  for (size_t c = 0; c < chunks.size(); ++c) {
    const Chunk& ch = chunks[c];
    shard_of.push_back(ch.shard);
    reqs[c].set_table(table);
    PackU64(absl::MakeConstSpan(batch.shard_keys[ch.shard]).subspan(
                ch.begin, ch.count),
            reqs[c].mutable_keys());
    PackF32(absl::MakeConstSpan(sums[ch.shard]).subspan(ch.begin * dim,
                                                        ch.count * dim),
            reqs[c].mutable_gradients());
  }
  std::vector<PushResponse> resps;
  return FanOut(
      "Push(" + table + ")", shard_of, reqs, &resps,
      [](Shard& sh, grpc::ClientContext* ctx, const PushRequest& r,
         grpc::CompletionQueue* cq) {
        return sh.embedding->PrepareAsyncPush(ctx, r, cq);
      },
      options_.rpc_timeout);
}


absl::Status PsClient::CreateTable(const TableConfig& config,
                                   bool if_not_exists) {
  CreateTableRequest req;
  *req.mutable_sparse() = config;
  req.set_if_not_exists(if_not_exists);
  return Broadcast<CreateTableRequest, CreateTableResponse>(
             "CreateTable(" + config.name() + ")", req,
             [](Shard& sh, grpc::ClientContext* ctx,
                const CreateTableRequest& r, grpc::CompletionQueue* cq) {
               return sh.admin->PrepareAsyncCreateTable(ctx, r, cq);
             },
             options_.rpc_timeout)
      .status();
}

absl::Status PsClient::CreateDense(const DenseConfig& config,
                                   bool if_not_exists) {
  CreateTableRequest req;
  *req.mutable_dense() = config;
  req.set_if_not_exists(if_not_exists);
  std::vector<CreateTableResponse> resps;
  return FanOut(
      "CreateDense(" + config.name() + ")",
      std::vector<uint32_t>{router_->ShardForName(config.name())},
      std::vector<CreateTableRequest>{req}, &resps,
      [](Shard& sh, grpc::ClientContext* ctx, const CreateTableRequest& r,
         grpc::CompletionQueue* cq) {
        return sh.admin->PrepareAsyncCreateTable(ctx, r, cq);
      },
      options_.rpc_timeout);
}

absl::Status PsClient::DropTable(const std::string& name) {
  DropTableRequest req;
  req.set_name(name);
  std::vector<uint32_t> all;
  for (uint32_t s = 0; s < num_shards(); ++s) all.push_back(s);
  // A dense tensor exists on one shard only; the table is gone when any
  // shard dropped it and the others answered NOT_FOUND.
  size_t dropped = 0;
  absl::Status first_error;
  for (uint32_t s : all) {
    std::vector<DropTableResponse> r;
    absl::Status st = FanOut(
        "DropTable(" + name + ")", std::vector<uint32_t>{s},
        std::vector<DropTableRequest>{req}, &r,
        [](Shard& sh, grpc::ClientContext* ctx, const DropTableRequest& q,
           grpc::CompletionQueue* cq) {
          return sh.admin->PrepareAsyncDropTable(ctx, q, cq);
        },
        options_.rpc_timeout);
    if (st.ok()) {
      ++dropped;
    } else if (st.code() != absl::StatusCode::kNotFound && first_error.ok()) {
      first_error = st;
    }
  }
  if (!first_error.ok()) return first_error;
  if (dropped == 0) {
    return absl::NotFoundError(absl::StrCat("no table named ", name));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<ListTablesResponse>> PsClient::ListTables() {
  return Broadcast<ListTablesRequest, ListTablesResponse>(
      "ListTables", ListTablesRequest(),
      [](Shard& sh, grpc::ClientContext* ctx, const ListTablesRequest& r,
         grpc::CompletionQueue* cq) {
        return sh.admin->PrepareAsyncListTables(ctx, r, cq);
      },
      options_.rpc_timeout);
}

absl::StatusOr<std::vector<CheckpointResponse>> PsClient::Checkpoint(
    uint64_t id) {
  if (id == 0) id = absl::ToUnixMillis(absl::Now());
  CheckpointRequest req;
  req.set_checkpoint_id(id);
  return Broadcast<CheckpointRequest, CheckpointResponse>(
      "Checkpoint", req,
      [](Shard& sh, grpc::ClientContext* ctx, const CheckpointRequest& r,
         grpc::CompletionQueue* cq) {
        return sh.admin->PrepareAsyncCheckpoint(ctx, r, cq);
      },
      options_.rpc_timeout * 10);
}

absl::StatusOr<std::vector<LoadResponse>> PsClient::Load(uint64_t id) {
  LoadRequest req;
  req.set_checkpoint_id(id);
  return Broadcast<LoadRequest, LoadResponse>(
      "Load", req,
      [](Shard& sh, grpc::ClientContext* ctx, const LoadRequest& r,
         grpc::CompletionQueue* cq) {
        return sh.admin->PrepareAsyncLoad(ctx, r, cq);
      },
      options_.rpc_timeout * 10);
}

absl::StatusOr<std::vector<CompressResponse>> PsClient::Compress(
    const std::string& table, const SaecConfig& config) {
  CompressRequest req;
  req.set_table(table);
  *req.mutable_config() = config;
  return Broadcast<CompressRequest, CompressResponse>(
      "Compress", req,
      [](Shard& sh, grpc::ClientContext* ctx, const CompressRequest& r,
         grpc::CompletionQueue* cq) {
        return sh.compression->PrepareAsyncCompress(ctx, r, cq);
      },
      options_.rpc_timeout * 20);  // clustering large tables takes a while
}

absl::StatusOr<std::vector<StatsResponse>> PsClient::CompressionStats(
    const std::string& table) {
  StatsRequest req;
  req.set_table(table);
  return Broadcast<StatsRequest, StatsResponse>(
      "GetStats", req,
      [](Shard& sh, grpc::ClientContext* ctx, const StatsRequest& r,
         grpc::CompletionQueue* cq) {
        return sh.compression->PrepareAsyncGetStats(ctx, r, cq);
      },
      options_.rpc_timeout);
}

absl::StatusOr<int64_t> PsClient::PullDense(const std::string& name,
                                            int64_t min_step,
                                            std::vector<float>* out) {
  DensePullRequest req;
  req.set_name(name);
  req.set_min_step(min_step);
  std::vector<DensePullResponse> resps;
  absl::Status s = FanOut(
      "PullDense(" + name + ")",
      std::vector<uint32_t>{router_->ShardForName(name)},
      std::vector<DensePullRequest>{req}, &resps,
      [](Shard& sh, grpc::ClientContext* ctx, const DensePullRequest& r,
         grpc::CompletionQueue* cq) {
        return sh.dense->PrepareAsyncPull(ctx, r, cq);
      },
      options_.dense_wait_timeout);
  if (!s.ok()) return s;
  absl::StatusOr<size_t> n = PackedF32Count(resps[0].values(), "dense values");
  if (!n.ok()) return n.status();
  UnpackF32(resps[0].values(), out);
  return resps[0].step();
}

absl::StatusOr<int64_t> PsClient::PushDense(const std::string& name,
                                            absl::Span<const float> grads,
                                            int64_t step, uint32_t worker) {
  DensePushRequest req;
  req.set_name(name);
  PackF32(grads, req.mutable_gradients());
  req.set_step(step);
  req.set_worker(worker);
  std::vector<DensePushResponse> resps;
  absl::Status s = FanOut(
      "PushDense(" + name + ")",
      std::vector<uint32_t>{router_->ShardForName(name)},
      std::vector<DensePushRequest>{req}, &resps,
      [](Shard& sh, grpc::ClientContext* ctx, const DensePushRequest& r,
         grpc::CompletionQueue* cq) {
        return sh.dense->PrepareAsyncPush(ctx, r, cq);
      },
      options_.rpc_timeout);
  if (!s.ok()) return s;
  return resps[0].step();
}

}  // namespace strata
