#include "server/client/ps_admin_client.h"

#include <algorithm>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "proto/base/status_macros.h"
#include "server/client/internal/cluster_samples.h"
#include "server/client/internal/shard_group.h"

namespace strata {

using internal::ShardStubs;

absl::StatusOr<std::unique_ptr<PsAdminClient>> PsAdminClient::Connect(
    const std::vector<std::string>& addresses, PsAdminClientOptions options,
    std::unique_ptr<ShardRouter> router) {
  STRATA_ASSIGN_OR_RETURN(
      std::shared_ptr<const internal::ShardGroup> shards,
      internal::ShardGroup::Connect(addresses, options, std::move(router)));
  return std::make_unique<PsAdminClient>(std::move(shards), options);
}

PsAdminClient::PsAdminClient(std::shared_ptr<const internal::ShardGroup> shards,
                             PsAdminClientOptions options)
    : shards_(std::move(shards)), options_(options) {}

PsAdminClient::~PsAdminClient() = default;

uint32_t PsAdminClient::num_shards() const { return shards_->size(); }

// Sends `req` to each of `shards` and collects their results.
template <typename Req, typename Resp, typename Prepare>
PerShard<Resp> PsAdminClient::Ask(const std::vector<uint32_t>& shards,
                                  absl::string_view method, const Req& req,
                                  Prepare prepare,
                                  absl::Duration timeout) const {
  const internal::FanOutCall call = internal::FanOutCall::With(
      options_, method, timeout, /*stop_at_first_error=*/false);
  std::vector<Resp> resps;
  std::vector<absl::Status> statuses;
  (void)internal::FanOut(*shards_, call, shards,
                         std::vector<Req>(shards.size(), req), &resps, prepare,
                         &statuses);
  PerShard<Resp> results(shards.size());
  for (size_t i = 0; i < shards.size(); ++i) {
    results[i].shard = shards[i];
    results[i].address = shards_->shard(shards[i]).address;
    if (statuses[i].ok()) {
      results[i].response = std::move(resps[i]);
    } else {
      results[i].response = statuses[i];
    }
  }
  return results;
}

template <typename Req, typename Resp, typename Prepare>
PerShard<Resp> PsAdminClient::Broadcast(absl::string_view method,
                                        const Req& req, Prepare prepare,
                                        absl::Duration timeout) const {
  std::vector<uint32_t> all(num_shards());
  for (uint32_t s = 0; s < all.size(); ++s) all[s] = s;
  return Ask<Req, Resp>(all, method, req, prepare, timeout);
}

PerShard<CreateTableResponse> PsAdminClient::CreateTable(
    const TableConfig& config, bool if_not_exists) {
  CreateTableRequest req;
  *req.mutable_sparse() = config;
  req.set_if_not_exists(if_not_exists);
  return Broadcast<CreateTableRequest, CreateTableResponse>(
      absl::StrCat("CreateTable(", config.name(), ")"), req,
      [](const ShardStubs& sh, grpc::ClientContext* ctx,
         const CreateTableRequest& r, grpc::CompletionQueue* cq) {
        return sh.admin->PrepareAsyncCreateTable(ctx, r, cq);
      },
      options_.rpc_timeout);
}

ShardResult<CreateTableResponse> PsAdminClient::CreateDense(
    const DenseConfig& config, bool if_not_exists) {
  CreateTableRequest req;
  *req.mutable_dense() = config;
  req.set_if_not_exists(if_not_exists);
  PerShard<CreateTableResponse> one =
      Ask<CreateTableRequest, CreateTableResponse>(
          {shards_->router().ShardForName(config.name())},
          absl::StrCat("CreateDense(", config.name(), ")"), req,
          [](const ShardStubs& sh, grpc::ClientContext* ctx,
             const CreateTableRequest& r, grpc::CompletionQueue* cq) {
            return sh.admin->PrepareAsyncCreateTable(ctx, r, cq);
          },
          options_.rpc_timeout);
  return std::move(one.front());
}

PerShard<DropTableResponse> PsAdminClient::DropTable(const std::string& name) {
  DropTableRequest req;
  req.set_name(name);
  return Broadcast<DropTableRequest, DropTableResponse>(
      absl::StrCat("DropTable(", name, ")"), req,
      [](const ShardStubs& sh, grpc::ClientContext* ctx,
         const DropTableRequest& r, grpc::CompletionQueue* cq) {
        return sh.admin->PrepareAsyncDropTable(ctx, r, cq);
      },
      options_.rpc_timeout);
}

PerShard<ResetDenseStepsResponse> PsAdminClient::ResetDenseSteps(
    const std::string& prefix) {
  ResetDenseStepsRequest req;
  req.set_prefix(prefix);
  return Broadcast<ResetDenseStepsRequest, ResetDenseStepsResponse>(
      absl::StrCat("ResetDenseSteps(", prefix, ")"), req,
      [](const ShardStubs& sh, grpc::ClientContext* ctx,
         const ResetDenseStepsRequest& r, grpc::CompletionQueue* cq) {
        return sh.admin->PrepareAsyncResetDenseSteps(ctx, r, cq);
      },
      options_.rpc_timeout);
}

PerShard<ListTablesResponse> PsAdminClient::ListTables() {
  return Broadcast<ListTablesRequest, ListTablesResponse>(
      "ListTables", ListTablesRequest(),
      [](const ShardStubs& sh, grpc::ClientContext* ctx,
         const ListTablesRequest& r, grpc::CompletionQueue* cq) {
        return sh.admin->PrepareAsyncListTables(ctx, r, cq);
      },
      options_.rpc_timeout);
}

PerShard<CheckpointResponse> PsAdminClient::Checkpoint(uint64_t id) {
  if (id == 0) id = absl::ToUnixMillis(absl::Now());
  CheckpointRequest req;
  req.set_checkpoint_id(id);
  PerShard<CheckpointResponse> results =
      Broadcast<CheckpointRequest, CheckpointResponse>(
          "Checkpoint", req,
          [](const ShardStubs& sh, grpc::ClientContext* ctx,
             const CheckpointRequest& r, grpc::CompletionQueue* cq) {
            return sh.admin->PrepareAsyncCheckpoint(ctx, r, cq);
          },
          options_.rpc_timeout * options_.checkpoint_timeout_factor);
  for (ShardResult<CheckpointResponse>& r : results) {
    if (r.ok() && r.response->checkpoint_id() != id) {
      r.response = absl::InternalError(absl::StrCat(
          ShardLabel(r.shard), " ", r.address, " wrote checkpoint ",
          r.response->checkpoint_id(), " instead of ", id));
    }
  }
  return results;
}

PerShard<PausePushesResponse> PsAdminClient::PausePushes(bool pause,
                                                         absl::Duration lease) {
  PausePushesRequest req;
  req.set_pause(pause);
  if (pause) req.set_lease_ms(absl::ToInt64Milliseconds(lease));
  // A pause waits for the pushes in flight, for up to the lease.
  return Broadcast<PausePushesRequest, PausePushesResponse>(
      pause ? "PausePushes" : "ResumePushes", req,
      [](const ShardStubs& sh, grpc::ClientContext* ctx,
         const PausePushesRequest& r, grpc::CompletionQueue* cq) {
        return sh.admin->PrepareAsyncPausePushes(ctx, r, cq);
      },
      options_.rpc_timeout + (pause ? lease : absl::ZeroDuration()));
}

PerShard<CheckpointResponse> PsAdminClient::ConsistentCheckpoint(uint64_t id) {
  if (id == 0) id = absl::ToUnixMillis(absl::Now());
  const PerShard<PausePushesResponse> paused =
      PausePushes(true, options_.push_pause_lease);
  const absl::Status all_paused = AllOk(paused);
  PerShard<CheckpointResponse> results;
  if (all_paused.ok()) {
    results = Checkpoint(id);
  } else {
    for (const ShardResult<PausePushesResponse>& p : paused) {
      ShardResult<CheckpointResponse>& r = results.emplace_back();
      r.shard = p.shard;
      r.address = p.address;
      r.response =
          p.ok()
              ? absl::AbortedError(absl::StrCat("checkpoint ", id,
                                                " not written: a shard did not "
                                                "pause its pushes (",
                                                all_paused.message(), ")"))
              : p.status();
    }
  }
  // The leases would end the pause anyway; resuming now frees the pushes.
  PausePushes(false, absl::ZeroDuration());
  return results;
}

PerShard<LoadResponse> PsAdminClient::Load(uint64_t id) {
  LoadRequest req;
  req.set_checkpoint_id(id);
  return Broadcast<LoadRequest, LoadResponse>(
      "Load", req,
      [](const ShardStubs& sh, grpc::ClientContext* ctx, const LoadRequest& r,
         grpc::CompletionQueue* cq) {
        return sh.admin->PrepareAsyncLoad(ctx, r, cq);
      },
      options_.rpc_timeout * options_.checkpoint_timeout_factor);
}

PerShard<CompressResponse> PsAdminClient::Compress(const std::string& table,
                                                   const SaecConfig& config) {
  return Compress(table, config, {});
}

PerShard<SampleHeadResponse> PsAdminClient::SampleHead(
    const std::string& table, const SaecConfig& config,
    uint64_t max_per_field) {
  SampleHeadRequest req;
  req.set_table(table);
  *req.mutable_config() = config;
  req.set_max_per_field(max_per_field);
  return Broadcast<SampleHeadRequest, SampleHeadResponse>(
      "SampleHead", req,
      [](const ShardStubs& sh, grpc::ClientContext* ctx,
         const SampleHeadRequest& r, grpc::CompletionQueue* cq) {
        return sh.compression->PrepareAsyncSampleHead(ctx, r, cq);
      },
      options_.rpc_timeout * options_.compress_timeout_factor);
}

PerShard<CompressResponse> PsAdminClient::Compress(
    const std::string& table, const SaecConfig& config,
    const std::vector<FieldCentroids>& centroids) {
  CompressRequest req;
  req.set_table(table);
  *req.mutable_config() = config;
  for (const FieldCentroids& c : centroids) *req.add_centroids() = c;
  return Broadcast<CompressRequest, CompressResponse>(
      "Compress", req,
      [](const ShardStubs& sh, grpc::ClientContext* ctx,
         const CompressRequest& r, grpc::CompletionQueue* cq) {
        return sh.compression->PrepareAsyncCompress(ctx, r, cq);
      },
      options_.rpc_timeout * options_.compress_timeout_factor);
}

absl::StatusOr<PerShard<CompressResponse>> PsAdminClient::CompressClusterWide(
    const std::string& table, const SaecConfig& config,
    uint64_t max_per_field) {
  STRATA_ASSIGN_OR_RETURN(
      std::vector<SampleHeadResponse> samples,
      RequireAllOk(SampleHead(table, config, max_per_field)));
  // Already cluster-wide on every shard: a fold with the current centroids.
  const bool fold = std::all_of(
      samples.begin(), samples.end(),
      [](const SampleHeadResponse& s) { return s.cluster_wide(); });
  STRATA_ASSIGN_OR_RETURN(const std::vector<FieldCentroids> centroids,
                          fold ? internal::GatherHomedCentroids(samples)
                               : internal::ClusterSamples(samples));
  return Compress(table, config, centroids);
}

PerShard<StatsResponse> PsAdminClient::CompressionStats(
    const std::string& table) {
  StatsRequest req;
  req.set_table(table);
  return Broadcast<StatsRequest, StatsResponse>(
      "GetStats", req,
      [](const ShardStubs& sh, grpc::ClientContext* ctx, const StatsRequest& r,
         grpc::CompletionQueue* cq) {
        return sh.compression->PrepareAsyncGetStats(ctx, r, cq);
      },
      options_.rpc_timeout);
}

absl::Status CheckSameCheckpoint(const PerShard<LoadResponse>& results) {
  std::map<uint64_t, std::vector<uint32_t>> shards_by_id;
  for (const ShardResult<LoadResponse>& r : results) {
    if (r.ok()) shards_by_id[r.response->checkpoint_id()].push_back(r.shard);
  }
  if (shards_by_id.size() <= 1) return absl::OkStatus();
  std::vector<std::string> parts;
  for (const auto& [id, shards] : shards_by_id) {
    parts.push_back(absl::StrCat("checkpoint ", id, " on shard(s) ",
                                 absl::StrJoin(shards, ",")));
  }
  return absl::FailedPreconditionError(
      absl::StrCat("the shards loaded different checkpoints (",
                   absl::StrJoin(parts, "; "), ")"));
}

}  // namespace strata
