#include "server/ps/ps_service.h"

#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "proto/base/checkpoint_ids.h"
#include "proto/base/names.h"
#include "proto/base/status_macros.h"
#include "proto/rpc_util.h"
#include "server/ps/payload_wire.h"
#include "server/security/identity.h"
#include "server/storage/gradient_rows.h"

namespace strata {
namespace {

// OK when the caller of `context` may write checkpoint `id`: 0 (the shard
// picks it) from anyone the policy admits; any id from the coordinator,
// which hands out cluster checkpoint ids (or over plaintext, where there
// are no identities); from anyone else (a CTR_TRAIN worker's final
// checkpoint) an id that does not lie in the future, which would pin
// every later restart to it (proto/base/checkpoint_ids.h):
// PERMISSION_DENIED.
absl::Status CheckCheckpointId(const grpc::ServerContext& context,
                               uint64_t id) {
  if (id == 0) return absl::OkStatus();
  STRATA_ASSIGN_OR_RETURN(const std::optional<security::Identity> caller,
                          security::CallerIdentity(context));
  if (!caller.has_value() || caller->role == security::Role::kCoordinator) {
    return absl::OkStatus();
  }
  const absl::Status chosen =
      CheckChosenCheckpointId("checkpoint id", id, absl::Now());
  if (chosen.ok()) return chosen;
  return absl::PermissionDeniedError(absl::StrCat(
      security::IdentityUri(*caller), " may not choose ", chosen.message()));
}

// OK when the caller of `context` may drop `name`: admins and the
// coordinator any table; a worker (an FC node replacing its snapshot) only
// job-scoped tensors ("job-N/..."), never a shared table like a CTR
// model's; plaintext callers (no identities) anything. PERMISSION_DENIED
// otherwise.
absl::Status CheckMayDrop(const grpc::ServerContext& context,
                          const std::string& name) {
  STRATA_ASSIGN_OR_RETURN(const std::optional<security::Identity> caller,
                          security::CallerIdentity(context));
  if (!caller.has_value() || caller->role != security::Role::kWorker ||
      IsJobScopedName(name)) {
    return absl::OkStatus();
  }
  return absl::PermissionDeniedError(
      absl::StrCat(security::IdentityUri(*caller), " may not drop '", name,
                   "': workers drop only job-scoped tensors (job-N/...)"));
}

// Keys as an aligned uint64 span. Protobuf's string storage is heap
// allocated (16-byte aligned) for any real batch, and PushRequestView hands
// out aligned bytes, so this is a zero-copy view; a misaligned buffer (tiny
// batches held inline) is copied to `scratch`.
absl::StatusOr<absl::Span<const uint64_t>> KeysOf(
    absl::string_view bytes, size_t max_keys, std::vector<uint64_t>* scratch) {
  STRATA_ASSIGN_OR_RETURN(const size_t n, PackedU64Count(bytes, "keys"));
  if (n == 0) return absl::InvalidArgumentError("empty batch: no keys");
  if (n > max_keys) {
    return absl::InvalidArgumentError(
        absl::StrCat("batch of ", n, " keys exceeds the limit of ", max_keys,
                     " keys per request; split it"));
  }
  const char* p = bytes.data();
  if (reinterpret_cast<uintptr_t>(p) % alignof(uint64_t) == 0) {
    return absl::MakeConstSpan(reinterpret_cast<const uint64_t*>(p), n);
  }
  UnpackU64(bytes, scratch);
  return absl::MakeConstSpan(*scratch);
}

// A push's gradients, `pieces` laid end to end (a protobuf field, or the
// pieces of gRPC's slices that hold it), as rows of `dim` floats for
// `keys` keys (GradientRows::AssignReceived); INVALID_ARGUMENT when their
// size is not a multiple of 4 bytes.
absl::Status GradientsOf(absl::Span<const absl::string_view> pieces,
                         uint32_t dim, size_t keys, GradientRows* out) {
  size_t bytes = 0;
  for (const absl::string_view& p : pieces) bytes += p.size();
  STRATA_RETURN_IF_ERROR(PackedF32CountOfSize(bytes, "gradients").status());
  out->AssignReceived(pieces, dim, keys);
  return absl::OkStatus();
}

// RESOURCE_EXHAUSTED "<what> = <bytes> bytes exceeds the <limit>-byte
// response limit (--max_message_mb)<advice>".
absl::Status ResponseTooLarge(uint64_t bytes, size_t limit,
                              absl::string_view what,
                              absl::string_view advice = "") {
  return absl::ResourceExhaustedError(
      absl::StrCat(what, " = ", bytes, " bytes exceeds the ", limit,
                   "-byte response limit (--max_message_mb)", advice));
}

// The request id of a push (client_id 0: none).
template <typename PushReq>
PushId IdOf(const PushReq& req) {
  return PushId{req.client_id(), req.sequence()};
}

absl::Status InTable(const absl::Status& s, const std::string& table) {
  if (s.ok()) return s;
  return absl::Status(s.code(),
                      absl::StrCat("table ", table, ": ", s.message()));
}

// The compressed table behind `table` when it is one (resolved pulls and
// pushes, Resolve), else null.
CompressedTable* AsCompressed(const std::shared_ptr<EmbeddingTable>& table) {
  return table->compressed() ? dynamic_cast<CompressedTable*>(table.get())
                             : nullptr;
}

// CompressRequest.centroids as a map: INVALID_ARGUMENT for a field given
// twice or values that are not whole floats (the table checks the rest).
absl::StatusOr<FieldCentroidMap> CentroidsOf(const CompressRequest& req) {
  FieldCentroidMap out;
  for (const FieldCentroids& c : req.centroids()) {
    std::vector<float> values;
    STRATA_RETURN_IF_ERROR(PackedF32Count(c.values(), "centroids").status());
    UnpackF32(c.values(), &values);
    if (!out.emplace(c.field(), std::move(values)).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("centroids of field ", c.field(), " given twice"));
    }
  }
  return out;
}

// How long before its deadline a push held by a paused shard is answered
// UNAVAILABLE, so that the client retries it instead of timing out.
constexpr absl::Duration kHeldPushMargin = absl::Milliseconds(200);

// Passes the store's push gate (waiting while pushes are paused).
absl::StatusOr<PushGate::Pass> EnterGate(TableStore* store,
                                         const grpc::ServerContext* ctx) {
  return store->push_gate().Enter(absl::FromChrono(ctx->deadline()) -
                                  kHeldPushMargin);
}

}  // namespace

EmbeddingServiceImpl::EmbeddingServiceImpl(TableStore* store,
                                           PsServiceOptions options)
    : store_(store), options_(std::move(options)) {
  using grpc::internal::RpcMethod;
  using grpc::internal::RpcMethodHandler;
  using grpc::internal::RpcServiceMethod;
  // Full method names, as the generated service registers them; static:
  // gRPC keeps the pointers.
  static const std::string* const kPull = new std::string(
      absl::StrCat("/", EmbeddingService::service_full_name(), "/Pull"));
  static const std::string* const kPush = new std::string(
      absl::StrCat("/", EmbeddingService::service_full_name(), "/Push"));
  static const std::string* const kResolve = new std::string(
      absl::StrCat("/", EmbeddingService::service_full_name(), "/Resolve"));
  AddMethod(new RpcServiceMethod(
      kPull->c_str(), RpcMethod::NORMAL_RPC,
      new RpcMethodHandler<EmbeddingServiceImpl, PullRequest, grpc::ByteBuffer>(
          &EmbeddingServiceImpl::PullToWire, this)));
  AddMethod(
      new RpcServiceMethod(kPush->c_str(), RpcMethod::NORMAL_RPC,
                           new RpcMethodHandler<EmbeddingServiceImpl,
                                                grpc::ByteBuffer, PushResponse>(
                               &EmbeddingServiceImpl::PushFromWire, this)));
  AddMethod(new RpcServiceMethod(
      kResolve->c_str(), RpcMethod::NORMAL_RPC,
      new RpcMethodHandler<EmbeddingServiceImpl, ResolveRequest,
                           ResolveResponse>(&EmbeddingServiceImpl::Resolve,
                                            this)));
}

template <typename Allocate>
absl::Status EmbeddingServiceImpl::PullInto(const PullRequest& req,
                                            Allocate allocate, uint32_t* dim) {
  STRATA_ASSIGN_OR_RETURN(const std::shared_ptr<EmbeddingTable> table,
                          store_->GetEmbedding(req.table()));
  std::vector<uint64_t> scratch;
  auto keys = KeysOf(req.keys(), options_.max_batch_keys, &scratch);
  if (!keys.ok()) return InTable(keys.status(), req.table());
  *dim = table->config().dim();
  // keys <= kMaxBatchKeysLimit (2^31) and dim <= 4096: no overflow.
  const uint64_t bytes = uint64_t{keys->size()} * *dim * sizeof(float);
  if (bytes > options_.max_response_bytes) {
    return InTable(ResponseTooLarge(bytes, options_.max_response_bytes,
                                    absl::StrCat("pull of ", keys->size(),
                                                 " keys x dim ", *dim),
                                    "; split the batch"),
                   req.table());
  }
  CompressedTable* compressed = req.resolved() ? AsCompressed(table) : nullptr;
  return InTable(
      compressed != nullptr
          ? compressed->PullResolved(*keys, req.count_frequency(),
                                     req.read_only(), allocate(bytes))
          : table->Pull(*keys, req.count_frequency(), req.read_only(),
                        allocate(bytes)),
      req.table());
}

grpc::Status EmbeddingServiceImpl::Pull(grpc::ServerContext*,
                                        const PullRequest* req,
                                        PullResponse* resp) {
  uint32_t dim = 0;
  const absl::Status s = PullInto(
      *req,
      [resp](size_t bytes) {
        std::string* out = resp->mutable_values();
        out->resize(bytes);
        return reinterpret_cast<float*>(out->data());
      },
      &dim);
  if (!s.ok()) {
    resp->Clear();
    return ToGrpcStatus(s);
  }
  resp->set_dim(dim);
  return grpc::Status::OK;
}

grpc::Status EmbeddingServiceImpl::PullToWire(grpc::ServerContext*,
                                              const PullRequest* req,
                                              grpc::ByteBuffer* resp) {
  // The dim is known (and the header written) once the table is found:
  // the message is made on the first call of the allocator.
  std::optional<WireMessage> message;
  uint32_t dim = 0;
  const absl::Status s = PullInto(
      *req,
      [&](size_t bytes) {
        message.emplace(EncodePullResponse(dim, bytes));
        return reinterpret_cast<float*>(message->payload());
      },
      &dim);
  if (!s.ok()) return ToGrpcStatus(s);
  *resp = message->Release();
  return grpc::Status::OK;
}

grpc::Status EmbeddingServiceImpl::Push(grpc::ServerContext* ctx,
                                        const PushRequest* req,
                                        PushResponse* resp) {
  const absl::string_view gradients = req->gradients();
  return ApplyPush(ctx, req->table(), req->keys(), {&gradients, 1}, IdOf(*req),
                   req->resolved(), resp);
}

grpc::Status EmbeddingServiceImpl::PushFromWire(grpc::ServerContext* ctx,
                                                const grpc::ByteBuffer* req,
                                                PushResponse* resp) {
  // One view per server thread: its scratch is reused by the next push.
  thread_local PushRequestView view;
  struct ClearAtEnd {  // the request's slices are not held past the call
    PushRequestView& v;
    ~ClearAtEnd() { v.Clear(); }
  } clear_at_end{view};
  if (absl::Status s = view.Parse(*req); !s.ok()) return ToGrpcStatus(s);
  return ApplyPush(ctx, view.table(), view.keys(), view.gradient_pieces(),
                   PushId{view.client_id(), view.sequence()}, view.resolved(),
                   resp);
}

grpc::Status EmbeddingServiceImpl::ApplyPush(
    grpc::ServerContext* ctx, const std::string& table_name,
    absl::string_view key_bytes,
    absl::Span<const absl::string_view> gradient_pieces, PushId id,
    bool resolved, PushResponse* resp) {
  auto table = store_->GetEmbedding(table_name);
  if (!table.ok()) return ToGrpcStatus(table.status());
  std::vector<uint64_t> key_scratch;
  auto keys = KeysOf(key_bytes, options_.max_batch_keys, &key_scratch);
  if (!keys.ok()) return ToGrpcStatus(InTable(keys.status(), table_name));
  // Reused by the thread's next push: its row table is not reallocated.
  thread_local GradientRows grads;
  struct ReleaseAtEnd {  // the request's slices are not pointed to past it
    GradientRows& g;
    ~ReleaseAtEnd() { g.Release(); }
  } release_at_end{grads};
  if (absl::Status s =
          GradientsOf(gradient_pieces, (*table)->dim(), keys->size(), &grads);
      !s.ok()) {
    return ToGrpcStatus(InTable(s, table_name));
  }
  absl::StatusOr<PushGate::Pass> pass = EnterGate(store_, ctx);
  if (!pass.ok()) return ToGrpcStatus(pass.status());
  absl::StatusOr<PushDedup::Outcome> outcome =
      store_->push_dedup().ApplyOnce(id, /*durable=*/true, [&] {
        CompressedTable* c = resolved ? AsCompressed(*table) : nullptr;
        std::vector<float> scratch;
        return c != nullptr ? c->PushResolved(*keys, grads.Contiguous(&scratch))
                            : (*table)->Push(*keys, grads);
      });
  if (!outcome.ok()) {
    return ToGrpcStatus(InTable(outcome.status(), table_name));
  }
  if (*outcome == PushDedup::Outcome::kApplied) {
    store_->updates().Add(keys->size());
  }
  resp->set_applied(keys->size());
  resp->set_duplicate(*outcome == PushDedup::Outcome::kDuplicate);
  return grpc::Status::OK;
}

grpc::Status EmbeddingServiceImpl::Resolve(grpc::ServerContext*,
                                           const ResolveRequest* req,
                                           ResolveResponse* resp) {
  auto table = store_->GetEmbedding(req->table());
  if (!table.ok()) return ToGrpcStatus(table.status());
  std::vector<uint64_t> scratch;
  auto keys = KeysOf(req->keys(), options_.max_batch_keys, &scratch);
  if (!keys.ok()) return ToGrpcStatus(InTable(keys.status(), req->table()));
  std::vector<uint64_t> out(keys->begin(), keys->end());
  if (CompressedTable* c = AsCompressed(*table)) {
    const absl::Status s = c->Resolve(*keys, out.data());
    if (!s.ok()) return ToGrpcStatus(InTable(s, req->table()));
  }
  resp->mutable_keys()->assign(reinterpret_cast<const char*>(out.data()),
                               out.size() * sizeof(uint64_t));
  return grpc::Status::OK;
}

DenseServiceImpl::DenseServiceImpl(TableStore* store, PsServiceOptions options)
    : store_(store), options_(std::move(options)) {
  using grpc::internal::RpcMethod;
  using grpc::internal::RpcMethodHandler;
  using grpc::internal::RpcServiceMethod;
  // Full method names, as the generated service registers them; static:
  // gRPC keeps the pointers.
  static const std::string* const kPull = new std::string(
      absl::StrCat("/", DenseService::service_full_name(), "/Pull"));
  static const std::string* const kPush = new std::string(
      absl::StrCat("/", DenseService::service_full_name(), "/Push"));
  AddMethod(new RpcServiceMethod(
      kPull->c_str(), RpcMethod::NORMAL_RPC,
      new RpcMethodHandler<DenseServiceImpl, DensePullRequest,
                           grpc::ByteBuffer>(&DenseServiceImpl::PullToWire,
                                             this)));
  AddMethod(new RpcServiceMethod(
      kPush->c_str(), RpcMethod::NORMAL_RPC,
      new RpcMethodHandler<DenseServiceImpl, grpc::ByteBuffer,
                           DensePushResponse>(&DenseServiceImpl::PushFromWire,
                                              this)));
}

template <typename Allocate>
absl::Status DenseServiceImpl::PullInto(grpc::ServerContext* ctx,
                                        const DensePullRequest& req,
                                        Allocate allocate) {
  STRATA_ASSIGN_OR_RETURN(const std::shared_ptr<DenseTable> tensor,
                          store_->GetDense(req.name()));
  STRATA_ASSIGN_OR_RETURN(const DenseRange range,
                          tensor->Range(req.offset(), req.count()));
  // Checked before waiting or allocating. range.count <= 2^30.
  const uint64_t bytes = range.count * sizeof(float);
  if (bytes > options_.max_response_bytes) {
    return ResponseTooLarge(
        bytes, options_.max_response_bytes,
        absl::StrCat("dense tensor ", req.name(), " elements [", range.offset,
                     ", ", range.offset + range.count, ") of ", tensor->size()),
        "; pull it in chunks (offset, count)");
  }
  absl::Time deadline = absl::FromChrono(ctx->deadline());
  deadline = std::min(deadline, absl::Now() + options_.max_dense_wait);
  return tensor
      ->PullInto(range.offset, range.count, req.min_step(), deadline,
                 [&](int64_t step, size_t n) {
                   return allocate(step, n, tensor->size());
                 })
      .status();
}

grpc::Status DenseServiceImpl::Pull(grpc::ServerContext* ctx,
                                    const DensePullRequest* req,
                                    DensePullResponse* resp) {
  const absl::Status s =
      PullInto(ctx, *req, [resp](int64_t step, size_t bytes, uint64_t size) {
        resp->set_step(step);
        resp->set_size(size);
        std::string* out = resp->mutable_values();
        out->resize(bytes);
        return out->data();
      });
  if (!s.ok()) {
    resp->Clear();
    return ToGrpcStatus(s);
  }
  return grpc::Status::OK;
}

grpc::Status DenseServiceImpl::PullToWire(grpc::ServerContext* ctx,
                                          const DensePullRequest* req,
                                          grpc::ByteBuffer* resp) {
  // Made once the step is known, under the tensor's lock.
  std::optional<WireMessage> message;
  const absl::Status s =
      PullInto(ctx, *req, [&](int64_t step, size_t bytes, uint64_t size) {
        message.emplace(EncodeDensePullResponse(bytes, step, size));
        return message->payload();
      });
  if (!s.ok()) return ToGrpcStatus(s);
  *resp = message->Release();
  return grpc::Status::OK;
}

grpc::Status DenseServiceImpl::Push(grpc::ServerContext* ctx,
                                    const DensePushRequest* req,
                                    DensePushResponse* resp) {
  std::vector<float> scratch;
  absl::Span<const float> grads;
  if (reinterpret_cast<uintptr_t>(req->gradients().data()) % alignof(float) !=
      0) {
    UnpackF32(req->gradients(), &scratch);  // whole floats: checked below
    grads = scratch;
  } else {
    grads = absl::MakeConstSpan(
        reinterpret_cast<const float*>(req->gradients().data()),
        req->gradients().size() / sizeof(float));
  }
  DensePushFields args;
  args.name = req->name();
  args.step = req->step();
  args.worker = req->worker();
  args.offset = req->offset();
  args.count = req->count();
  args.client_id = req->client_id();
  args.sequence = req->sequence();
  return ApplyPush(
      ctx, args, req->gradients().size(),
      [grads](size_t first, size_t, float*) { return grads.data() + first; },
      resp);
}

grpc::Status DenseServiceImpl::PushFromWire(grpc::ServerContext* ctx,
                                            const grpc::ByteBuffer* req,
                                            DensePushResponse* resp) {
  thread_local DensePushRequestView view;  // reuses its slice vectors
  struct ClearAtEnd {  // the request's slices are not held past the call
    DensePushRequestView& v;
    ~ClearAtEnd() { v.Clear(); }
  } clear_at_end{view};
  if (absl::Status s = view.Parse(*req); !s.ok()) return ToGrpcStatus(s);
  return ApplyPush(
      ctx, view.fields(), view.gradient_bytes(),
      [](size_t first, size_t n, float* buffer) {
        return view.Floats(first, n, buffer);
      },
      resp);
}

grpc::Status DenseServiceImpl::ApplyPush(grpc::ServerContext* ctx,
                                         const DensePushFields& args,
                                         size_t gradient_bytes,
                                         DenseTable::GradientReader read,
                                         DensePushResponse* resp) {
  auto tensor = store_->GetDense(args.name);
  if (!tensor.ok()) return ToGrpcStatus(tensor.status());
  if (absl::Status s =
          PackedF32CountOfSize(gradient_bytes, "gradients").status();
      !s.ok()) {
    return ToGrpcStatus(s);
  }
  // A BSP push is accumulated until its step completes, and checkpoints do
  // not save that: its id is not durable.
  const bool bsp = (*tensor)->config().sync() == BSP;
  absl::StatusOr<PushGate::Pass> pass = EnterGate(store_, ctx);
  if (!pass.ok()) return ToGrpcStatus(pass.status());
  int64_t step = 0;
  absl::StatusOr<PushDedup::Outcome> outcome = store_->push_dedup().ApplyOnce(
      PushId{args.client_id, args.sequence}, /*durable=*/!bsp,
      [&]() -> absl::Status {
        STRATA_ASSIGN_OR_RETURN(
            step, (*tensor)->Push(args.offset, args.count,
                                  gradient_bytes / sizeof(float), read,
                                  args.step, args.worker));
        return absl::OkStatus();
      });
  if (!outcome.ok()) return ToGrpcStatus(outcome.status());
  if (*outcome == PushDedup::Outcome::kDuplicate) {
    step = (*tensor)->step();
    resp->set_duplicate(true);
  } else {
    store_->updates().Add(1);
  }
  resp->set_step(step);
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::CreateTable(grpc::ServerContext*,
                                           const CreateTableRequest* req,
                                           CreateTableResponse*) {
  switch (req->kind_case()) {
    case CreateTableRequest::kSparse:
      return ToGrpcStatus(
          store_->CreateSparse(req->sparse(), req->if_not_exists()));
    case CreateTableRequest::kDense:
      return ToGrpcStatus(
          store_->CreateDense(req->dense(), req->if_not_exists()));
    default:
      return ToGrpcStatus(absl::InvalidArgumentError(
          "CreateTable needs either `sparse` or `dense` set"));
  }
}

grpc::Status AdminServiceImpl::DropTable(grpc::ServerContext* ctx,
                                         const DropTableRequest* req,
                                         DropTableResponse*) {
  if (absl::Status s = CheckMayDrop(*ctx, req->name()); !s.ok()) {
    return ToGrpcStatus(s);
  }
  return ToGrpcStatus(store_->Drop(req->name()));
}

grpc::Status AdminServiceImpl::ListTables(grpc::ServerContext*,
                                          const ListTablesRequest*,
                                          ListTablesResponse* resp) {
  store_->List(resp);
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::Checkpoint(grpc::ServerContext* ctx,
                                          const CheckpointRequest* req,
                                          CheckpointResponse* resp) {
  if (absl::Status s = CheckCheckpointId(*ctx, req->checkpoint_id()); !s.ok()) {
    return ToGrpcStatus(s);
  }
  if (options_.checkpoint_dir.empty()) {
    return ToGrpcStatus(absl::FailedPreconditionError(
        "this shard was started without --data_dir; it cannot checkpoint"));
  }
  uint64_t id = req->checkpoint_id();
  if (id == 0) id = absl::ToUnixMillis(absl::Now());
  auto info = store_->Checkpoint(options_.checkpoint_dir, id);
  if (!info.ok()) return ToGrpcStatus(info.status());
  resp->set_checkpoint_id(id);
  resp->set_path(info->path);
  resp->set_bytes(info->bytes);
  resp->set_rows(info->rows);
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::Load(grpc::ServerContext*,
                                    const LoadRequest* req,
                                    LoadResponse* resp) {
  if (options_.checkpoint_dir.empty()) {
    return ToGrpcStatus(absl::FailedPreconditionError(
        "this shard was started without --data_dir; nothing to load"));
  }
  auto info = store_->Load(options_.checkpoint_dir, req->checkpoint_id());
  if (!info.ok()) return ToGrpcStatus(info.status());
  resp->set_checkpoint_id(info->checkpoint_id);
  resp->set_written_by_num_shards(info->written_by_num_shards);
  resp->set_rows(info->rows);
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::ResetDenseSteps(
    grpc::ServerContext*, const ResetDenseStepsRequest* req,
    ResetDenseStepsResponse* resp) {
  absl::StatusOr<DenseStepReset> reset = store_->ResetDenseSteps(req->prefix());
  if (!reset.ok()) return ToGrpcStatus(reset.status());
  resp->set_tensors(reset->tensors);
  resp->set_reset(reset->reset);
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::PausePushes(grpc::ServerContext*,
                                           const PausePushesRequest* req,
                                           PausePushesResponse* resp) {
  if (!req->pause()) {
    store_->push_gate().Resume();
    return grpc::Status::OK;
  }
  absl::StatusOr<int> drained =
      store_->push_gate().Pause(absl::Milliseconds(req->lease_ms()));
  if (!drained.ok()) return ToGrpcStatus(drained.status());
  resp->set_drained(*drained);
  return grpc::Status::OK;
}

grpc::Status CompressionServiceImpl::Compress(grpc::ServerContext*,
                                              const CompressRequest* req,
                                              CompressResponse* resp) {
  absl::StatusOr<FieldCentroidMap> centroids = CentroidsOf(*req);
  if (!centroids.ok()) return ToGrpcStatus(centroids.status());
  auto stats = store_->Compress(req->table(), req->config(),
                                options_.compression_threads, *centroids);
  if (!stats.ok()) return ToGrpcStatus(stats.status());
  for (FieldStats& f : *stats) *resp->add_fields() = std::move(f);
  return grpc::Status::OK;
}

grpc::Status CompressionServiceImpl::GetStats(grpc::ServerContext*,
                                              const StatsRequest* req,
                                              StatsResponse* resp) {
  auto stats = store_->Stats(req->table());
  if (!stats.ok()) return ToGrpcStatus(stats.status());
  resp->set_shard_id(store_->shard_id());
  resp->set_num_shards(store_->num_shards());
  for (FieldStats& f : *stats) *resp->add_fields() = std::move(f);
  return grpc::Status::OK;
}

grpc::Status CompressionServiceImpl::SampleHead(grpc::ServerContext*,
                                                const SampleHeadRequest* req,
                                                SampleHeadResponse* resp) {
  auto any = store_->GetEmbedding(req->table());
  if (!any.ok()) return ToGrpcStatus(any.status());
  if (CompressedTable* c = AsCompressed(*any);
      c != nullptr && c->cluster_wide()) {
    *resp = c->HomedCentroids();
    const size_t bytes = resp->ByteSizeLong();
    if (bytes > options_.max_response_bytes) {
      resp->Clear();
      return ToGrpcStatus(ResponseTooLarge(
          bytes, options_.max_response_bytes,
          absl::StrCat("the homed centroids of table ", req->table())));
    }
    return grpc::Status::OK;
  }
  auto table = store_->GetSparse(req->table());
  if (!table.ok()) return ToGrpcStatus(table.status());
  auto samples =
      strata::SampleHead(**table, req->config(), req->max_per_field(),
                         options_.max_response_bytes);
  if (!samples.ok()) {
    return ToGrpcStatus(InTable(samples.status(), req->table()));
  }
  *resp = *std::move(samples);
  return grpc::Status::OK;
}

}  // namespace strata
