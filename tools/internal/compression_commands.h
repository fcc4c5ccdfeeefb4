// stratactl stats / compress: Saec compression statistics and the admin
// action that compresses tables on every shard.
#ifndef STRATA_TOOLS_INTERNAL_COMPRESSION_COMMANDS_H_
#define STRATA_TOOLS_INTERNAL_COMPRESSION_COMMANDS_H_

#include <string>
#include <vector>

#include "google/protobuf/repeated_field.h"
#include "proto/ctl.pb.h"
#include "proto/ps.pb.h"
#include "tools/internal/command_util.h"

namespace strata {
namespace ctl {

// Per-field statistics of `table` (all tables when empty), merged over the
// shards into one table: features, clusters and bytes are summed, ratio is
// total bytes before / after, time is the slowest shard's, and MSE is the
// feature-weighted mean of the shards' frequency-weighted MSEs. JSON: a
// FieldStatsReport.
int RunStats(const CommandEnv& env, const std::string& table);
// Compresses `table` (every sparse table when empty) on every shard with
// the SaecConfig given in text format (e.g. "target_ratio: 30"), then
// prints the resulting statistics like RunStats (kExitRpc if any shard
// failed; the others are still shown). With `cluster_wide` (a named table
// only): PsAdminClient::CompressClusterWide with `samples_per_field`.
int RunCompress(const CommandEnv& env, const std::string& table,
                const std::string& saec_text, bool cluster_wide = false,
                uint64_t samples_per_field = 0);

// Exposed for tests: merges per-shard field statistics by (table, field)
// and renders them: text, or with env.json a FieldStatsReport (listing the
// `failed` shards too).
void PrintFieldStats(
    const CommandEnv& env, const std::vector<FieldStats>& per_shard,
    const google::protobuf::RepeatedPtrField<ShardError>& failed = {});

}  // namespace ctl
}  // namespace strata

#endif  // STRATA_TOOLS_INTERNAL_COMPRESSION_COMMANDS_H_
