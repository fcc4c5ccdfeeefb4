#include "tools/internal/compression_commands.h"

#include <algorithm>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "google/protobuf/text_format.h"
#include "tools/internal/cluster_commands.h"
#include "tools/internal/format.h"

namespace strata {
namespace ctl {
namespace {

struct Merged {
  std::string method;
  uint64_t features = 0, clusters = 0, vectors_before = 0, vectors_after = 0;
  uint64_t bytes_before = 0, bytes_after = 0;
  // Growth after compression (FieldStats, summed).
  uint64_t new_rows = 0, folded = 0, frequency = 0, growth_bytes = 0;
  double seconds = 0, mse_weighted = 0;
  int shards = 0;
};

double Ratio(uint64_t before, uint64_t after) {
  return after == 0 ? 0.0 : static_cast<double>(before) / after;
}

std::map<std::pair<std::string, uint32_t>, Merged> Merge(
    const std::vector<FieldStats>& fields) {
  std::map<std::pair<std::string, uint32_t>, Merged> merged;
  for (const FieldStats& f : fields) {
    Merged& m = merged[{f.table(), f.field()}];
    m.method =
        m.method.empty() || m.method == f.method() ? f.method() : "mixed";
    m.features += f.features();
    m.clusters += f.clusters();
    m.vectors_before += f.vectors_before();
    m.vectors_after += f.vectors_after();
    m.bytes_before += f.bytes_before();
    m.bytes_after += f.bytes_after();
    m.new_rows += f.new_rows();
    m.folded += f.folded_features();
    m.frequency += f.frequency();
    m.growth_bytes += f.growth_bytes();
    m.seconds = std::max(m.seconds, f.seconds());
    m.mse_weighted += f.weighted_mse() * f.features();
    ++m.shards;
  }
  return merged;
}

double MeanMse(const Merged& m) {
  return m.features ? m.mse_weighted / m.features : 0.0;
}

FieldStatsReport ReportOf(
    const std::map<std::pair<std::string, uint32_t>, Merged>& merged,
    const google::protobuf::RepeatedPtrField<ShardError>& failed) {
  FieldStatsReport report;
  for (const auto& [key, m] : merged) {
    MergedFieldStats* f = report.add_fields();
    f->set_table(key.first);
    f->set_field(key.second);
    f->set_method(m.method);
    f->set_shards(m.shards);
    f->set_features(m.features);
    f->set_clusters(m.clusters);
    f->set_vectors_before(m.vectors_before);
    f->set_vectors_after(m.vectors_after);
    f->set_bytes_before(m.bytes_before);
    f->set_bytes_after(m.bytes_after);
    f->set_ratio(Ratio(m.bytes_before, m.bytes_after));
    f->set_weighted_mse(MeanMse(m));
    f->set_seconds(m.seconds);
    f->set_new_rows(m.new_rows);
    f->set_folded_features(m.folded);
    f->set_frequency(m.frequency);
    f->set_growth_bytes(m.growth_bytes);
  }
  *report.mutable_failed_shards() = failed;
  return report;
}

}  // namespace

void PrintFieldStats(
    const CommandEnv& env, const std::vector<FieldStats>& per_shard,
    const google::protobuf::RepeatedPtrField<ShardError>& failed) {
  const auto merged = Merge(per_shard);
  if (env.json) {
    *env.out << ToJson(ReportOf(merged, failed)) << "\n";
    return;
  }
  Table out({"TABLE", "FIELD", "METHOD", "FEATURES", "CLUSTERS", "BYTES BEFORE",
             "BYTES AFTER", "RATIO", "MSE", "TIME", "NEW ROWS", "FOLDED",
             "GROWTH BYTES"});
  for (size_t c : {1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}) {
    out.SetAlign(c, Table::Align::kRight);
  }
  std::map<std::string, Merged> totals;
  for (const auto& [key, m] : merged) {
    out.AddRow({key.first, absl::StrCat(key.second), m.method,
                FormatCount(m.features), FormatCount(m.clusters),
                FormatBytes(m.bytes_before), FormatBytes(m.bytes_after),
                absl::StrFormat("%.1fx", Ratio(m.bytes_before, m.bytes_after)),
                absl::StrFormat("%.3g", MeanMse(m)),
                absl::StrFormat("%.2fs", m.seconds), FormatCount(m.new_rows),
                FormatCount(m.folded), FormatBytes(m.growth_bytes)});
    Merged& t = totals[key.first];
    t.new_rows += m.new_rows;
    t.folded += m.folded;
    t.growth_bytes += m.growth_bytes;
    t.features += m.features;
    t.clusters += m.clusters;
    t.bytes_before += m.bytes_before;
    t.bytes_after += m.bytes_after;
    t.seconds = std::max(t.seconds, m.seconds);
    t.mse_weighted += m.mse_weighted;
  }
  for (const auto& [table, t] : totals) {
    out.AddRow({table, "all", "", FormatCount(t.features),
                FormatCount(t.clusters), FormatBytes(t.bytes_before),
                FormatBytes(t.bytes_after),
                absl::StrFormat("%.1fx", Ratio(t.bytes_before, t.bytes_after)),
                absl::StrFormat("%.3g", MeanMse(t)),
                absl::StrFormat("%.2fs", t.seconds), FormatCount(t.new_rows),
                FormatCount(t.folded), FormatBytes(t.growth_bytes)});
  }
  *env.out << out.Render();
}

int RunStats(const CommandEnv& env, const std::string& table) {
  absl::StatusOr<std::unique_ptr<PsAdminClient>> admin = AdminForCluster(env);
  if (!admin.ok()) return ReportRpcError(env, admin.status());
  const PerShard<StatsResponse> results = (*admin)->CompressionStats(table);
  std::vector<FieldStats> fields;
  for (const auto& r : results) {
    if (!r.ok()) return ReportRpcError(env, r.status());
    fields.insert(fields.end(), r.response->fields().begin(),
                  r.response->fields().end());
  }
  if (fields.empty() && !env.json) {
    *env.out << "no compressed tables (compress with `stratactl compress` or "
                "ps_server --compress=saec)\n";
    return kExitOk;
  }
  PrintFieldStats(env, fields);
  return kExitOk;
}

int RunCompress(const CommandEnv& env, const std::string& table,
                const std::string& saec_text, bool cluster_wide,
                uint64_t samples_per_field) {
  SaecConfig config;
  if (!google::protobuf::TextFormat::ParseFromString(saec_text, &config)) {
    *env.err << "stratactl: --saec is not a text-format SaecConfig: \""
             << saec_text << "\" (e.g. --saec='target_ratio: 30')\n";
    return kExitUsage;
  }
  absl::StatusOr<std::unique_ptr<PsAdminClient>> admin = AdminForCluster(env);
  if (!admin.ok()) return ReportRpcError(env, admin.status());
  PerShard<CompressResponse> results;
  if (cluster_wide) {
    absl::StatusOr<PerShard<CompressResponse>> r =
        (*admin)->CompressClusterWide(table, config, samples_per_field);
    if (!r.ok()) return ReportRpcError(env, r.status());
    results = *std::move(r);
  } else {
    results = (*admin)->Compress(table, config);
  }
  const bool ok = ReportShardErrors(env, results) == results.size();
  std::vector<FieldStats> fields;
  for (const auto& r : results) {
    if (!r.ok()) continue;
    fields.insert(fields.end(), r.response->fields().begin(),
                  r.response->fields().end());
  }
  FieldStatsReport failed;
  AddFailedShards(results, failed.mutable_failed_shards());
  PrintFieldStats(env, fields, failed.failed_shards());
  return ok ? kExitOk : kExitRpc;
}

}  // namespace ctl
}  // namespace strata
