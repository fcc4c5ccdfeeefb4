// gRPC services of one parameter-server shard. Thin: each method validates
// the wire payload, calls the TableStore, and translates the status. Pushes
// pass the store's PushGate (held while a consistent checkpoint is cut), are
// applied through its PushDedup, at most once per request id, and counted in
// its UpdateCount. Batch
// size limits live here (the wire contract); shape, NaN/Inf and ownership
// checks live in the storage library so every caller gets them.
#ifndef STRATA_SERVER_PS_PS_SERVICE_H_
#define STRATA_SERVER_PS_PS_SERVICE_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "grpcpp/support/byte_buffer.h"
#include "proto/ps.grpc.pb.h"
#include "proto/rpc_util.h"
#include "server/ps/payload_wire.h"
#include "server/storage/table_store.h"

namespace strata {

struct PsServiceOptions {
  // Largest batch one Pull/Push may carry (PsServer gives the store the same
  // limit).
  size_t max_batch_keys = kDefaultMaxBatchKeys;
  // Largest payload of a response: a sparse pull of more keys x dim x 4
  // bytes, or a dense pull of a larger range (DensePullRequest offset and
  // count; clients pull larger tensors in chunks), is refused with
  // RESOURCE_EXHAUSTED before anything is allocated. PsServer sets it from
  // its message limit (MaxPayloadBytes); larger means bigger batches per
  // request and more memory per in-flight response.
  size_t max_response_bytes = MaxPayloadBytes(kDefaultMaxMessageBytes);
  // Directory checkpoints are written to and loaded from. Shards that must
  // load each other's checkpoints (resharding) need a shared directory.
  std::string checkpoint_dir;
  // Cap on how long a BSP dense pull may block when the client sent no
  // deadline.
  absl::Duration max_dense_wait = absl::Minutes(10);
  // Threads for Saec compression (fields in parallel); <= 0: all cores.
  int compression_threads = 0;
};

// The four services (embedding, dense, admin, compression) share one
// TableStore (not owned; must outlive them).
// Thread-safe: gRPC calls the methods concurrently.
//
// EmbeddingService is registered by hand (the same method names and wire
// messages as the generated EmbeddingService::Service) so that a pull's
// response goes out zero-copy: the table writes its rows straight into the
// one gRPC slice that is sent (PullToWire, payload_wire.h), instead of into
// a zero-filled protobuf string that gRPC then copies; and a push's request
// is read in place (PushFromWire, PushRequestView): its keys and gradients
// reach the table straight from gRPC's slices, or after one copy into a
// per-thread buffer reused across pushes, instead of protobuf's parse into
// freshly allocated strings. Pull and Push with proto messages stay for
// in-process callers (tests, the fuzzer); Pull and PullToWire answer the
// same bytes and the same errors, Push and PushFromWire the same effects,
// responses and errors.
class EmbeddingServiceImpl final : public grpc::Service {
 public:
  EmbeddingServiceImpl(TableStore* store, PsServiceOptions options);
  grpc::Status Pull(grpc::ServerContext* ctx, const PullRequest* req,
                    PullResponse* resp);
  grpc::Status PullToWire(grpc::ServerContext* ctx, const PullRequest* req,
                          grpc::ByteBuffer* resp);
  grpc::Status Push(grpc::ServerContext* ctx, const PushRequest* req,
                    PushResponse* resp);
  // `req`: a PushRequest's bytes as gRPC received them; INTERNAL when they
  // do not parse (what gRPC answers for the proto path).
  grpc::Status PushFromWire(grpc::ServerContext* ctx,
                            const grpc::ByteBuffer* req, PushResponse* resp);
  // docs/saec.md, "Cluster-wide clusters".
  grpc::Status Resolve(grpc::ServerContext* ctx, const ResolveRequest* req,
                       ResolveResponse* resp);

 private:
  // Checks a push's payload, passes the push gate and applies it once per
  // request id (both Push paths).
  grpc::Status ApplyPush(grpc::ServerContext* ctx,
                         const std::string& table_name,
                         absl::string_view key_bytes,
                         absl::Span<const absl::string_view> gradient_pieces,
                         PushId id, bool resolved, PushResponse* resp);
  // Checks `req` and pulls its rows into the buffer `allocate(bytes)`
  // returns; the response's dim goes to *dim.
  template <typename Allocate>
  absl::Status PullInto(const PullRequest& req, Allocate allocate,
                        uint32_t* dim);

  TableStore* const store_;
  const PsServiceOptions options_;
};

// DenseService, registered by hand as EmbeddingService is (the same method
// names and wire messages as the generated DenseService::Service) so that
// neither direction copies the floats through protobuf: a pull's values go
// from the tensor straight into the one gRPC slice that is sent
// (PullToWire), and a push's gradients are read in place out of gRPC's
// slices (PushFromWire, DensePushRequestView), block by block, never copied
// whole. Pull and Push with proto messages stay for in-process callers
// (tests, the fuzzer); Pull and PullToWire answer the same bytes and the
// same errors, Push and PushFromWire the same effects, responses and
// errors.
class DenseServiceImpl final : public grpc::Service {
 public:
  DenseServiceImpl(TableStore* store, PsServiceOptions options);
  grpc::Status Pull(grpc::ServerContext* ctx, const DensePullRequest* req,
                    DensePullResponse* resp);
  grpc::Status PullToWire(grpc::ServerContext* ctx, const DensePullRequest* req,
                          grpc::ByteBuffer* resp);
  grpc::Status Push(grpc::ServerContext* ctx, const DensePushRequest* req,
                    DensePushResponse* resp);
  // `req`: a DensePushRequest's bytes as gRPC received them; INTERNAL when
  // they do not parse (what gRPC answers for the proto path).
  grpc::Status PushFromWire(grpc::ServerContext* ctx,
                            const grpc::ByteBuffer* req,
                            DensePushResponse* resp);

 private:
  // Checks `req` and reads its range into the buffer allocate(step, bytes,
  // size) returns (size: the tensor's element count); both Pull paths.
  template <typename Allocate>
  absl::Status PullInto(grpc::ServerContext* ctx, const DensePullRequest& req,
                        Allocate allocate);
  // Checks a push (`args`; its gradient: `gradient_bytes` bytes read
  // through `read`), passes the push gate and applies it once per request
  // id; both Push paths.
  grpc::Status ApplyPush(grpc::ServerContext* ctx, const DensePushFields& args,
                         size_t gradient_bytes, DenseTable::GradientReader read,
                         DensePushResponse* resp);

  TableStore* const store_;
  const PsServiceOptions options_;
};

class AdminServiceImpl final : public AdminService::Service {
 public:
  AdminServiceImpl(TableStore* store, PsServiceOptions options)
      : store_(store), options_(std::move(options)) {}
  grpc::Status CreateTable(grpc::ServerContext* ctx,
                           const CreateTableRequest* req,
                           CreateTableResponse* resp) override;
  grpc::Status DropTable(grpc::ServerContext* ctx, const DropTableRequest* req,
                         DropTableResponse* resp) override;
  grpc::Status ListTables(grpc::ServerContext* ctx,
                          const ListTablesRequest* req,
                          ListTablesResponse* resp) override;
  // Id 0: the shard picks one (its clock's Unix ms). Over TLS an explicit
  // id only from the coordinator's certificate (PERMISSION_DENIED
  // otherwise: cluster checkpoint ids come from the coordinator); over
  // plaintext from anyone.
  grpc::Status Checkpoint(grpc::ServerContext* ctx,
                          const CheckpointRequest* req,
                          CheckpointResponse* resp) override;
  grpc::Status Load(grpc::ServerContext* ctx, const LoadRequest* req,
                    LoadResponse* resp) override;
  grpc::Status ResetDenseSteps(grpc::ServerContext* ctx,
                               const ResetDenseStepsRequest* req,
                               ResetDenseStepsResponse* resp) override;
  grpc::Status PausePushes(grpc::ServerContext* ctx,
                           const PausePushesRequest* req,
                           PausePushesResponse* resp) override;

 private:
  TableStore* const store_;
  const PsServiceOptions options_;
};

class CompressionServiceImpl final : public CompressionService::Service {
 public:
  CompressionServiceImpl(TableStore* store, PsServiceOptions options)
      : store_(store), options_(std::move(options)) {}
  grpc::Status Compress(grpc::ServerContext* ctx, const CompressRequest* req,
                        CompressResponse* resp) override;
  grpc::Status GetStats(grpc::ServerContext* ctx, const StatsRequest* req,
                        StatsResponse* resp) override;
  // Bounded by max_per_field and by max_response_bytes
  // (RESOURCE_EXHAUSTED).
  grpc::Status SampleHead(grpc::ServerContext* ctx,
                          const SampleHeadRequest* req,
                          SampleHeadResponse* resp) override;

 private:
  TableStore* const store_;
  const PsServiceOptions options_;
};

}  // namespace strata

#endif  // STRATA_SERVER_PS_PS_SERVICE_H_
