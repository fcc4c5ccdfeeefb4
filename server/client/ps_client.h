// Data-plane client of a sharded parameter server: sparse pull/push and
// dense pull/push, the training hot path. Used by workers, benchmarks and
// tests; administration (tables, checkpoints, compression) is PsAdminClient,
// reachable over the same channels through admin().
//
// For every batched call the client de-duplicates keys, routes each distinct
// key to its shard through a ShardRouter, sends one request per shard in
// parallel (asynchronous gRPC on one completion queue), and reassembles the
// results in request order. Every RPC has a deadline; UNAVAILABLE (and a
// shutting-down shard's CANCELLED) is retried with backoff for a bounded time
// (ShardRpcOptions::retry_for), so a shard restart is ridden out. Every push
// request carries a request id (this client's random id and its count of pushes
// to that shard) and a retry re-sends the same request, so a shard applies it
// at most once even when the connection broke after the apply
// (docs/protocol.md, "Request ids").
//
// A table compressed cluster-wide (docs/saec.md, "Cluster-wide clusters")
// takes one extra round trip: the keys are first Resolved by their owners
// (to their cluster's ClusterKey, or themselves), then pulled from or
// pushed to the resolved keys' shards with `resolved` set. A push's
// gradients are combined per resolved key here, on the client, which sees
// the whole batch: summed per key, then summed or averaged over the
// distinct keys of a cluster (the table's cluster_gradient), as one shard
// holding the whole table would. Which tables are cluster-wide is learnt
// lazily: a shard refuses an unresolved pull or push of one
// (FAILED_PRECONDITION "... resolve keys first"), on which the client
// reads ListTables, caches the answer and retries once.
#ifndef STRATA_SERVER_CLIENT_PS_CLIENT_H_
#define STRATA_SERVER_CLIENT_PS_CLIENT_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "proto/ps.pb.h"
#include "server/client/ps_admin_client.h"
#include "server/client/shard_rpc.h"
#include "server/router/router.h"

namespace strata {

class DensePullResponseView;  // server/ps/payload_wire.h

struct PsClientOptions : ShardRpcOptions {
  // How long a BSP dense pull may wait for the other workers' pushes.
  absl::Duration dense_wait_timeout = absl::Minutes(5);
  // Polled while a BSP dense pull waits for the other workers: once it
  // returns true the pull ends CANCELLED within dense_wait_slice (a task
  // passes its TaskContext::cancelled, so a cancelled job's task blocked in
  // a step stops within about a second instead of being killed). Empty:
  // the pull waits out dense_wait_timeout in one call.
  std::function<bool()> cancelled;
  // With `cancelled`: a waiting pull is sent as calls of at most this long,
  // re-sent until dense_wait_timeout. Shorter stops sooner on cancel at the
  // cost of one more request per slice of waiting.
  absl::Duration dense_wait_slice = absl::Seconds(1);
  // Batches larger than this are split into several requests per shard, so
  // one call never exceeds message limits. Wide rows split sooner: a request
  // holds at most as many keys as fit max_message_bytes (less 64 KiB of
  // headroom) at 8 + 4 * dim bytes a key.
  size_t max_keys_per_request = 1 << 20;
  // A push of distinct keys goes out in up to this many consecutive parts
  // of the batch (fewer when a shard's share of a part would be under
  // min_push_piece_keys keys), each routed, gathered and sent, one request
  // per shard, before the next is routed: the shards apply the first parts
  // while the client routes, gathers and sends the rest. More pieces
  // overlap more, at a request's fixed cost apiece (a few microseconds, one
  // more id in each shard's exactly-once window, a server thread). 1: one
  // request per shard. 4 pieces against 1 on a 2-core machine: up to +26%
  // pushed keys/s at dims 16 and 64, CPU per key up to 12% higher at dim 16
  // (docs/benchmarks.md, "Fifth step"); routing each part just before it
  // is sent instead of the whole batch first: "Seventh step".
  uint32_t push_pieces = 4;
  size_t min_push_piece_keys = 8192;
  // De-duplicate keys before sending. Pulls return the same row for every
  // occurrence; pushes sum the gradients of duplicate keys. Turning it off
  // saves a hash-map pass when the caller guarantees unique keys.
  bool dedup = true;
};

struct PullOptions {
  // Count the pulled keys' frequency on the server (training: yes;
  // evaluation: no, so Saec's statistics see only training traffic).
  bool count_frequency = true;
  // Do not create missing keys; they read as the initializer's values.
  bool read_only = false;
};

// Thread-safe: concurrent calls share the channels; each call uses its own
// completion queue and its thread's scratch buffers (routing tables, row
// pointers, response views: reused, so a thread keeps the memory of its
// largest batch). Sparse Pull/Push payloads travel in gRPC slices
// (server/ps/payload_wire.h): one slice per request, written in place; a
// pull's rows are copied once, from the received slices to the caller's
// buffer. Shares its channels and router (shared_ptr) with its admin
// client.
class PsClient {
 public:
  // `addresses` lists the shards by shard id. With no router a HashRouter
  // over addresses.size() shards is used. Connect does not wait for the
  // shards to be up (the first RPC does, within its deadline).
  static absl::StatusOr<std::unique_ptr<PsClient>> Connect(
      std::vector<std::string> addresses, PsClientOptions options = {},
      std::unique_ptr<ShardRouter> router = nullptr);

  ~PsClient();
  PsClient(const PsClient&) = delete;
  PsClient& operator=(const PsClient&) = delete;

  uint32_t num_shards() const { return router_->num_shards(); }
  const ShardRouter& router() const { return *router_; }
  // This client's request id (random, from getrandom; never 0).
  uint64_t client_id() const { return client_id_; }

  // Administration over the same channels, with this client's deadline,
  // retries and message size. Lives as long as this client.
  PsAdminClient& admin() const { return *admin_; }

  // --- Sparse. `out` must hold keys.size() * dim floats; row i is key i's.
  absl::Status Pull(const std::string& table, absl::Span<const uint64_t> keys,
                    uint32_t dim, float* out, const PullOptions& opts = {});
  // grads.size() must be keys.size() * dim. Each request (a shard's share,
  // or a piece of it: push_pieces) is checked whole by its shard before any
  // of it is applied; the batch as a whole is not atomic: when one request
  // is refused (a non-finite gradient, a full shard) the others may have
  // been applied, as each shard decides alone. A retried request is applied
  // at most once (request ids).
  absl::Status Push(const std::string& table, absl::Span<const uint64_t> keys,
                    absl::Span<const float> grads, uint32_t dim);
  // The key each of `keys` is pulled and pushed under (EmbeddingService
  // Resolve, sent to each key's owner): itself unless `table` is
  // compressed cluster-wide.
  absl::StatusOr<std::vector<uint64_t>> Resolve(
      const std::string& table, absl::Span<const uint64_t> keys);

  // --- Dense: a tensor lives on the shard router().ShardForName(name).
  // Returns the tensor's step. A tensor whose floats do not fit one message
  // (max_message_bytes less 64 KiB) travels in chunks (element ranges, in
  // order, one at a time; docs/protocol.md). A pull asks for the whole
  // tensor unless `out` already holds more than one message; refused
  // RESOURCE_EXHAUSTED, or with such an `out`, it learns the size from a
  // one-element pull and reads the tensor chunk by chunk. ASYNC chunks may
  // be read at different steps; the oldest is returned. A chunked pull that
  // fails may leave part of the tensor in `out`. A chunked push checks the
  // tensor's size first (INVALID_ARGUMENT for another length) and is not
  // atomic: a chunk refused midway leaves the earlier ones applied (ASYNC)
  // or accumulated (BSP, where the worker may resume at the refused chunk).
  absl::StatusOr<int64_t> PullDense(const std::string& name, int64_t min_step,
                                    std::vector<float>* out);
  absl::StatusOr<int64_t> PushDense(const std::string& name,
                                    absl::Span<const float> grads, int64_t step,
                                    uint32_t worker);

 private:
  struct RoutedBatch;
  // What the client knows of a table's compression (TableInfo).
  struct TableMode {
    bool cluster_wide = false;
    ClusterGradient cluster_gradient = CLUSTER_GRADIENT_DEFAULT;
  };
  // The cached mode of `table` (plain until a shard says otherwise).
  TableMode ModeOf(const std::string& table) const;
  // Reads `table`'s mode from ListTables (the first shard that answers)
  // into the cache.
  absl::StatusOr<TableMode> RefreshMode(const std::string& table) const;
  // Pull and Push of keys as given (resolved or not) to their shards.
  absl::Status PullRouted(const std::string& table,
                          absl::Span<const uint64_t> keys, uint32_t dim,
                          float* out, const PullOptions& opts, bool resolved);
  absl::Status PushRouted(const std::string& table,
                          absl::Span<const uint64_t> keys,
                          absl::Span<const float> grads, uint32_t dim,
                          bool resolved);
  // The cluster-wide data path (this file's header comment).
  absl::Status PullClusterWide(const std::string& table,
                               absl::Span<const uint64_t> keys, uint32_t dim,
                               float* out, const PullOptions& opts);
  absl::Status PushClusterWide(const std::string& table, TableMode mode,
                               absl::Span<const uint64_t> keys,
                               absl::Span<const float> grads, uint32_t dim);
  // A push of distinct keys in `pieces` consecutive parts of the batch,
  // each routed, gathered and sent before the next is routed.
  absl::Status PushInPieces(const std::string& table,
                            absl::Span<const uint64_t> keys,
                            absl::Span<const float> grads, uint32_t dim,
                            bool resolved, size_t pieces);

  PsClient(std::shared_ptr<const internal::ShardGroup> shards,
           PsClientOptions options);

  // De-duplicates and routes `keys` into `batch`; true when every key is
  // distinct (then, if `with_index`, batch->shard_index is filled too).
  bool Route(absl::Span<const uint64_t> keys, RoutedBatch* batch,
             bool with_index) const;
  // Whether Route would find `keys` distinct without a hash pass: dedup is
  // off (the caller guarantees it) or they strictly increase.
  bool KnownDistinct(absl::Span<const uint64_t> keys) const;
  // Routes keys known to be distinct into `batch` (slot and shard_index;
  // batch index `base` + i for keys[i]).
  void RouteDistinctKeys(absl::Span<const uint64_t> keys, uint32_t base,
                         RoutedBatch* batch) const;
  // The next request sequence number of this client to `shard`.
  uint64_t NextSequence(uint32_t shard) const;
  // One dense RPC for elements [offset, offset + count) (count 0: to the
  // end) of tensor `name`; the response is left in `view`, its values not
  // yet copied (INTERNAL when it does not parse).
  absl::Status PullDenseRange(const std::string& name, int64_t min_step,
                              uint64_t offset, uint64_t count,
                              DensePullResponseView* view) const;
  absl::StatusOr<int64_t> PushDenseRange(const std::string& name,
                                         absl::Span<const float> grads,
                                         uint64_t offset, uint64_t count,
                                         int64_t step, uint32_t worker) const;
  // The tensor's element count, from a one-element pull.
  absl::StatusOr<uint64_t> DenseSize(const std::string& name,
                                     int64_t min_step) const;
  absl::StatusOr<int64_t> PullDenseChunks(const std::string& name,
                                          int64_t min_step,
                                          std::vector<float>* out);
  template <typename Req, typename Resp, typename Prepare>
  absl::Status FanOut(const std::string& what,
                      const std::vector<uint32_t>& shard_of,
                      const std::vector<Req>& reqs, std::vector<Resp>* resps,
                      Prepare prepare, absl::Duration timeout) const;

  // Constant after construction.
  const PsClientOptions options_;
  const std::shared_ptr<const internal::ShardGroup> shards_;
  const ShardRouter* const router_;  // owned by shards_
  const std::unique_ptr<PsAdminClient> admin_;
  const uint64_t client_id_;
  // The last push sequence sent to each shard (by shard id).
  const std::unique_ptr<std::atomic<uint64_t>[]> sequences_;
  mutable absl::Mutex modes_mu_;
  // Tables known to be compressed (cluster-wide or not), by name.
  mutable absl::flat_hash_map<std::string, TableMode> modes_
      ABSL_GUARDED_BY(modes_mu_);
};

}  // namespace strata

#endif  // STRATA_SERVER_CLIENT_PS_CLIENT_H_
