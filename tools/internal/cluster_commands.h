// Cluster subcommands of stratactl: health, nodes, tables, checkpoint,
// load. The coordinator's GetCluster gives the nodes and the shard
// addresses; shards are then called in parallel. Results go to env.out
// (JSON only with env.json), errors to env.err; each returns the exit code.
#ifndef STRATA_TOOLS_INTERNAL_CLUSTER_COMMANDS_H_
#define STRATA_TOOLS_INTERNAL_CLUSTER_COMMANDS_H_

#include <cstdint>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/optional.h"
#include "tools/internal/command_util.h"

namespace strata {
namespace ctl {

// grpc.health.v1 Check on the coordinator, then on every registered node
// that has an address. kExitOk only when all of them are SERVING.
// The shard addresses by shard id, or FAILED_PRECONDITION when the
// coordinator does not know a complete set of live shards.
absl::StatusOr<std::vector<std::string>> ShardAddresses(const CommandEnv& env);

int RunHealth(const CommandEnv& env);

// The registered nodes (coordinator's view).
int RunNodes(const CommandEnv& env);

// Every shard's tables, merged by name: kind, dim or size, rows per shard
// and in total, bytes, optimizer. kExitRpc if any shard failed (the others
// are still shown).
int RunTables(const CommandEnv& env);

// AdminService.Checkpoint on all shards with one shared id (default: now in
// Unix ms). kExitRpc if any shard failed.
int RunCheckpoint(const CommandEnv& env, absl::optional<uint64_t> id);

// AdminService.Load on all shards (id 0 or unset: each shard's newest
// complete checkpoint). kExitRpc if any shard failed or the shards loaded
// different checkpoints.
int RunLoad(const CommandEnv& env, absl::optional<uint64_t> id);

}  // namespace ctl
}  // namespace strata

#endif  // STRATA_TOOLS_INTERNAL_CLUSTER_COMMANDS_H_
