#include "server/storage/checkpoint_writer.h"

#include <algorithm>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "proto/base/status_macros.h"
#include "server/storage/internal/crc32c.h"
#include "server/storage/internal/status_context.h"
#include "server/storage/internal/validation.h"

namespace strata {
namespace {

using internal::WithContext;

// Appends to a WritableFile through a bounded buffer, keeps a running CRC32C
// of everything written and remembers the first error (later appends are
// no-ops). Borrows `file`. Not thread-safe.
class ChunkWriter {
 public:
  ChunkWriter(WritableFile* file, size_t buffer_bytes)
      : file_(file), limit_(std::max<size_t>(buffer_bytes, 4096)) {
    buffer_.reserve(limit_);
  }

  void Append(const void* data, size_t n) {
    const char* p = static_cast<const char*>(data);
    while (n > 0 && status_.ok()) {
      const size_t take = std::min(n, limit_ - buffer_.size());
      buffer_.append(p, take);
      p += take;
      n -= take;
      if (buffer_.size() == limit_) Flush();
    }
  }
  template <typename T>
  void Put(T value) {
    Append(&value, sizeof(value));
  }
  void PutSection(CheckpointSection kind) { Put(static_cast<uint8_t>(kind)); }
  void PutFloats(const float* v, size_t n) { Append(v, n * sizeof(float)); }
  void PutBytes(const std::string& s) {
    Put<uint32_t>(static_cast<uint32_t>(s.size()));
    Append(s.data(), s.size());
  }

  void Flush() {
    if (!status_.ok() || buffer_.empty()) return;
    crc_ = crc32c::Extend(crc_, buffer_.data(), buffer_.size());
    status_ = file_->Append(buffer_);
    bytes_ += buffer_.size();
    buffer_.clear();
  }

  // Records `s` as the error (the first one wins); later appends are no-ops.
  void Fail(absl::Status s) {
    if (status_.ok()) status_ = std::move(s);
  }

  // CRC of everything appended so far (flushes first).
  uint32_t Crc() {
    Flush();
    return crc_;
  }
  uint64_t bytes() const { return bytes_ + buffer_.size(); }
  const absl::Status& status() const { return status_; }

 private:
  WritableFile* const file_;
  const size_t limit_;
  std::string buffer_;
  uint32_t crc_ = 0;
  uint64_t bytes_ = 0;
  absl::Status status_;
};

// OK when every float of `values` and `state` is finite. Otherwise
// FAILED_PRECONDITION naming where() (built only then): the loader rejects
// non-finite floats as DATA_LOSS, so the writer refuses to write them.
template <typename Where>
absl::Status CheckLoadable(absl::Span<const float> values,
                           absl::Span<const float> state, const Where& where) {
  absl::Status s = internal::CheckFinite(values, "value");
  if (s.ok()) s = internal::CheckFinite(state, "optimizer state float");
  if (s.ok()) return s;
  return absl::FailedPreconditionError(
      absl::StrCat("refusing to checkpoint ", where(), ": ", s.message(),
                   "; the loader would reject it"));
}

uint64_t WriteSparse(const SparseTable& table, ChunkWriter* w) {
  const uint32_t dim = table.dim();
  const size_t state_floats = table.state_floats_per_row();
  w->PutSection(CheckpointSection::kSparse);
  w->PutBytes(table.config().SerializeAsString());
  w->Put<uint32_t>(dim);
  w->Put<uint32_t>(static_cast<uint32_t>(state_floats));
  w->Put<uint32_t>(table.num_stripes());  // one block per stripe
  uint64_t rows = 0;
  for (uint32_t s = 0; s < table.num_stripes(); ++s) {
    table.VisitStripe(
        s, [w](size_t n) { w->Put<uint64_t>(n); },
        [&](uint64_t key, const float* values, const float* state, int64_t step,
            uint64_t frequency) {
          if (!w->status().ok()) return;
          absl::Status loadable = CheckLoadable(
              absl::MakeConstSpan(values, dim),
              absl::MakeConstSpan(state, state_floats), [&] {
                return absl::StrCat("table ", table.config().name(), ", key ",
                                    key);
              });
          if (!loadable.ok()) return w->Fail(std::move(loadable));
          w->Put<uint64_t>(key);
          w->Put<uint64_t>(frequency);
          w->Put<int64_t>(step);
          w->PutFloats(values, dim);
          w->PutFloats(state, state_floats);
          ++rows;
        });
  }
  return rows;
}

void WriteDense(const DenseTable& table, ChunkWriter* w) {
  w->PutSection(CheckpointSection::kDense);
  w->PutBytes(table.config().SerializeAsString());
  table.Visit([&](absl::Span<const float> values, absl::Span<const float> state,
                  int64_t step) {
    absl::Status loadable = CheckLoadable(
        values, state, [&] { return "dense tensor " + table.name(); });
    if (!loadable.ok()) return w->Fail(std::move(loadable));
    w->Put<int64_t>(step);
    w->Put<uint64_t>(values.size());
    w->PutFloats(values.data(), values.size());
    w->Put<uint64_t>(state.size());
    w->PutFloats(state.data(), state.size());
  });
}

// Version 3: a field's key index as KeyIndex::Serialize() bytes (section
// kCompressedMph), u64 length first.
void WriteMphIndex(const compression::KeyIndex& index, ChunkWriter* w) {
  absl::StatusOr<std::string> bytes = index.Serialize();
  if (!bytes.ok()) return w->Fail(bytes.status());
  w->Put<uint64_t>(bytes->size());
  w->Append(bytes->data(), bytes->size());
}

// Whether a table's indexes store no keys (kMph), so that it is written as
// a kCompressedMph section.
bool HasKeylessIndex(const CompressedTable& table) {
  bool keyless = false;
  table.VisitFields([&](const CompressedFieldState& f) {
    keyless = keyless || !f.vectors.index().enumerable();
  });
  return keyless;
}

// A compressed table, field by field: its centroids, fallback, optimizer
// state and its index: the (key, cluster) pairs (kCompressed) or, for an
// index that stores no keys, the index itself (kCompressedMph).
uint64_t WriteCompressed(const CompressedTable& table, ChunkWriter* w) {
  const uint32_t dim = table.dim();
  const size_t sf = table.state_floats_per_row();
  const bool keyless = HasKeylessIndex(table);
  w->PutSection(keyless ? CheckpointSection::kCompressedMph
                        : CheckpointSection::kCompressed);
  w->PutBytes(table.config().SerializeAsString());
  w->PutBytes(table.saec_config().SerializeAsString());
  w->Put<uint32_t>(dim);
  w->Put<uint32_t>(static_cast<uint32_t>(sf));
  uint32_t fields = 0;  // Stats() also names fields without clusters
  table.VisitFields([&](const CompressedFieldState&) { ++fields; });
  w->Put<uint32_t>(fields);
  uint64_t rows = 0;
  table.VisitFields([&](const CompressedFieldState& f) {
    const uint32_t k = f.vectors.num_clusters();
    if (!w->status().ok()) return;
    const auto where = [&] {
      return absl::StrCat("compressed table ", table.config().name(),
                          ", field ", f.field);
    };
    absl::Status loadable =
        CheckLoadable(f.vectors.centroids(), f.state, where);
    if (loadable.ok()) {
      loadable = CheckLoadable(f.vectors.fallback(), {}, where);
    }
    if (!loadable.ok()) return w->Fail(std::move(loadable));
    w->Put<uint32_t>(f.field);
    w->PutBytes(f.stats.SerializeAsString());
    w->Put<uint32_t>(k);
    w->Put<uint64_t>(f.vectors.num_features());
    // Version 4: the stored clusters (all of them, or the homed ones of a
    // cluster-wide table, listed).
    const uint32_t stored = f.vectors.num_rows();
    w->Put<uint32_t>(stored);
    if (stored != k) {
      for (uint32_t r = 0; r < stored; ++r) {
        w->Put<uint32_t>(f.vectors.ClusterOfRow(r));
      }
    }
    w->PutFloats(f.vectors.centroids().data(), size_t{stored} * dim);
    w->PutFloats(f.vectors.fallback().data(), dim);
    w->PutFloats(f.state.data(), f.state.size());
    for (int64_t step : f.steps) w->Put<int64_t>(step);
    if (keyless) {
      WriteMphIndex(f.vectors.index(), w);
    } else {
      f.vectors.index().ForEach([w](uint64_t key, uint32_t cluster) {
        w->Put<uint64_t>(key);
        w->Put<uint32_t>(cluster);
      });
    }
    rows += f.vectors.num_features();
  });
  return rows;
}

// The growth of a compressed table (CheckpointSection::kCompressedGrowth):
// cluster frequencies, folded keys and overflow rows. Returns the keys it
// holds (folded keys and rows).
uint64_t WriteCompressedGrowth(const CompressedTable& table, ChunkWriter* w) {
  const CompressedGrowth g = table.Growth();
  const uint32_t dim = table.dim();
  const size_t sf = table.state_floats_per_row();
  absl::Status loadable = CheckLoadable(g.values, g.state, [&] {
    return absl::StrCat("the new rows of compressed table ",
                        table.config().name());
  });
  if (!loadable.ok()) {
    w->Fail(std::move(loadable));
    return 0;
  }
  w->PutSection(CheckpointSection::kCompressedGrowth);
  w->PutBytes(table.config().name());
  w->Put<uint32_t>(dim);
  w->Put<uint32_t>(static_cast<uint32_t>(sf));
  w->Put<uint32_t>(static_cast<uint32_t>(g.fields.size()));
  uint64_t keys = g.keys.size();
  for (const CompressedGrowth::Field& f : g.fields) {
    w->Put<uint32_t>(f.field);
    w->Put<uint32_t>(static_cast<uint32_t>(f.frequency.size()));
    for (uint64_t n : f.frequency) w->Put<uint64_t>(n);
    w->Put<uint64_t>(f.folded_keys.size());
    for (size_t i = 0; i < f.folded_keys.size(); ++i) {
      w->Put<uint64_t>(f.folded_keys[i]);
      w->Put<uint32_t>(f.folded_clusters[i]);
    }
    keys += f.folded_keys.size();
  }
  w->Put<uint64_t>(g.keys.size());
  for (size_t i = 0; i < g.keys.size(); ++i) {
    w->Put<uint64_t>(g.keys[i]);
    w->Put<uint64_t>(g.frequency[i]);
    w->Put<int64_t>(g.steps[i]);
    w->PutFloats(g.values.data() + i * dim, dim);
    w->PutFloats(g.state.data() + i * sf, sf);
  }
  return keys;
}

// The push windows of a shard (CheckpointSection::kPushWindows).
void WritePushWindows(const std::vector<PushWindowState>& windows,
                      ChunkWriter* w) {
  w->PutSection(CheckpointSection::kPushWindows);
  w->Put<uint32_t>(static_cast<uint32_t>(kPushWindowWords));
  w->Put<uint32_t>(static_cast<uint32_t>(windows.size()));
  for (const PushWindowState& window : windows) {
    w->Put<uint64_t>(window.client_id);
    w->Put<uint64_t>(window.highest);
    for (size_t i = 0; i < kPushWindowWords; ++i) {
      w->Put<uint64_t>(i < window.applied.size() ? window.applied[i] : 0);
    }
  }
}

// Header, sections, end marker and CRC footer. Returns the write error, if
// any; `stats` gets the counts.
absl::Status WriteContents(ChunkWriter* w, const ShardFileHeader& header,
                           absl::Span<const SparseTable* const> sparse,
                           absl::Span<const DenseTable* const> dense,
                           absl::Span<const CompressedTable* const> compressed,
                           PushDedup* dedup, ShardFileStats* stats) {
  w->Append(kCheckpointMagic, kCheckpointMagicBytes);
  w->Put<uint32_t>(kCheckpointFormatVersion);
  w->Put<uint32_t>(header.shard_id);
  w->Put<uint32_t>(header.num_shards);
  w->Put<uint64_t>(header.checkpoint_id);
  for (const SparseTable* t : sparse) {
    stats->rows += WriteSparse(*t, w);
    ++stats->sparse_tables;
  }
  uint32_t growth_sections = 0;
  for (const CompressedTable* t : compressed) {
    stats->rows += WriteCompressed(*t, w);
    ++stats->sparse_tables;
    if (t->HasGrowth()) {
      stats->rows += WriteCompressedGrowth(*t, w);
      ++growth_sections;
    }
  }
  for (const DenseTable* t : dense) {
    WriteDense(*t, w);
    ++stats->dense_tensors;
  }
  uint32_t sections =
      stats->sparse_tables + stats->dense_tensors + growth_sections;
  if (dedup != nullptr && w->status().ok()) {
    const std::vector<PushWindowState> windows = dedup->Snapshot();
    if (!windows.empty()) {
      WritePushWindows(windows, w);
      stats->push_windows = windows.size();
      ++sections;
    }
  }
  w->PutSection(CheckpointSection::kEnd);
  w->Put<uint32_t>(sections);
  w->Put<uint64_t>(stats->rows);
  const uint32_t crc = w->Crc();
  w->Put<uint32_t>(crc);
  w->Flush();
  stats->bytes = w->bytes();
  return w->status();
}

std::string Dirname(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

absl::StatusOr<ShardFileStats> WriteShardFile(
    Env* env, const std::string& path, const ShardFileHeader& header,
    absl::Span<const SparseTable* const> sparse,
    absl::Span<const DenseTable* const> dense, size_t buffer_bytes,
    absl::Span<const CompressedTable* const> compressed, PushDedup* dedup) {
  const std::string tmp = path + ".tmp";
  absl::StatusOr<std::unique_ptr<WritableFile>> file =
      env->NewWritableFile(tmp);
  if (!file.ok()) return WithContext(file.status(), "writing checkpoint");
  ShardFileStats stats;
  // Contents, fsync, close, rename into place, fsync of the directory.
  auto write_and_publish = [&]() -> absl::Status {
    {
      ChunkWriter writer(file->get(), buffer_bytes);
      STRATA_RETURN_IF_ERROR(WriteContents(&writer, header, sparse, dense,
                                           compressed, dedup, &stats));
    }
    STRATA_RETURN_IF_ERROR((*file)->Sync());
    STRATA_RETURN_IF_ERROR((*file)->Close());
    STRATA_RETURN_IF_ERROR(env->RenameFile(tmp, path));
    return env->SyncDir(Dirname(path));
  };
  const absl::Status s = write_and_publish();
  if (!s.ok()) {
    // Best effort: after a crash-like failure the temp file may stay; it is
    // ignored by FindCheckpoint and overwritten by the next attempt.
    file->reset();
    env->DeleteFile(tmp).IgnoreError();
    return WithContext(s, absl::StrCat("writing checkpoint ", path));
  }
  return stats;
}

}  // namespace strata
