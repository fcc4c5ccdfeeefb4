#include "tools/internal/cluster_commands.h"

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "tools/internal/format.h"

namespace strata {
namespace ctl {
namespace {

using ServingStatus = CtlClient::ServingStatus;

std::string ShardLabel(size_t shard) {
  return absl::StrCat("ps shard ", shard);
}

std::string NodeLabel(const NodeInfo& node) {
  if (node.role() == "ps") return ShardLabel(node.shard_id());
  return absl::StrCat(node.role(), " node ", node.node_id());
}

// ps shards first, by shard id, then the other nodes by role
// and id.
bool NodeOrder(const NodeInfo& a, const NodeInfo& b) {
  const bool a_ps = a.role() == "ps";
  const bool b_ps = b.role() == "ps";
  if (a_ps != b_ps) return a_ps;
  if (a_ps && a.shard_id() != b.shard_id()) return a.shard_id() < b.shard_id();
  if (a.role() != b.role()) return a.role() < b.role();
  return a.node_id() < b.node_id();
}

std::vector<NodeInfo> SortedNodes(const ClusterResponse& cluster) {
  std::vector<NodeInfo> nodes(cluster.nodes().begin(), cluster.nodes().end());
  std::stable_sort(nodes.begin(), nodes.end(), NodeOrder);
  return nodes;
}


std::string HealthName(const absl::StatusOr<ServingStatus>& health) {
  if (!health.ok()) return absl::StatusCodeToString(health.status().code());
  return grpc::health::v1::HealthCheckResponse::ServingStatus_Name(*health);
}

bool Serving(const absl::StatusOr<ServingStatus>& health) {
  return health.ok() &&
         *health == grpc::health::v1::HealthCheckResponse::SERVING;
}

// `health` is null for a node that was not checked (it has no address).
std::string HealthEntryJson(absl::string_view role, absl::string_view node_id,
                            absl::string_view address, bool alive,
                            const absl::StatusOr<ServingStatus>* health) {
  JsonObject entry;
  entry.AddString("role", role)
      .AddString("node_id", node_id)
      .AddString("address", address)
      .AddBool("alive", alive)
      .AddString("health",
                 health == nullptr ? "NOT_CHECKED" : HealthName(*health));
  if (health != nullptr && !health->ok()) {
    entry.AddRaw("error", ErrorJson(health->status()));
  }
  return entry.Build();
}

}  // namespace

absl::StatusOr<std::vector<std::string>> ShardAddresses(const CommandEnv& env) {
  absl::StatusOr<ClusterResponse> cluster = env.client->GetCluster();
  if (!cluster.ok()) return cluster.status();
  if (cluster->ps_addresses().empty()) {
    int live = 0;
    uint32_t expected = 0;
    for (const NodeInfo& node : cluster->nodes()) {
      if (node.role() != "ps") continue;
      live += node.alive();
      expected = std::max(expected, node.num_shards());
    }
    return absl::FailedPreconditionError(absl::StrCat(
        "the coordinator ", env.client->coordinator(),
        " has no complete set of live ps shards (", live, " alive of ",
        expected == 0 ? std::string("?") : absl::StrCat(expected),
        " expected)"));
  }
  return std::vector<std::string>(cluster->ps_addresses().begin(),
                                  cluster->ps_addresses().end());
}

int RunHealth(const CommandEnv& env) {
  const absl::StatusOr<ServingStatus> coordinator =
      env.client->CheckHealth("coordinator", env.client->coordinator());
  if (!coordinator.ok()) return ReportRpcError(env, coordinator.status());
  absl::StatusOr<ClusterResponse> cluster = env.client->GetCluster();
  if (!cluster.ok()) return ReportRpcError(env, cluster.status());
  const std::vector<NodeInfo> nodes = SortedNodes(*cluster);
  std::vector<absl::StatusOr<ServingStatus>> health(
      nodes.size(), absl::NotFoundError("no address"));
  ForEachInParallel(nodes.size(), [&](size_t i) {
    if (nodes[i].address().empty()) return;
    health[i] =
        env.client->CheckHealth(NodeLabel(nodes[i]), nodes[i].address());
  });

  bool healthy = Serving(coordinator);
  Table table({"ROLE", "NODE", "ADDRESS", "ALIVE", "HEALTH"});
  table.AddRow({"coordinator", "-", env.client->coordinator(), "yes",
                HealthName(coordinator)});
  std::vector<std::string> json_nodes;
  for (size_t i = 0; i < nodes.size(); ++i) {
    const NodeInfo& node = nodes[i];
    const bool checked = !node.address().empty();
    if (checked && !Serving(health[i])) {
      healthy = false;
      if (!health[i].ok()) ReportRpcError(env, health[i].status());
    }
    table.AddRow({node.role(), node.node_id(), checked ? node.address() : "-",
                  node.alive() ? "yes" : "no",
                  checked ? HealthName(health[i]) : "-"});
    json_nodes.push_back(HealthEntryJson(node.role(), node.node_id(),
                                         node.address(), node.alive(),
                                         checked ? &health[i] : nullptr));
  }
  if (env.json) {
    *env.out << JsonObject()
                    .AddBool("healthy", healthy)
                    .AddRaw("coordinator",
                            HealthEntryJson("coordinator", "",
                                            env.client->coordinator(), true,
                                            &coordinator))
                    .AddRaw("nodes", JsonArray(json_nodes))
                    .Build()
             << "\n";
  } else {
    *env.out << table.Render();
  }
  return healthy ? kExitOk : kExitRpc;
}

int RunNodes(const CommandEnv& env) {
  absl::StatusOr<ClusterResponse> cluster = env.client->GetCluster();
  if (!cluster.ok()) return ReportRpcError(env, cluster.status());
  if (env.json) {
    *env.out << ToJson(*cluster) << "\n";
    return kExitOk;
  }
  Table table({"NODE", "ROLE", "ADDRESS", "HOST", "CPUS", "GPUS", "SHARD",
               "ALIVE", "HEARTBEAT", "TASK"});
  for (size_t c : {4, 5}) table.SetAlign(c, Table::Align::kRight);
  const absl::Time now = env.clock->Now();
  for (const NodeInfo& node : SortedNodes(*cluster)) {
    const std::string heartbeat =
        node.last_heartbeat_unix_ms() == 0
            ? "-"
            : absl::StrCat(AgeOf(node.last_heartbeat_unix_ms(), now), " ago");
    table.AddRow({node.node_id(), node.role(),
                  node.address().empty() ? "-" : node.address(),
                  node.hostname().empty() ? "-" : node.hostname(),
                  absl::StrCat(node.cpus()), absl::StrCat(node.gpus()),
                  node.role() == "ps"
                      ? absl::StrCat(node.shard_id(), "/", node.num_shards())
                      : "-",
                  node.alive() ? "yes" : "no", heartbeat,
                  node.current_task().empty() ? "-" : node.current_task()});
  }
  *env.out << table.Render();
  if (cluster->ps_addresses().empty()) {
    *env.err << "note: not every ps shard is registered and alive\n";
  }
  return kExitOk;
}

namespace {

// One table merged over the shards.
struct MergedTable {
  TableInfo::Kind kind = TableInfo::SPARSE;
  bool compressed = false;  // Saec-compressed on any shard
  uint64_t dim_or_size = 0;
  OptimizerConfig::Type optimizer = OptimizerConfig::SGD;
  // Per shard: rows, or nullopt when the shard failed or lacks the table.
  std::vector<absl::optional<uint64_t>> rows;
  uint64_t total_rows = 0;
  uint64_t bytes = 0;
};

std::map<std::string, MergedTable> MergeTables(
    const std::vector<absl::StatusOr<ListTablesResponse>>& shards) {
  std::map<std::string, MergedTable> merged;
  for (size_t shard = 0; shard < shards.size(); ++shard) {
    if (!shards[shard].ok()) continue;
    for (const TableInfo& info : shards[shard]->tables()) {
      MergedTable& table = merged[info.name()];
      table.rows.resize(shards.size());
      table.kind = info.kind();
      table.compressed = table.compressed || info.compressed();
      table.dim_or_size =
          info.kind() == TableInfo::DENSE ? info.size() : info.dim();
      table.optimizer = info.optimizer();
      table.rows[shard] = info.rows();
      table.total_rows += info.rows();
      table.bytes += info.bytes();
    }
  }
  return merged;
}

std::string RowsPerShardText(const MergedTable& table,
                             const std::vector<bool>& failed) {
  std::vector<std::string> parts;
  for (size_t shard = 0; shard < table.rows.size(); ++shard) {
    if (failed[shard]) {
      parts.push_back("?");
    } else {
      parts.push_back(table.rows[shard].has_value()
                          ? FormatCount(*table.rows[shard])
                          : "-");
    }
  }
  return absl::StrJoin(parts, " / ");
}

std::string MergedTableJson(const std::string& name, const MergedTable& t) {
  std::vector<std::string> rows;
  for (const auto& r : t.rows) {
    rows.push_back(r.has_value() ? absl::StrCat(*r) : "null");
  }
  return JsonObject()
      .AddString("name", name)
      .AddString("kind", TableInfo::Kind_Name(t.kind))
      .AddRaw("compressed", t.compressed ? "true" : "false")
      .AddRaw("dim",
              absl::StrCat(t.kind == TableInfo::SPARSE ? t.dim_or_size : 0))
      .AddRaw("size",
              absl::StrCat(t.kind == TableInfo::DENSE ? t.dim_or_size : 0))
      .AddRaw("rows_per_shard", JsonArray(rows))
      .AddRaw("rows", absl::StrCat(t.total_rows))
      .AddRaw("bytes", absl::StrCat(t.bytes))
      .AddString("optimizer", OptimizerConfig::Type_Name(t.optimizer))
      .Build();
}

void PrintTables(const CommandEnv& env,
                 const std::map<std::string, MergedTable>& merged,
                 const std::vector<bool>& failed) {
  if (env.json) {
    std::vector<std::string> entries;
    for (const auto& [name, table] : merged) {
      entries.push_back(MergedTableJson(name, table));
    }
    *env.out << JsonArray(entries) << "\n";
    return;
  }
  Table out(
      {"NAME", "KIND", "DIM/SIZE", "ROWS/SHARD", "ROWS", "BYTES", "OPTIMIZER"});
  for (size_t c : {2, 4, 5}) out.SetAlign(c, Table::Align::kRight);
  for (const auto& [name, table] : merged) {
    std::string kind = absl::AsciiStrToLower(TableInfo::Kind_Name(table.kind));
    if (table.compressed) kind += " (saec)";
    out.AddRow({name, kind,
                FormatCount(table.dim_or_size), RowsPerShardText(table, failed),
                FormatCount(table.total_rows), FormatBytes(table.bytes),
                OptimizerConfig::Type_Name(table.optimizer)});
  }
  *env.out << out.Render();
}

}  // namespace

int RunTables(const CommandEnv& env) {
  absl::StatusOr<std::vector<std::string>> addresses = ShardAddresses(env);
  if (!addresses.ok()) return ReportRpcError(env, addresses.status());
  std::vector<absl::StatusOr<ListTablesResponse>> shards(
      addresses->size(), absl::UnknownError("not called"));
  ForEachInParallel(addresses->size(), [&](size_t i) {
    shards[i] = env.client->ListTables(ShardLabel(i), (*addresses)[i]);
  });
  std::vector<bool> failed(shards.size());
  int exit_code = kExitOk;
  for (size_t i = 0; i < shards.size(); ++i) {
    failed[i] = !shards[i].ok();
    if (failed[i]) exit_code = ReportRpcError(env, shards[i].status());
  }
  std::map<std::string, MergedTable> merged = MergeTables(shards);
  for (auto& [name, table] : merged) table.rows.resize(shards.size());
  PrintTables(env, merged, failed);
  return exit_code;
}

namespace {

// JSON for a per-shard admin operation: {"checkpoint_id":..., "ok":...,
// "shards":[{"shard_id", "address", "response" | "error"}]}.
template <typename Response>
std::string ShardResultsJson(
    uint64_t checkpoint_id, bool ok, const std::vector<std::string>& addresses,
    const std::vector<absl::StatusOr<Response>>& results) {
  std::vector<std::string> shards;
  for (size_t i = 0; i < results.size(); ++i) {
    JsonObject shard;
    shard.AddInt("shard_id", i).AddString("address", addresses[i]);
    if (results[i].ok()) {
      shard.AddRaw("response", ToJson(*results[i]));
    } else {
      shard.AddRaw("error", ErrorJson(results[i].status()));
    }
    shards.push_back(shard.Build());
  }
  return JsonObject()
      .AddString("checkpoint_id", absl::StrCat(checkpoint_id))
      .AddBool("ok", ok)
      .AddRaw("shards", JsonArray(shards))
      .Build();
}

// Reports each failed shard on env.err; returns how many succeeded.
template <typename Response>
size_t ReportShardErrors(const CommandEnv& env,
                         const std::vector<absl::StatusOr<Response>>& results) {
  size_t succeeded = 0;
  for (const auto& result : results) {
    if (result.ok()) {
      ++succeeded;
    } else {
      ReportRpcError(env, result.status());
    }
  }
  return succeeded;
}

void PrintCheckpointText(
    const CommandEnv& env, uint64_t id,
    const std::vector<std::string>& addresses,
    const std::vector<absl::StatusOr<CheckpointResponse>>& results,
    size_t succeeded) {
  *env.out << "checkpoint " << id << ": " << succeeded << " of "
           << results.size() << " shards written\n";
  Table table({"SHARD", "ADDRESS", "ROWS", "BYTES", "PATH"});
  for (size_t c : {0, 2, 3}) table.SetAlign(c, Table::Align::kRight);
  uint64_t rows = 0, bytes = 0;
  for (size_t i = 0; i < results.size(); ++i) {
    if (!results[i].ok()) {
      table.AddRow({absl::StrCat(i), addresses[i], "-", "-",
                    absl::StrCat("FAILED: ", absl::StatusCodeToString(
                                                 results[i].status().code()))});
      continue;
    }
    rows += results[i]->rows();
    bytes += results[i]->bytes();
    table.AddRow({absl::StrCat(i), addresses[i],
                  FormatCount(results[i]->rows()),
                  FormatBytes(results[i]->bytes()), results[i]->path()});
  }
  table.AddRow({"total", "", FormatCount(rows), FormatBytes(bytes), ""});
  *env.out << table.Render();
}

}  // namespace

int RunCheckpoint(const CommandEnv& env, absl::optional<uint64_t> id) {
  // 0 would let every shard pick its own id; one shared id is the point.
  const uint64_t checkpoint_id =
      id.has_value() && *id != 0
          ? *id
          : static_cast<uint64_t>(absl::ToUnixMillis(env.clock->Now()));
  absl::StatusOr<std::vector<std::string>> addresses = ShardAddresses(env);
  if (!addresses.ok()) return ReportRpcError(env, addresses.status());
  std::vector<absl::StatusOr<CheckpointResponse>> results(
      addresses->size(), absl::UnknownError("not called"));
  ForEachInParallel(addresses->size(), [&](size_t i) {
    results[i] =
        env.client->Checkpoint(ShardLabel(i), (*addresses)[i], checkpoint_id);
    if (results[i].ok() && results[i]->checkpoint_id() != checkpoint_id) {
      results[i] = absl::InternalError(absl::StrCat(
          ShardLabel(i), " ", (*addresses)[i], " wrote checkpoint ",
          results[i]->checkpoint_id(), " instead of ", checkpoint_id));
    }
  });
  const size_t succeeded = ReportShardErrors(env, results);
  const bool ok = succeeded == results.size();
  if (env.json) {
    *env.out << ShardResultsJson(checkpoint_id, ok, *addresses, results)
             << "\n";
  } else {
    PrintCheckpointText(env, checkpoint_id, *addresses, results, succeeded);
  }
  return ok ? kExitOk : kExitRpc;
}

namespace {

// FAILED_PRECONDITION when the shards that loaded did not all load the
// same checkpoint.
absl::Status CheckSameCheckpoint(
    const std::vector<absl::StatusOr<LoadResponse>>& results) {
  std::map<uint64_t, std::vector<std::string>> shards_by_id;
  for (size_t i = 0; i < results.size(); ++i) {
    if (results[i].ok()) {
      shards_by_id[results[i]->checkpoint_id()].push_back(absl::StrCat(i));
    }
  }
  if (shards_by_id.size() <= 1) return absl::OkStatus();
  std::vector<std::string> parts;
  for (const auto& [id, shards] : shards_by_id) {
    parts.push_back(absl::StrCat("checkpoint ", id, " on shard(s) ",
                                 absl::StrJoin(shards, ",")));
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "the shards loaded different checkpoints (", absl::StrJoin(parts, "; "),
      "); load one explicitly with --checkpoint_id"));
}

void PrintLoadText(const CommandEnv& env,
                   const std::vector<std::string>& addresses,
                   const std::vector<absl::StatusOr<LoadResponse>>& results,
                   size_t succeeded) {
  *env.out << "loaded " << succeeded << " of " << results.size() << " shards\n";
  Table table({"SHARD", "ADDRESS", "CHECKPOINT", "WRITTEN_BY", "ROWS"});
  for (size_t c : {0, 3, 4}) table.SetAlign(c, Table::Align::kRight);
  for (size_t i = 0; i < results.size(); ++i) {
    if (!results[i].ok()) {
      table.AddRow({absl::StrCat(i), addresses[i],
                    absl::StrCat("FAILED: ", absl::StatusCodeToString(
                                                 results[i].status().code())),
                    "-", "-"});
      continue;
    }
    table.AddRow({absl::StrCat(i), addresses[i],
                  absl::StrCat(results[i]->checkpoint_id()),
                  absl::StrCat(results[i]->written_by_num_shards(), " shards"),
                  FormatCount(results[i]->rows())});
  }
  *env.out << table.Render();
}

}  // namespace

int RunLoad(const CommandEnv& env, absl::optional<uint64_t> id) {
  const uint64_t checkpoint_id = id.value_or(0);
  absl::StatusOr<std::vector<std::string>> addresses = ShardAddresses(env);
  if (!addresses.ok()) return ReportRpcError(env, addresses.status());
  std::vector<absl::StatusOr<LoadResponse>> results(
      addresses->size(), absl::UnknownError("not called"));
  ForEachInParallel(addresses->size(), [&](size_t i) {
    results[i] =
        env.client->Load(ShardLabel(i), (*addresses)[i], checkpoint_id);
  });
  const size_t succeeded = ReportShardErrors(env, results);
  const absl::Status consistent = CheckSameCheckpoint(results);
  if (!consistent.ok()) ReportRpcError(env, consistent);
  const bool ok = succeeded == results.size() && consistent.ok();
  if (env.json) {
    *env.out << ShardResultsJson(checkpoint_id, ok, *addresses, results)
             << "\n";
  } else {
    PrintLoadText(env, *addresses, results, succeeded);
  }
  return ok ? kExitOk : kExitRpc;
}

}  // namespace ctl
}  // namespace strata
