#include "tools/internal/cluster_commands.h"

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "proto/base/status_macros.h"
#include "server/client/shard_rpc.h"
#include "tools/internal/format.h"

namespace strata {
namespace ctl {
namespace {

using ServingStatus = CtlClient::ServingStatus;

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
NodeHealth HealthEntry(absl::string_view role, absl::string_view node_id,
                       absl::string_view address, bool alive,
                       const absl::StatusOr<ServingStatus>* health) {
  NodeHealth entry;
  entry.set_role(std::string(role));
  entry.set_node_id(std::string(node_id));
  entry.set_address(std::string(address));
  entry.set_alive(alive);
  entry.set_health(health == nullptr ? "NOT_CHECKED" : HealthName(*health));
  if (health != nullptr && !health->ok()) {
    *entry.mutable_error() = ToErrorInfo(health->status());
  }
  return entry;
}

}  // namespace

absl::StatusOr<std::unique_ptr<PsAdminClient>> AdminForCluster(
    const CommandEnv& env) {
  STRATA_ASSIGN_OR_RETURN(const ClusterResponse cluster,
                          env.client->GetCluster());
  if (cluster.ps_addresses().empty()) {
    int live = 0;
    uint32_t expected = 0;
    for (const NodeInfo& node : cluster.nodes()) {
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
  return env.client->ConnectShards(std::vector<std::string>(
      cluster.ps_addresses().begin(), cluster.ps_addresses().end()));
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
  HealthReport report;
  *report.mutable_coordinator() = HealthEntry(
      "coordinator", "", env.client->coordinator(), true, &coordinator);
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
    *report.add_nodes() =
        HealthEntry(node.role(), node.node_id(), node.address(), node.alive(),
                    checked ? &health[i] : nullptr);
  }
  report.set_healthy(healthy);
  if (env.json) {
    *env.out << ToJson(report) << "\n";
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
struct TableTotals {
  TableInfo::Kind kind = TableInfo::SPARSE;
  bool compressed = false;  // Saec-compressed on any shard
  uint64_t dim_or_size = 0;
  OptimizerConfig::Type optimizer = OptimizerConfig::SGD;
  // Per shard: rows, or nullopt when the shard failed or lacks the table.
  std::vector<absl::optional<uint64_t>> rows;
  uint64_t total_rows = 0;
  uint64_t bytes = 0;
};

std::map<std::string, TableTotals> MergeTables(
    const PerShard<ListTablesResponse>& shards) {
  std::map<std::string, TableTotals> merged;
  for (const ShardResult<ListTablesResponse>& shard : shards) {
    if (!shard.ok()) continue;
    for (const TableInfo& info : shard.response->tables()) {
      TableTotals& table = merged[info.name()];
      table.rows.resize(shards.size());
      table.kind = info.kind();
      table.compressed = table.compressed || info.compressed();
      table.dim_or_size =
          info.kind() == TableInfo::DENSE ? info.size() : info.dim();
      table.optimizer = info.optimizer();
      table.rows[shard.shard] = info.rows();
      table.total_rows += info.rows();
      table.bytes += info.bytes();
    }
  }
  return merged;
}

std::string RowsPerShardText(const TableTotals& table,
                             const PerShard<ListTablesResponse>& shards) {
  std::vector<std::string> parts;
  for (size_t shard = 0; shard < table.rows.size(); ++shard) {
    if (!shards[shard].ok()) {
      parts.push_back("?");
    } else {
      parts.push_back(table.rows[shard].has_value()
                          ? FormatCount(*table.rows[shard])
                          : "-");
    }
  }
  return absl::StrJoin(parts, " / ");
}

TablesReport TablesReportOf(const std::map<std::string, TableTotals>& merged,
                            const PerShard<ListTablesResponse>& shards) {
  TablesReport report;
  for (const auto& [name, t] : merged) {
    MergedTable* table = report.add_tables();
    table->set_name(name);
    table->set_kind(t.kind);
    table->set_compressed(t.compressed);
    if (t.kind == TableInfo::DENSE) {
      table->set_size(t.dim_or_size);
    } else {
      table->set_dim(static_cast<uint32_t>(t.dim_or_size));
    }
    for (size_t shard = 0; shard < t.rows.size(); ++shard) {
      if (!t.rows[shard].has_value()) continue;
      ShardRows* rows = table->add_rows_per_shard();
      rows->set_shard_id(shard);
      rows->set_rows(*t.rows[shard]);
    }
    table->set_rows(t.total_rows);
    table->set_bytes(t.bytes);
    table->set_optimizer(t.optimizer);
  }
  AddFailedShards(shards, report.mutable_failed_shards());
  return report;
}

void PrintTables(const CommandEnv& env,
                 const std::map<std::string, TableTotals>& merged,
                 const PerShard<ListTablesResponse>& shards) {
  if (env.json) {
    *env.out << ToJson(TablesReportOf(merged, shards)) << "\n";
    return;
  }
  Table out(
      {"NAME", "KIND", "DIM/SIZE", "ROWS/SHARD", "ROWS", "BYTES", "OPTIMIZER"});
  for (size_t c : {2, 4, 5}) out.SetAlign(c, Table::Align::kRight);
  for (const auto& [name, table] : merged) {
    std::string kind = absl::AsciiStrToLower(TableInfo::Kind_Name(table.kind));
    if (table.compressed) kind += " (saec)";
    out.AddRow({name, kind, FormatCount(table.dim_or_size),
                RowsPerShardText(table, shards), FormatCount(table.total_rows),
                FormatBytes(table.bytes),
                OptimizerConfig::Type_Name(table.optimizer)});
  }
  *env.out << out.Render();
}

}  // namespace

int RunTables(const CommandEnv& env) {
  absl::StatusOr<std::unique_ptr<PsAdminClient>> admin = AdminForCluster(env);
  if (!admin.ok()) return ReportRpcError(env, admin.status());
  const PerShard<ListTablesResponse> shards = (*admin)->ListTables();
  const bool ok = ReportShardErrors(env, shards) == shards.size();
  PrintTables(env, MergeTables(shards), shards);
  return ok ? kExitOk : kExitRpc;
}

namespace {

// The per-shard part of a CheckpointReport or LoadReport: `Entry` is
// ShardCheckpoint or ShardLoad.
template <typename Entry, typename Response>
void AddShardEntries(const PerShard<Response>& results,
                     google::protobuf::RepeatedPtrField<Entry>* out) {
  for (const ShardResult<Response>& r : results) {
    Entry* entry = out->Add();
    entry->set_shard_id(r.shard);
    entry->set_address(r.address);
    if (r.ok()) {
      *entry->mutable_response() = *r.response;
    } else {
      *entry->mutable_error() = ToErrorInfo(r.status());
    }
  }
}

void PrintCheckpointText(const CommandEnv& env,
                         const ClusterCheckpointResponse& written) {
  *env.out << "checkpoint " << written.checkpoint_id() << ": "
           << written.shards_size() << " of " << written.shards_size()
           << " shards written\n";
  Table table({"SHARD", "ADDRESS", "ROWS", "BYTES", "PATH"});
  for (size_t c : {0, 2, 3}) table.SetAlign(c, Table::Align::kRight);
  uint64_t rows = 0, bytes = 0;
  for (int shard = 0; shard < written.shards_size(); ++shard) {
    const CheckpointResponse& r = written.shards(shard);
    rows += r.rows();
    bytes += r.bytes();
    table.AddRow({absl::StrCat(shard),
                  shard < written.addresses_size() ? written.addresses(shard)
                                                   : "",
                  FormatCount(r.rows()), FormatBytes(r.bytes()), r.path()});
  }
  table.AddRow({"total", "", FormatCount(rows), FormatBytes(bytes), ""});
  *env.out << table.Render();
}

}  // namespace

int RunCheckpoint(const CommandEnv& env) {
  // The coordinator picks the id and takes a consistent cut: every shard's
  // pushes paused around the write. It fails as a whole (naming the shard).
  absl::StatusOr<ClusterCheckpointResponse> written = env.client->Checkpoint();
  if (!written.ok()) return ReportRpcError(env, written.status());
  if (env.json) {
    CheckpointReport report;
    report.set_checkpoint_id(written->checkpoint_id());
    report.set_ok(true);
    for (int shard = 0; shard < written->shards_size(); ++shard) {
      ShardCheckpoint* entry = report.add_shards();
      entry->set_shard_id(shard);
      if (shard < written->addresses_size()) {
        entry->set_address(written->addresses(shard));
      }
      *entry->mutable_response() = written->shards(shard);
    }
    *env.out << ToJson(report) << "\n";
  } else {
    PrintCheckpointText(env, *written);
  }
  return kExitOk;
}

namespace {

void PrintLoadText(const CommandEnv& env, const PerShard<LoadResponse>& results,
                   size_t succeeded) {
  *env.out << "loaded " << succeeded << " of " << results.size() << " shards\n";
  Table table({"SHARD", "ADDRESS", "CHECKPOINT", "WRITTEN_BY", "ROWS"});
  for (size_t c : {0, 3, 4}) table.SetAlign(c, Table::Align::kRight);
  for (const ShardResult<LoadResponse>& r : results) {
    if (!r.ok()) {
      table.AddRow({absl::StrCat(r.shard), r.address,
                    absl::StrCat("FAILED: ",
                                 absl::StatusCodeToString(r.status().code())),
                    "-", "-"});
      continue;
    }
    table.AddRow({absl::StrCat(r.shard), r.address,
                  absl::StrCat(r.response->checkpoint_id()),
                  absl::StrCat(r.response->written_by_num_shards(), " shards"),
                  FormatCount(r.response->rows())});
  }
  *env.out << table.Render();
}

}  // namespace

int RunLoad(const CommandEnv& env, absl::optional<uint64_t> id) {
  const uint64_t checkpoint_id = id.value_or(0);
  absl::StatusOr<std::unique_ptr<PsAdminClient>> admin = AdminForCluster(env);
  if (!admin.ok()) return ReportRpcError(env, admin.status());
  const PerShard<LoadResponse> results = (*admin)->Load(checkpoint_id);
  const size_t succeeded = ReportShardErrors(env, results);
  const absl::Status consistent = CheckSameCheckpoint(results);
  if (!consistent.ok()) {
    ReportRpcError(env, absl::Status(consistent.code(),
                                     absl::StrCat(consistent.message(),
                                                  "; load one explicitly with "
                                                  "--checkpoint_id")));
  }
  const bool ok = succeeded == results.size() && consistent.ok();
  if (env.json) {
    LoadReport report;
    report.set_checkpoint_id(checkpoint_id);
    report.set_ok(ok);
    AddShardEntries(results, report.mutable_shards());
    *env.out << ToJson(report) << "\n";
  } else {
    PrintLoadText(env, results, succeeded);
  }
  return ok ? kExitOk : kExitRpc;
}

}  // namespace ctl
}  // namespace strata
