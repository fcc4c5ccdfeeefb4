#include "server/ps/ps_metrics.h"

#include <functional>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/types/span.h"

namespace strata {
namespace {

prometheus::MetricFamily Family(std::string name, std::string help,
                                prometheus::MetricType type) {
  prometheus::MetricFamily f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.type = type;
  return f;
}

prometheus::MetricFamily Gauge(std::string name, std::string help) {
  return Family(std::move(name), std::move(help),
                prometheus::MetricType::Gauge);
}

void Add(prometheus::MetricFamily* f, std::vector<prometheus::ClientMetric::Label> labels,
         double value) {
  prometheus::ClientMetric m;
  m.label = std::move(labels);
  if (f->type == prometheus::MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
  f->metric.push_back(std::move(m));
}

// One family of one sample, labelled with the shard.
struct ShardFamily {
  const char* name;
  const char* help;
  prometheus::MetricType type;
  uint64_t value;
};

void AddShardFamilies(absl::Span<const ShardFamily> families,
                      const std::string& shard,
                      std::vector<prometheus::MetricFamily>* out) {
  for (const ShardFamily& f : families) {
    prometheus::MetricFamily family = Family(f.name, f.help, f.type);
    Add(&family, {{"shard", shard}}, double(f.value));
    out->push_back(std::move(family));
  }
}

// The store's checkpoint ledger: what was loaded, skipped and pruned.
void AddCheckpointFamilies(const TableStore& store, const std::string& shard,
                           std::vector<prometheus::MetricFamily>* out) {
  const CheckpointLedger::Counters c = store.checkpoint_counters();
  const ShardFamily families[] = {
      {"strata_ps_checkpoint_loaded_id",
       "Id of the checkpoint the shard's tables were last loaded from (0: "
       "none).",
       prometheus::MetricType::Gauge, c.loaded_checkpoint_id},
      {"strata_ps_checkpoint_load_fallbacks_total",
       "Complete checkpoints skipped at start-up because they could not be "
       "loaded (kept on disk, never overwritten or pruned by this process).",
       prometheus::MetricType::Counter, c.load_fallbacks},
      {"strata_ps_checkpoints_pruned_total",
       "Old checkpoints whose files this shard deleted (--keep_checkpoints).",
       prometheus::MetricType::Counter, c.pruned},
      {"strata_ps_checkpoint_prune_errors_total",
       "Checkpoint retention passes that failed (logged; the checkpoint "
       "itself succeeded).",
       prometheus::MetricType::Counter, c.prune_errors},
  };
  AddShardFamilies(families, shard, out);
}

// Updates applied and lost (docs/failures.md, "Shard restart").
void AddUpdateFamilies(const TableStore& store, const std::string& shard,
                       std::vector<prometheus::MetricFamily>* out) {
  const DenseTable::ResyncCounters resync = store.DenseResyncCounters();
  const ShardFamily families[] = {
      {"strata_ps_updates_applied_total",
       "Updates this shard applied (sparse rows pushed, dense pushes); after "
       "a restart it goes on from the loaded checkpoint's count.",
       prometheus::MetricType::Counter, store.updates().applied()},
      {"strata_ps_bsp_steps_skipped_total",
       "BSP dense steps that restored tensors moved over to catch up with "
       "the workers (their updates are lost).",
       prometheus::MetricType::Counter, uint64_t(resync.steps_skipped)},
      {"strata_ps_bsp_pushes_dropped_total",
       "BSP dense pushes answered and dropped while a restored tensor "
       "caught up with the workers.",
       prometheus::MetricType::Counter, uint64_t(resync.pushes_dropped)},
  };
  AddShardFamilies(families, shard, out);
  const std::optional<uint64_t> lost = store.updates().lost_at_start();
  if (!lost.has_value()) return;  // unknown: no sample
  prometheus::MetricFamily family = Gauge(
      "strata_ps_updates_lost",
      "Updates applied before this shard's last restart that the checkpoint "
      "it loaded lacks (accurate to about 1 s of updates).");
  Add(&family, {{"shard", shard}}, double(*lost));
  out->push_back(std::move(family));
}

// One gauge family per FieldStats number.
struct FieldGauge {
  const char* name;
  const char* help;
  std::function<double(const FieldStats&)> value;
};

const std::vector<FieldGauge>& FieldGauges() {
  static const auto* gauges = new std::vector<FieldGauge>{
      {"strata_saec_features", "Features (keys) of the field on this shard.",
       [](const FieldStats& f) { return double(f.features()); }},
      {"strata_saec_clusters", "Clusters the field's features share.",
       [](const FieldStats& f) { return double(f.clusters()); }},
      {"strata_saec_vectors_before", "Embedding vectors before compression.",
       [](const FieldStats& f) { return double(f.vectors_before()); }},
      {"strata_saec_vectors_after", "Embedding vectors after compression.",
       [](const FieldStats& f) { return double(f.vectors_after()); }},
      {"strata_saec_bytes_before",
       "Bytes before compression: vectors plus key index.",
       [](const FieldStats& f) { return double(f.bytes_before()); }},
      {"strata_saec_bytes_after",
       "Bytes after compression: centroids, fallback and feature index.",
       [](const FieldStats& f) { return double(f.bytes_after()); }},
      {"strata_saec_ratio", "bytes_before / bytes_after.",
       [](const FieldStats& f) { return f.ratio(); }},
      {"strata_saec_clustering_seconds", "Wall time of the clustering.",
       [](const FieldStats& f) { return f.seconds(); }},
      {"strata_saec_weighted_mse",
       "Frequency-weighted mean squared quantization error per vector.",
       [](const FieldStats& f) { return f.weighted_mse(); }},
      {"strata_saec_new_rows",
       "Keys first seen after compression that have rows of their own.",
       [](const FieldStats& f) { return double(f.new_rows()); }},
      {"strata_saec_folded_features",
       "Keys folded into the field's clusters by later compresses.",
       [](const FieldStats& f) { return double(f.folded_features()); }},
      {"strata_saec_frequency",
       "Occurrences counted since compression: clusters and new rows.",
       [](const FieldStats& f) { return double(f.frequency()); }},
      {"strata_saec_growth_bytes",
       "Budget bytes of the growth: new rows and the folded index.",
       [](const FieldStats& f) { return double(f.growth_bytes()); }},
  };
  return *gauges;
}

}  // namespace

std::vector<prometheus::MetricFamily> TableStoreCollectable::Collect() const {
  const std::string shard = absl::StrCat(store_->shard_id());
  prometheus::MetricFamily rows = Gauge(
      "strata_ps_table_rows",
      "Keys held by this shard (compressed tables: indexed features).");
  prometheus::MetricFamily bytes = Gauge(
      "strata_ps_table_bytes",
      "Memory held by a table on this shard: values, state and index.");
  for (const TableSummary& t : store_->List()) {
    const std::string kind = t.kind == TableKind::kDense ? "dense"
                             : t.compressed              ? "sparse_saec"
                                                         : "sparse";
    Add(&rows, {{"shard", shard}, {"table", t.name}, {"kind", kind}},
        double(t.rows));
    Add(&bytes, {{"shard", shard}, {"table", t.name}, {"kind", kind}},
        double(t.bytes));
  }
  prometheus::MetricFamily budget = Gauge(
      "strata_ps_memory_budget_bytes",
      "Memory budget of this shard's tables (--max_memory_bytes).");
  Add(&budget, {{"shard", shard}},
      double(store_->memory_budget().limit()));
  prometheus::MetricFamily used = Gauge(
      "strata_ps_memory_used_bytes",
      "Bytes of the memory budget this shard's tables hold.");
  Add(&used, {{"shard", shard}}, double(store_->memory_budget().used()));
  std::vector<prometheus::MetricFamily> out = {
      std::move(rows), std::move(bytes), std::move(budget), std::move(used)};
  AddCheckpointFamilies(*store_, shard, &out);
  AddUpdateFamilies(*store_, shard, &out);
  absl::StatusOr<std::vector<FieldStats>> stats = store_->Stats("");
  if (!stats.ok() || stats->empty()) return out;
  for (const FieldGauge& g : FieldGauges()) {
    prometheus::MetricFamily f = Gauge(g.name, g.help);
    for (const FieldStats& s : *stats) {
      Add(&f,
          {{"shard", shard},
           {"table", s.table()},
           {"field", absl::StrCat(s.field())},
           {"method", s.method()}},
          g.value(s));
    }
    out.push_back(std::move(f));
  }
  return out;
}

}  // namespace strata
