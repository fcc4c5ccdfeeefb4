// Cluster subcommands of stratactl: health, nodes, tables, checkpoint,
// load. The coordinator's GetCluster gives the nodes and the shard
// addresses; shards are then called in parallel through a PsAdminClient.
// Results go to env.out (with env.json one JSON message: the coordinator's
// reply or a proto/ctl.proto report), errors to env.err; each returns the
// exit code.
#ifndef STRATA_TOOLS_INTERNAL_CLUSTER_COMMANDS_H_
#define STRATA_TOOLS_INTERNAL_CLUSTER_COMMANDS_H_

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "absl/types/optional.h"
#include "server/client/ps_admin_client.h"
#include "tools/internal/command_util.h"

namespace strata {
namespace ctl {

// An admin client for the shards the coordinator reports (by shard id), or
// FAILED_PRECONDITION when it does not know a complete set of live shards.
absl::StatusOr<std::unique_ptr<PsAdminClient>> AdminForCluster(
    const CommandEnv& env);

// grpc.health.v1 Check on the coordinator, then on every registered node
// that has an address. kExitOk only when all of them are SERVING. JSON: a
// HealthReport.
int RunHealth(const CommandEnv& env);

// The registered nodes (coordinator's view). JSON: the ClusterResponse.
int RunNodes(const CommandEnv& env);

// Every shard's tables, merged by name: kind, dim or size, rows per shard
// and in total, bytes, optimizer. kExitRpc if any shard failed (the others
// are still shown). JSON: a TablesReport.
int RunTables(const CommandEnv& env);

// ClusterAdminService.Checkpoint: the coordinator takes a consistent
// checkpoint of every shard under an id it picks (ids come from the
// cluster, docs/checkpoint.md). kExitRpc if it failed. JSON: a
// CheckpointReport.
int RunCheckpoint(const CommandEnv& env);

// AdminService.Load on all shards (id 0 or unset: each shard's newest
// complete checkpoint). kExitRpc if any shard failed or the shards loaded
// different checkpoints. JSON: a LoadReport.
int RunLoad(const CommandEnv& env, absl::optional<uint64_t> id);

}  // namespace ctl
}  // namespace strata

#endif  // STRATA_TOOLS_INTERNAL_CLUSTER_COMMANDS_H_
