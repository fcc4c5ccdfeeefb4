// Administration of a sharded parameter server: create, drop and list
// tables and dense tensors, checkpoint and load, Saec compression and its
// statistics. Used by stratactl and by the worker tasks that create their
// model (through PsClient::admin()).
//
// Every call that goes to several shards sends them one request each, all in
// flight at once, and returns one result per shard (PerShard<T>), so a caller
// can say exactly which shards failed; AllOk / RequireAllOk (per_shard.h)
// merge them when one status is all it needs. UNAVAILABLE (and CANCELLED) is
// retried like in the data-plane client; other errors are the shard's
// answer.
#ifndef STRATA_SERVER_CLIENT_PS_ADMIN_CLIENT_H_
#define STRATA_SERVER_CLIENT_PS_ADMIN_CLIENT_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "proto/ps.pb.h"
#include "server/client/per_shard.h"
#include "server/client/shard_rpc.h"
#include "server/router/router.h"

namespace strata {

namespace internal {
class ShardGroup;
}  // namespace internal

struct PsAdminClientOptions : ShardRpcOptions {
  // Checkpoint and Load write or read every row: their deadline is this many
  // times rpc_timeout.
  int checkpoint_timeout_factor = 10;
  // Compress clusters whole tables: its deadline is this many times
  // rpc_timeout.
  int compress_timeout_factor = 20;
  // How long ConsistentCheckpoint pauses the shards' pushes (the lease; the
  // shards resume by themselves after it, and refuse more than
  // kMaxPushPauseLease, 60 s). The checkpoint is a consistent cut if every
  // shard writes its file within it; longer holds pushes longer if the
  // caller dies.
  absl::Duration push_pause_lease = absl::Seconds(60);
};

// Thread-safe: calls share the channels and keep their state on the stack.
// Shares its channels and router (shared_ptr) with the PsClient it may have
// come from; they live as long as either client.
class PsAdminClient {
 public:
  // `addresses` lists the shards by shard id. With no router a HashRouter
  // over addresses.size() shards is used (it places dense tensors).
  static absl::StatusOr<std::unique_ptr<PsAdminClient>> Connect(
      const std::vector<std::string>& addresses,
      PsAdminClientOptions options = {},
      std::unique_ptr<ShardRouter> router = nullptr);
  // Over the channels of an existing client (PsClient::admin()).
  PsAdminClient(std::shared_ptr<const internal::ShardGroup> shards,
                PsAdminClientOptions options);

  ~PsAdminClient();
  PsAdminClient(const PsAdminClient&) = delete;
  PsAdminClient& operator=(const PsAdminClient&) = delete;

  uint32_t num_shards() const;

  // A sparse table is created on every shard.
  PerShard<CreateTableResponse> CreateTable(const TableConfig& config,
                                            bool if_not_exists);
  // A dense tensor lives on one shard, router().ShardForName(name): this is
  // that shard's result.
  ShardResult<CreateTableResponse> CreateDense(const DenseConfig& config,
                                               bool if_not_exists);
  // Asks every shard; a dense tensor's shard answers OK, the others
  // NOT_FOUND. OkOnSomeShard tells whether the name was dropped.
  PerShard<DropTableResponse> DropTable(const std::string& name);
  PerShard<ListTablesResponse> ListTables();
  // Every shard discards the open step's pushes of its BSP tensors whose
  // names start with `prefix` (ResetDenseStepsRequest).
  PerShard<ResetDenseStepsResponse> ResetDenseSteps(const std::string& prefix);
  // One checkpoint id for all shards; 0 picks the current Unix ms. A shard
  // that reports another id than the one asked for is INTERNAL.
  PerShard<CheckpointResponse> Checkpoint(uint64_t id);
  // Holds (pause, for `lease`) or releases every shard's pushes
  // (PausePushesRequest). A pause is answered once the pushes in flight
  // are done.
  PerShard<PausePushesResponse> PausePushes(bool pause, absl::Duration lease);
  // A consistent cut across shards: pauses every shard's pushes
  // (push_pause_lease) and waits for those in flight, writes checkpoint
  // `id` (0: the current Unix ms) on every shard, then resumes the pushes,
  // also after an error. When a shard cannot be paused nothing is written:
  // its result is its pause error and the others' ABORTED. Pushes held
  // meanwhile go on after the resume (docs/checkpoint.md, "Consistency").
  PerShard<CheckpointResponse> ConsistentCheckpoint(uint64_t id);
  // Checkpoint `id`; 0 lets each shard load its newest complete one
  // (CheckSameCheckpoint then tells whether they agree).
  PerShard<LoadResponse> Load(uint64_t id);
  // Saec-compresses `table` (all sparse tables when empty).
  PerShard<CompressResponse> Compress(const std::string& table,
                                      const SaecConfig& config);
  // Per-field compression statistics (`table`, or all when empty).
  PerShard<StatsResponse> CompressionStats(const std::string& table);
  // --- Cluster-wide compression (docs/saec.md, "Cluster-wide clusters").
  // Each shard's head features and tail sample of plain table `table`
  // (max_per_field 0: the shard's default).
  PerShard<SampleHeadResponse> SampleHead(const std::string& table,
                                          const SaecConfig& config,
                                          uint64_t max_per_field);
  // Compress with the fields' cluster-wide centroids on every shard.
  PerShard<CompressResponse> Compress(
      const std::string& table, const SaecConfig& config,
      const std::vector<FieldCentroids>& centroids);
  // The whole protocol: SampleHead on every shard, one clustering per field
  // over the union of the samples (ClusterSamples), then Compress with the
  // centroids on every shard. The first SampleHead or clustering error is
  // returned as is (nothing was compressed). On a table already compressed
  // cluster-wide: a fold of its new rows into the current centroids,
  // gathered from their homes.
  absl::StatusOr<PerShard<CompressResponse>> CompressClusterWide(
      const std::string& table, const SaecConfig& config,
      uint64_t max_per_field = 0);

 private:
  template <typename Req, typename Resp, typename Prepare>
  PerShard<Resp> Ask(const std::vector<uint32_t>& shards,
                     absl::string_view method, const Req& req, Prepare prepare,
                     absl::Duration timeout) const;
  template <typename Req, typename Resp, typename Prepare>
  PerShard<Resp> Broadcast(absl::string_view method, const Req& req,
                           Prepare prepare, absl::Duration timeout) const;

  // Constant after construction.
  const std::shared_ptr<const internal::ShardGroup> shards_;
  const PsAdminClientOptions options_;
};

// FAILED_PRECONDITION when the shards that loaded did not all load the same
// checkpoint (possible after Load(0)); shards that failed are not counted.
absl::Status CheckSameCheckpoint(const PerShard<LoadResponse>& results);

}  // namespace strata

#endif  // STRATA_SERVER_CLIENT_PS_ADMIN_CLIENT_H_
