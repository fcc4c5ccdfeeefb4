#include "server/storage/checkpoint_loader.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "compression/key_index.h"
#include "google/protobuf/util/message_differencer.h"
#include "proto/base/status_macros.h"
#include "server/storage/checkpoint_filename.h"
#include "server/storage/checkpoint_reader.h"
#include "server/storage/internal/validation.h"

namespace strata {
namespace {

using ::google::protobuf::util::MessageDifferencer;

absl::Status ToDataLoss(const absl::Status& s, absl::string_view context) {
  if (s.ok()) return s;
  return absl::DataLossError(absl::StrCat(context, ": ", s.message()));
}

// Builds the tables of a load from the visited shard files, keeping what the
// router assigns to this shard. Not thread-safe; used by one load.
class Loader final : public CheckpointVisitor {
 public:
  Loader(const CheckpointLoaderOptions& options, uint32_t checkpoint_shards)
      : options_(options),
        router_(options.sparse.router),
        shard_id_(options.sparse.shard_id),
        checkpoint_shards_(checkpoint_shards) {}

  absl::Status OnSparseTable(const TableConfig& config) override {
    const auto it = tables_.find(config.name());
    if (it != tables_.end()) {
      if (it->second.sparse == nullptr ||
          !MessageDifferencer::Equals(it->second.sparse->config(), config)) {
        return absl::DataLossError(absl::StrCat(
            "shard files disagree about the config of table ", config.name()));
      }
      current_ = it->second.sparse.get();
      return absl::OkStatus();
    }
    absl::StatusOr<std::unique_ptr<SparseTable>> table =
        SparseTable::Create(config, options_.sparse);
    if (!table.ok()) {
      return ToDataLoss(table.status(), "invalid sparse table in checkpoint");
    }
    current_ = table->get();
    tables_[config.name()].sparse = *std::move(table);
    ++info_.sparse_tables;
    return absl::OkStatus();
  }

  absl::Status OnSparseRow(uint64_t key, uint64_t frequency, int64_t step,
                           absl::Span<const float> values,
                           absl::Span<const float> state) override {
    if (router_ != nullptr && router_->ShardForKey(key) != shard_id_) {
      return absl::OkStatus();  // another shard's row
    }
    ++info_.rows;
    return ToDataLoss(current_->InsertRow(key, values, state, step, frequency),
                      "bad row in checkpoint");
  }

  absl::Status OnDenseTensor(const DenseConfig& config, int64_t step,
                             absl::Span<const float> values,
                             absl::Span<const float> state) override {
    if (router_ != nullptr &&
        router_->ShardForName(config.name()) != shard_id_) {
      return absl::OkStatus();
    }
    if (tables_.contains(config.name())) {
      return absl::DataLossError(absl::StrCat(
          "checkpoint holds two tables or tensors named ", config.name()));
    }
    absl::StatusOr<std::unique_ptr<DenseTable>> table =
        DenseTable::Create(config, options_.dense);
    if (!table.ok()) {
      return ToDataLoss(table.status(), "invalid dense tensor in checkpoint");
    }
    STRATA_RETURN_IF_ERROR(ToDataLoss((*table)->Restore(values, state, step),
                                      "bad dense tensor in checkpoint"));
    tables_[config.name()].dense = *std::move(table);
    ++info_.dense_tensors;
    return absl::OkStatus();
  }

  // Same shard count as the checkpoint: a compressed table of this shard is
  // restored as it is (another shard's is skipped). Otherwise each key is
  // expanded into a plain row holding its centroid, keeping this shard's
  // keys; compress again after loading (frequencies are lost: they read 0).
  absl::Status OnCompressedTable(
      const TableConfig& config, const SaecConfig& saec,
      std::vector<CompressedFieldState> fields) override {
    last_compressed_ = config.name();
    restored_ = nullptr;
    if (checkpoint_shards_ == options_.num_shards) {
      return Restore(config, saec, std::move(fields));
    }
    if (saec.cluster_wide()) {
      // A shard's copies of the centroids it does not home are stale:
      // only the shard count that wrote it can serve it (docs/checkpoint.md).
      return absl::FailedPreconditionError(absl::StrCat(
          "compressed table ", config.name(),
          " is compressed cluster-wide, so it cannot be re-sharded from ",
          checkpoint_shards_, " to ", options_.num_shards, " shards: load it "
          "into ", checkpoint_shards_, " shards (or checkpoint the table "
          "uncompressed)"));
    }
    STRATA_RETURN_IF_ERROR(CheckEnumerable(config, fields));
    STRATA_RETURN_IF_ERROR(OnSparseTable(config));
    STRATA_RETURN_IF_ERROR(ExpandFields(fields));
    expanded_ = std::move(fields);
    return absl::OkStatus();
  }

  // The growth of the compressed table read just before: installed into the
  // restored table, or (another shard count) expanded into plain rows, folded
  // keys with their cluster's centroid. Frequencies of clusters are dropped
  // when expanding (a plain row has its own).
  absl::Status OnCompressedGrowth(const std::string& table,
                                  CompressedGrowth growth) override {
    if (table != last_compressed_) {
      return absl::DataLossError(absl::StrCat("growth of compressed table ",
                                              table, " does not follow it"));
    }
    if (checkpoint_shards_ == options_.num_shards) {
      if (restored_ == nullptr) return absl::OkStatus();  // another shard's
      info_.rows += growth.keys.size();
      for (const auto& f : growth.fields) info_.rows += f.folded_keys.size();
      CompressedTable* t = std::exchange(restored_, nullptr);
      return ToDataLoss(t->RestoreGrowth(std::move(growth)),
                        "bad compressed table growth");
    }
    return ExpandGrowth(growth);
  }

  // Kept from the file of this shard id under the same shard count.
  absl::Status OnPushWindows(std::vector<PushWindowState> windows) override {
    if (checkpoint_shards_ == options_.num_shards && file_shard_ == shard_id_) {
      push_windows_ = std::move(windows);
    }
    return absl::OkStatus();
  }

  // The shard id of the file read next.
  void set_file_shard(uint32_t shard) { file_shard_ = shard; }
  ShardTables TakeTables() { return std::move(tables_); }
  std::vector<PushWindowState> TakePushWindows() {
    return std::move(push_windows_);
  }
  const LoadInfo& info() const { return info_; }

 private:
  // Each indexed key of `fields` as a plain row holding its centroid.
  absl::Status ExpandFields(const std::vector<CompressedFieldState>& fields) {
    for (const CompressedFieldState& f : fields) {
      const size_t sf = f.steps.empty() ? 0 : f.state.size() / f.steps.size();
      absl::Status s;
      f.vectors.index().ForEach([&](uint64_t key, uint32_t c) {
        if (!s.ok()) return;
        const float* st = f.state.data() + size_t{c} * sf;
        s = OnSparseRow(key, 0, f.steps[c], f.vectors.centroid(c),
                        absl::MakeConstSpan(st, sf));
      });
      STRATA_RETURN_IF_ERROR(s);
    }
    return absl::OkStatus();
  }

  // Growth under another shard count: rows as they are, folded keys with
  // their cluster's centroid (fields of the table expanded just before).
  absl::Status ExpandGrowth(const CompressedGrowth& g) {
    const uint32_t dim = current_->dim();
    const size_t sf = current_->state_floats_per_row();
    const size_t n = g.keys.size();
    if (g.values.size() != n * dim || g.state.size() != n * sf ||
        g.frequency.size() != n || g.steps.size() != n) {
      return absl::DataLossError("inconsistent compressed table growth");
    }
    for (size_t i = 0; i < n; ++i) {
      STRATA_RETURN_IF_ERROR(
          OnSparseRow(g.keys[i], g.frequency[i], g.steps[i],
                      absl::MakeConstSpan(g.values).subspan(i * dim, dim),
                      absl::MakeConstSpan(g.state).subspan(i * sf, sf)));
    }
    for (const CompressedGrowth::Field& f : g.fields) {
      const CompressedFieldState* field = nullptr;
      for (const CompressedFieldState& e : expanded_) {
        if (e.field == f.field) field = &e;
      }
      if (field == nullptr ||
          f.folded_keys.size() != f.folded_clusters.size()) {
        return absl::DataLossError("compressed table growth names no field");
      }
      for (size_t i = 0; i < f.folded_keys.size(); ++i) {
        const uint32_t c = f.folded_clusters[i];
        if (c >= field->vectors.num_clusters()) {
          return absl::DataLossError("folded key names no cluster");
        }
        const float* st = field->state.data() + size_t{c} * sf;
        STRATA_RETURN_IF_ERROR(OnSparseRow(f.folded_keys[i], 0, field->steps[c],
                                           field->vectors.centroid(c),
                                           absl::MakeConstSpan(st, sf)));
      }
    }
    return absl::OkStatus();
  }

  // A compressed table written by this shard, restored bit for bit.
  absl::Status Restore(const TableConfig& config, const SaecConfig& saec,
                       std::vector<CompressedFieldState> fields) {
    if (!OwnsAnyKey(fields)) return absl::OkStatus();
    if (tables_.contains(config.name())) {
      return absl::DataLossError(absl::StrCat(
          "checkpoint holds table ", config.name(), " twice for one shard"));
    }
    for (const CompressedFieldState& f : fields) {  // centroids: checked
      STRATA_RETURN_IF_ERROR(
          ToDataLoss(internal::CheckFinite(f.state, "optimizer state float"),
                     absl::StrCat("bad compressed table ", config.name(),
                                  " field ", f.field)));
    }
    auto table = CompressedTable::Restore(config, saec, std::move(fields),
                                          options_.compressed);
    if (!table.ok()) return ToDataLoss(table.status(), "bad compressed table");
    info_.rows += (*table)->rows();
    restored_ = table->get();
    tables_[config.name()].compressed = *std::move(table);
    ++info_.sparse_tables;
    return absl::OkStatus();
  }

  // Expanding into another shard count needs the keys: FAILED_PRECONDITION
  // for an index that stores none (SaecConfig MPH, section 0x05).
  absl::Status CheckEnumerable(
      const TableConfig& config,
      const std::vector<CompressedFieldState>& fields) const {
    for (const CompressedFieldState& f : fields) {
      if (f.vectors.index().enumerable()) continue;
      return absl::FailedPreconditionError(absl::StrCat(
          "compressed table ", config.name(), " uses the ",
          compression::IndexLayoutName(f.vectors.index().layout()),
          " key index, which stores no keys, so it cannot be re-sharded from ",
          checkpoint_shards_, " to ", options_.num_shards,
          " shards: load it into ", checkpoint_shards_,
          " shards, or compress with index_layout: COMPACT before taking the "
          "checkpoint (or checkpoint the table uncompressed)"));
    }
    return absl::OkStatus();
  }

  // Whether the first indexed key of the first non-empty field is this
  // shard's (clusters are per shard, so one key decides for the table). An
  // index that stores no keys cannot say: the file's shard decides (the same
  // shard count wrote it, so shard i's file holds shard i's table).
  bool OwnsAnyKey(const std::vector<CompressedFieldState>& fields) const {
    for (const CompressedFieldState& f : fields) {
      if (!f.vectors.index().enumerable()) {
        return router_ == nullptr || file_shard_ == shard_id_;
      }
      bool mine = false, seen = false;
      f.vectors.index().ForEach([&](uint64_t key, uint32_t) {
        if (seen) return;
        seen = true;
        mine = router_ == nullptr || router_->ShardForKey(key) == shard_id_;
      });
      if (seen) return mine;
    }
    return false;
  }

  const CheckpointLoaderOptions& options_;
  const ShardRouter* const router_;  // null: keep everything
  const uint32_t shard_id_;
  const uint32_t checkpoint_shards_;
  uint32_t file_shard_ = 0;
  ShardTables tables_;
  std::vector<PushWindowState> push_windows_;
  SparseTable* current_ = nullptr;  // owned by tables_
  // The compressed table read last, and its fields when it was expanded.
  std::string last_compressed_;
  CompressedTable* restored_ = nullptr;  // owned by tables_; null: skipped
  std::vector<CompressedFieldState> expanded_;
  LoadInfo info_;
};

}  // namespace

absl::StatusOr<LoadedCheckpoint> LoadCheckpoint(
    Env* env, const std::string& dir, uint64_t checkpoint_id,
    const CheckpointLoaderOptions& options) {
  STRATA_ASSIGN_OR_RETURN(const CheckpointFiles files,
                          FindCheckpoint(env, dir, checkpoint_id));
  Loader loader(options, files.num_shards);
  for (uint32_t i = 0; i < files.num_shards; ++i) {
    ShardFileHeader expected;
    expected.shard_id = i;
    expected.num_shards = files.num_shards;
    expected.checkpoint_id = files.checkpoint_id;
    loader.set_file_shard(i);
    STRATA_RETURN_IF_ERROR(
        ReadShardFile(env, files.paths[i], expected, &loader));
  }
  LoadedCheckpoint loaded;
  loaded.tables = loader.TakeTables();
  loaded.push_windows = loader.TakePushWindows();
  loaded.info = loader.info();
  loaded.info.push_windows = loaded.push_windows.size();
  loaded.info.checkpoint_id = files.checkpoint_id;
  loaded.info.written_by_num_shards = files.num_shards;
  return loaded;
}

}  // namespace strata
