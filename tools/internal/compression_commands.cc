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
    m.method = m.method.empty() || m.method == f.method() ? f.method() : "mixed";
    m.features += f.features();
    m.clusters += f.clusters();
    m.vectors_before += f.vectors_before();
    m.vectors_after += f.vectors_after();
    m.bytes_before += f.bytes_before();
    m.bytes_after += f.bytes_after();
    m.seconds = std::max(m.seconds, f.seconds());
    m.mse_weighted += f.weighted_mse() * f.features();
    ++m.shards;
  }
  return merged;
}

std::string MergedJson(const std::string& table, uint32_t field,
                       const Merged& m) {
  return JsonObject()
      .AddString("table", table)
      .AddRaw("field", absl::StrCat(field))
      .AddString("method", m.method)
      .AddRaw("shards", absl::StrCat(m.shards))
      .AddRaw("features", absl::StrCat(m.features))
      .AddRaw("clusters", absl::StrCat(m.clusters))
      .AddRaw("vectors_before", absl::StrCat(m.vectors_before))
      .AddRaw("vectors_after", absl::StrCat(m.vectors_after))
      .AddRaw("bytes_before", absl::StrCat(m.bytes_before))
      .AddRaw("bytes_after", absl::StrCat(m.bytes_after))
      .AddRaw("ratio", absl::StrFormat("%.6g", Ratio(m.bytes_before,
                                                     m.bytes_after)))
      .AddRaw("weighted_mse",
              absl::StrFormat("%.6g", m.features ? m.mse_weighted / m.features
                                                 : 0.0))
      .AddRaw("seconds", absl::StrFormat("%.6g", m.seconds))
      .Build();
}

}  // namespace

void PrintFieldStats(const CommandEnv& env,
                     const std::vector<FieldStats>& per_shard) {
  const auto merged = Merge(per_shard);
  if (env.json) {
    std::vector<std::string> rows;
    for (const auto& [key, m] : merged) {
      rows.push_back(MergedJson(key.first, key.second, m));
    }
    *env.out << JsonArray(rows) << "\n";
    return;
  }
  Table out({"TABLE", "FIELD", "METHOD", "FEATURES", "CLUSTERS", "BYTES BEFORE",
             "BYTES AFTER", "RATIO", "MSE", "TIME"});
  for (size_t c : {1, 3, 4, 5, 6, 7, 8, 9}) {
    out.SetAlign(c, Table::Align::kRight);
  }
  std::map<std::string, Merged> totals;
  for (const auto& [key, m] : merged) {
    out.AddRow({key.first, absl::StrCat(key.second), m.method,
                FormatCount(m.features), FormatCount(m.clusters),
                FormatBytes(m.bytes_before), FormatBytes(m.bytes_after),
                absl::StrFormat("%.1fx", Ratio(m.bytes_before, m.bytes_after)),
                absl::StrFormat("%.3g", m.features ? m.mse_weighted / m.features
                                                   : 0.0),
                absl::StrFormat("%.2fs", m.seconds)});
    Merged& t = totals[key.first];
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
                absl::StrFormat("%.3g", t.features ? t.mse_weighted / t.features
                                                   : 0.0),
                absl::StrFormat("%.2fs", t.seconds)});
  }
  *env.out << out.Render();
}

int RunStats(const CommandEnv& env, const std::string& table) {
  auto shards = ShardAddresses(env);
  if (!shards.ok()) return ReportRpcError(env, shards.status());
  std::vector<absl::StatusOr<StatsResponse>> results(
      shards->size(), absl::UnknownError("not called"));
  ForEachInParallel(shards->size(), [&](size_t i) {
    results[i] = env.client->GetStats(absl::StrCat("shard ", i),
                                      (*shards)[i], table);
  });
  std::vector<FieldStats> fields;
  for (const auto& r : results) {
    if (!r.ok()) return ReportRpcError(env, r.status());
    fields.insert(fields.end(), r->fields().begin(), r->fields().end());
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
                const std::string& saec_text) {
  CompressRequest request;
  request.set_table(table);
  if (!google::protobuf::TextFormat::ParseFromString(
          saec_text, request.mutable_config())) {
    *env.err << "stratactl: --saec is not a text-format SaecConfig: \""
             << saec_text << "\" (e.g. --saec='target_ratio: 30')\n";
    return kExitUsage;
  }
  auto shards = ShardAddresses(env);
  if (!shards.ok()) return ReportRpcError(env, shards.status());
  std::vector<absl::StatusOr<CompressResponse>> results(
      shards->size(), absl::UnknownError("not called"));
  ForEachInParallel(shards->size(), [&](size_t i) {
    results[i] = env.client->Compress(absl::StrCat("shard ", i), (*shards)[i],
                                      request);
  });
  std::vector<FieldStats> fields;
  int exit_code = kExitOk;
  for (const auto& r : results) {
    if (!r.ok()) {
      exit_code = ReportRpcError(env, r.status());
      continue;
    }
    fields.insert(fields.end(), r->fields().begin(), r->fields().end());
  }
  PrintFieldStats(env, fields);
  return exit_code;
}

}  // namespace ctl
}  // namespace strata
