#include "server/storage/checkpoint.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <utility>

#include "absl/base/config.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "server/storage/internal/crc32c.h"

#ifdef ABSL_IS_BIG_ENDIAN
#error "checkpoint files are little-endian; big-endian hosts are not supported"
#endif

namespace strata {
namespace {

constexpr uint8_t kSparseSection = 0x01;
constexpr uint8_t kDenseSection = 0x02;
constexpr uint8_t kCompressedSection = 0x03;
constexpr uint8_t kEndSection = 0xFF;
constexpr size_t kMagicBytes = 8;
// magic + version + shard_id + num_shards + checkpoint_id
constexpr size_t kHeaderBytes = kMagicBytes + 4 + 4 + 4 + 8;
constexpr size_t kFooterBytes = 4;  // CRC32C
// key + frequency + step
constexpr size_t kRowPrefixBytes = 8 + 8 + 8;

// Returns early with the status of `expr` if it is not OK.
#define STRATA_RETURN_IF_ERROR(expr)                      \
  do {                                                    \
    if (absl::Status _st = (expr); !_st.ok()) return _st; \
  } while (0)

// ---------------------------------------------------------------------------
// Writing.

// Appends to a WritableFile through a bounded buffer, keeps a running CRC32C
// of everything written and remembers the first error (later appends are
// no-ops). Not thread-safe.
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

uint64_t WriteSparse(const SparseTable& table, ChunkWriter* w) {
  const uint32_t dim = table.dim();
  const size_t state_floats = table.state_floats_per_row();
  w->Put<uint8_t>(kSparseSection);
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
  w->Put<uint8_t>(kDenseSection);
  w->PutBytes(table.config().SerializeAsString());
  table.Visit([w](absl::Span<const float> values, absl::Span<const float> state,
                  int64_t step) {
    w->Put<int64_t>(step);
    w->Put<uint64_t>(values.size());
    w->PutFloats(values.data(), values.size());
    w->Put<uint64_t>(state.size());
    w->PutFloats(state.data(), state.size());
  });
}

// Section 0x03: a compressed table, field by field: its centroids,
// fallback, optimizer state and the (key, cluster) pairs of its index.
uint64_t WriteCompressed(const CompressedTable& table, ChunkWriter* w) {
  const uint32_t dim = table.dim();
  const size_t sf = table.state_floats_per_row();
  w->Put<uint8_t>(kCompressedSection);
  w->PutBytes(table.config().SerializeAsString());
  w->PutBytes(table.saec_config().SerializeAsString());
  w->Put<uint32_t>(dim);
  w->Put<uint32_t>(static_cast<uint32_t>(sf));
  w->Put<uint32_t>(static_cast<uint32_t>(table.Stats().size()));
  uint64_t rows = 0;
  table.VisitFields([&](const CompressedFieldState& f) {
    const uint32_t k = f.vectors.num_clusters();
    w->Put<uint32_t>(f.field);
    w->PutBytes(f.stats.SerializeAsString());
    w->Put<uint32_t>(k);
    w->Put<uint64_t>(f.vectors.num_features());
    w->PutFloats(f.vectors.centroids().data(), size_t{k} * dim);
    w->PutFloats(f.vectors.fallback().data(), dim);
    w->PutFloats(f.state.data(), f.state.size());
    for (int64_t step : f.steps) w->Put<int64_t>(step);
    f.vectors.index().ForEach([w](uint64_t key, uint32_t cluster) {
      w->Put<uint64_t>(key);
      w->Put<uint32_t>(cluster);
    });
    rows += f.vectors.num_features();
  });
  return rows;
}

// Header, sections, end marker and CRC footer. Returns the write error, if
// any; `stats` gets the counts.
absl::Status WriteContents(ChunkWriter* w, const ShardFileHeader& header,
                           absl::Span<const SparseTable* const> sparse,
                           absl::Span<const DenseTable* const> dense,
                           absl::Span<const CompressedTable* const> compressed,
                           ShardFileStats* stats) {
  w->Append(kCheckpointMagic, kMagicBytes);
  w->Put<uint32_t>(kCheckpointFormatVersion);
  w->Put<uint32_t>(header.shard_id);
  w->Put<uint32_t>(header.num_shards);
  w->Put<uint64_t>(header.checkpoint_id);
  for (const SparseTable* t : sparse) {
    stats->rows += WriteSparse(*t, w);
    ++stats->sparse_tables;
  }
  for (const CompressedTable* t : compressed) {
    stats->rows += WriteCompressed(*t, w);
    ++stats->sparse_tables;
  }
  for (const DenseTable* t : dense) {
    WriteDense(*t, w);
    ++stats->dense_tensors;
  }
  w->Put<uint8_t>(kEndSection);
  w->Put<uint32_t>(stats->sparse_tables + stats->dense_tensors);
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

absl::Status Annotate(const absl::Status& s, absl::string_view context) {
  if (s.ok()) return s;
  return absl::Status(s.code(), absl::StrCat(context, ": ", s.message()));
}

}  // namespace

absl::StatusOr<ShardFileStats> WriteShardFile(
    Env* env, const std::string& path, const ShardFileHeader& header,
    absl::Span<const SparseTable* const> sparse,
    absl::Span<const DenseTable* const> dense, size_t buffer_bytes,
    absl::Span<const CompressedTable* const> compressed) {
  const std::string tmp = path + ".tmp";
  absl::StatusOr<std::unique_ptr<WritableFile>> file =
      env->NewWritableFile(tmp);
  if (!file.ok()) return Annotate(file.status(), "writing checkpoint");
  ShardFileStats stats;
  absl::Status s;
  {
    ChunkWriter writer(file->get(), buffer_bytes);
    s = WriteContents(&writer, header, sparse, dense, compressed, &stats);
  }
  if (s.ok()) s = (*file)->Sync();
  if (s.ok()) s = (*file)->Close();
  if (s.ok()) s = env->RenameFile(tmp, path);
  if (s.ok()) s = env->SyncDir(Dirname(path));
  if (!s.ok()) {
    // Best effort: after a crash-like failure the temp file may stay; it is
    // ignored by FindCheckpoint and overwritten by the next attempt.
    file->reset();
    env->DeleteFile(tmp).IgnoreError();
    return Annotate(s, absl::StrCat("writing checkpoint ", path));
  }
  return stats;
}

// ---------------------------------------------------------------------------
// Reading.

namespace {

// Bounds-checked little-endian reads from an in-memory file; every failure
// is DATA_LOSS naming the file, the offset and what was being read.
class Cursor {
 public:
  Cursor(absl::string_view data, const std::string& path)
      : data_(data), path_(path) {}

  size_t offset() const { return offset_; }
  size_t remaining() const { return data_.size() - offset_; }

  absl::Status Bytes(size_t n, absl::string_view* out, absl::string_view what) {
    if (n > remaining()) {
      return absl::DataLossError(
          absl::StrCat(path_, ": truncated at offset ", offset_, " reading ",
                       what, " (need ", n, " bytes, ", remaining(), " left)"));
    }
    *out = data_.substr(offset_, n);
    offset_ += n;
    return absl::OkStatus();
  }
  template <typename T>
  absl::Status Get(T* out, absl::string_view what) {
    absl::string_view b;
    STRATA_RETURN_IF_ERROR(Bytes(sizeof(T), &b, what));
    std::memcpy(out, b.data(), sizeof(T));
    return absl::OkStatus();
  }
  // Copies n floats into out (resized); the file buffer is not aligned.
  absl::Status Floats(uint64_t n, std::vector<float>* out,
                      absl::string_view what) {
    if (n > remaining() / sizeof(float)) {
      return absl::DataLossError(absl::StrCat(path_, ": truncated at offset ",
                                              offset_, " reading ", n,
                                              " floats of ", what));
    }
    out->resize(n);
    absl::string_view b;
    STRATA_RETURN_IF_ERROR(Bytes(n * sizeof(float), &b, what));
    if (n > 0) std::memcpy(out->data(), b.data(), b.size());
    return absl::OkStatus();
  }
  absl::Status Error(absl::string_view message) const {
    return absl::DataLossError(
        absl::StrCat(path_, ": ", message, " (at offset ", offset_, ")"));
  }

 private:
  const absl::string_view data_;
  const std::string& path_;
  size_t offset_ = 0;
};

template <typename Proto>
absl::Status ReadConfig(Cursor* c, Proto* config, absl::string_view what) {
  uint32_t len;
  STRATA_RETURN_IF_ERROR(c->Get(&len, what));
  absl::string_view bytes;
  STRATA_RETURN_IF_ERROR(c->Bytes(len, &bytes, what));
  if (!config->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return c->Error(absl::StrCat("unparsable ", what));
  }
  return absl::OkStatus();
}

absl::Status ReadSparse(Cursor* c, const std::string& path,
                        CheckpointVisitor* visitor, uint64_t* rows) {
  TableConfig config;
  STRATA_RETURN_IF_ERROR(ReadConfig(c, &config, "TableConfig"));
  uint32_t dim, state_floats, blocks;
  STRATA_RETURN_IF_ERROR(c->Get(&dim, "dim"));
  STRATA_RETURN_IF_ERROR(c->Get(&state_floats, "state floats per row"));
  STRATA_RETURN_IF_ERROR(c->Get(&blocks, "block count"));
  if (dim != config.dim()) {
    return c->Error(absl::StrCat("table ", config.name(), " has dim ",
                                 config.dim(), " but its rows have ", dim));
  }
  STRATA_RETURN_IF_ERROR(Annotate(visitor->OnSparseTable(config), path));
  const uint64_t row_bytes =
      kRowPrefixBytes + (uint64_t{dim} + state_floats) * sizeof(float);
  std::vector<float> values, state;
  for (uint32_t b = 0; b < blocks; ++b) {
    uint64_t n;
    STRATA_RETURN_IF_ERROR(c->Get(&n, "row count"));
    if (n > c->remaining() / row_bytes) {
      return c->Error(absl::StrCat("truncated: block of ", n, " rows of ",
                                   row_bytes, " bytes"));
    }
    for (uint64_t r = 0; r < n; ++r) {
      uint64_t key, frequency;
      int64_t step;
      STRATA_RETURN_IF_ERROR(c->Get(&key, "key"));
      STRATA_RETURN_IF_ERROR(c->Get(&frequency, "frequency"));
      STRATA_RETURN_IF_ERROR(c->Get(&step, "step"));
      STRATA_RETURN_IF_ERROR(c->Floats(dim, &values, "row values"));
      STRATA_RETURN_IF_ERROR(c->Floats(state_floats, &state, "row state"));
      STRATA_RETURN_IF_ERROR(Annotate(
          visitor->OnSparseRow(key, frequency, step, values, state), path));
    }
    *rows += n;
  }
  return absl::OkStatus();
}

absl::Status ReadDense(Cursor* c, const std::string& path,
                       CheckpointVisitor* visitor) {
  DenseConfig config;
  STRATA_RETURN_IF_ERROR(ReadConfig(c, &config, "DenseConfig"));
  int64_t step;
  uint64_t value_count, state_count;
  std::vector<float> values, state;
  STRATA_RETURN_IF_ERROR(c->Get(&step, "dense step"));
  STRATA_RETURN_IF_ERROR(c->Get(&value_count, "dense value count"));
  if (value_count != config.size()) {
    return c->Error(absl::StrCat("dense tensor ", config.name(), " has size ",
                                 config.size(), " but ", value_count,
                                 " values"));
  }
  STRATA_RETURN_IF_ERROR(c->Floats(value_count, &values, "dense values"));
  STRATA_RETURN_IF_ERROR(c->Get(&state_count, "dense state count"));
  STRATA_RETURN_IF_ERROR(c->Floats(state_count, &state, "dense state"));
  return Annotate(visitor->OnDenseTensor(config, step, values, state), path);
}

// One field of a compressed section (see WriteCompressed).
absl::Status ReadCompressedField(Cursor* c, uint32_t dim, uint32_t sf,
                                 std::vector<CompressedFieldState>* out) {
  uint32_t id;
  FieldStats stats;
  std::vector<float> state;
  std::vector<int64_t> steps;
  STRATA_RETURN_IF_ERROR(c->Get(&id, "field id"));
  STRATA_RETURN_IF_ERROR(ReadConfig(c, &stats, "FieldStats"));
  uint32_t k;
  uint64_t n;
  STRATA_RETURN_IF_ERROR(c->Get(&k, "cluster count"));
  STRATA_RETURN_IF_ERROR(c->Get(&n, "feature count"));
  if (k == 0 || n > c->remaining() / 12 ||
      uint64_t{k} * dim > c->remaining() / sizeof(float)) {
    return c->Error(absl::StrCat("implausible field: ", k, " clusters, ", n,
                                 " features"));
  }
  std::vector<float> centroids, fallback;
  STRATA_RETURN_IF_ERROR(c->Floats(uint64_t{k} * dim, &centroids, "centroids"));
  STRATA_RETURN_IF_ERROR(c->Floats(dim, &fallback, "fallback"));
  STRATA_RETURN_IF_ERROR(
      c->Floats(uint64_t{k + 1} * sf, &state, "cluster state"));
  steps.resize(k + 1);
  for (int64_t& step : steps) {
    STRATA_RETURN_IF_ERROR(c->Get(&step, "cluster step"));
  }
  std::vector<uint64_t> keys(n);
  std::vector<uint32_t> clusters(n);
  for (uint64_t i = 0; i < n; ++i) {
    STRATA_RETURN_IF_ERROR(c->Get(&keys[i], "index key"));
    STRATA_RETURN_IF_ERROR(c->Get(&clusters[i], "index cluster"));
    if (clusters[i] >= k) {
      return c->Error(absl::StrCat("index entry names cluster ", clusters[i],
                                   " of ", k));
    }
  }
  auto field = compression::CompressedField::Create(
      static_cast<int>(dim), std::move(centroids), std::move(fallback), keys,
      clusters, compression::KeyIndexOptions());
  if (!field.ok()) return c->Error(field.status().message());
  out->push_back(CompressedFieldState{id, std::move(*field), std::move(state),
                                      std::move(steps), std::move(stats)});
  return absl::OkStatus();
}

absl::Status ReadCompressed(Cursor* c, const std::string& path,
                            CheckpointVisitor* visitor, uint64_t* rows) {
  TableConfig config;
  SaecConfig saec;
  STRATA_RETURN_IF_ERROR(ReadConfig(c, &config, "TableConfig"));
  STRATA_RETURN_IF_ERROR(ReadConfig(c, &saec, "SaecConfig"));
  uint32_t dim, sf, count;
  STRATA_RETURN_IF_ERROR(c->Get(&dim, "dim"));
  STRATA_RETURN_IF_ERROR(c->Get(&sf, "state floats per row"));
  STRATA_RETURN_IF_ERROR(c->Get(&count, "field count"));
  if (dim != config.dim()) {
    return c->Error(absl::StrCat("compressed table ", config.name(),
                                 " has dim ", config.dim(), " but rows of ",
                                 dim));
  }
  std::vector<CompressedFieldState> fields;
  for (uint32_t i = 0; i < count; ++i) {
    STRATA_RETURN_IF_ERROR(ReadCompressedField(c, dim, sf, &fields));
    *rows += fields.back().vectors.num_features();
  }
  return Annotate(visitor->OnCompressedTable(config, saec, std::move(fields)),
                  path);
}

// Checks size, magic, CRC, version and identity; leaves `c` after the header.
absl::Status ReadHeader(Cursor* c, absl::string_view data,
                        const std::string& path,
                        const ShardFileHeader& expected) {
  if (data.size() < kHeaderBytes + kFooterBytes) {
    return absl::DataLossError(absl::StrCat(path, ": truncated: ", data.size(),
                                            " bytes is too short"));
  }
  if (data.substr(0, kMagicBytes) != absl::string_view(kCheckpointMagic)) {
    return absl::DataLossError(
        absl::StrCat(path, ": bad magic, not a Strata checkpoint file"));
  }
  const size_t body = data.size() - kFooterBytes;
  uint32_t stored;
  std::memcpy(&stored, data.data() + body, sizeof(stored));
  const uint32_t computed = crc32c::Extend(0, data.data(), body);
  if (stored != computed) {
    return absl::DataLossError(absl::StrFormat(
        "%s: CRC32C mismatch (stored %08x, computed %08x): the file is "
        "corrupted or truncated",
        path, stored, computed));
  }
  absl::string_view magic;
  uint32_t version;
  ShardFileHeader h;
  STRATA_RETURN_IF_ERROR(c->Bytes(kMagicBytes, &magic, "magic"));
  STRATA_RETURN_IF_ERROR(c->Get(&version, "version"));
  if (version != kCheckpointFormatVersion) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, ": format version ", version,
                     " is not supported (this build "
                     "reads version ",
                     kCheckpointFormatVersion, ")"));
  }
  STRATA_RETURN_IF_ERROR(c->Get(&h.shard_id, "shard id"));
  STRATA_RETURN_IF_ERROR(c->Get(&h.num_shards, "shard count"));
  STRATA_RETURN_IF_ERROR(c->Get(&h.checkpoint_id, "checkpoint id"));
  if (h.shard_id != expected.shard_id || h.num_shards != expected.num_shards ||
      h.checkpoint_id != expected.checkpoint_id) {
    return absl::DataLossError(absl::StrCat(
        path, ": header says shard ", h.shard_id, " of ", h.num_shards,
        " of checkpoint ", h.checkpoint_id, ", expected shard ",
        expected.shard_id, " of ", expected.num_shards, " of checkpoint ",
        expected.checkpoint_id));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ReadShardFile(Env* env, const std::string& path,
                           const ShardFileHeader& expected,
                           CheckpointVisitor* visitor) {
  absl::StatusOr<std::string> data = env->ReadFileToString(path);
  if (!data.ok()) return Annotate(data.status(), "reading checkpoint");
  Cursor c(*data, path);
  STRATA_RETURN_IF_ERROR(ReadHeader(&c, *data, path, expected));
  const size_t body = data->size() - kFooterBytes;
  uint32_t sections = 0;
  uint64_t rows = 0;
  while (true) {
    uint8_t kind;
    STRATA_RETURN_IF_ERROR(c.Get(&kind, "section kind"));
    if (kind == kSparseSection) {
      STRATA_RETURN_IF_ERROR(ReadSparse(&c, path, visitor, &rows));
    } else if (kind == kDenseSection) {
      STRATA_RETURN_IF_ERROR(ReadDense(&c, path, visitor));
    } else if (kind == kCompressedSection) {
      STRATA_RETURN_IF_ERROR(ReadCompressed(&c, path, visitor, &rows));
    } else if (kind == kEndSection) {
      break;
    } else {
      return c.Error(absl::StrCat("unknown section kind ", kind));
    }
    ++sections;
  }
  uint32_t stored_sections;
  uint64_t stored_rows;
  STRATA_RETURN_IF_ERROR(c.Get(&stored_sections, "section count"));
  STRATA_RETURN_IF_ERROR(c.Get(&stored_rows, "row count"));
  if (stored_sections != sections || stored_rows != rows) {
    return c.Error(absl::StrCat("end marker counts ", stored_sections,
                                " sections and ", stored_rows, " rows, read ",
                                sections, " and ", rows));
  }
  if (c.offset() != body) {
    return c.Error(absl::StrCat(body - c.offset(),
                                " unexpected bytes after the end marker"));
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// Names and discovery.

std::string CheckpointDirName(uint64_t checkpoint_id) {
  return absl::StrFormat("ckpt-%020u", checkpoint_id);
}

std::string ShardFileName(uint32_t shard_id, uint32_t num_shards) {
  return absl::StrFormat("shard-%05u-of-%05u.ckpt", shard_id, num_shards);
}

namespace {

bool ParseCheckpointDirName(absl::string_view name, uint64_t* id) {
  if (!absl::ConsumePrefix(&name, "ckpt-") || name.size() != 20) return false;
  for (char ch : name) {
    if (ch < '0' || ch > '9') return false;
  }
  return absl::SimpleAtoi(name, id);
}

bool ParseShardFileName(absl::string_view name, uint32_t* shard,
                        uint32_t* num_shards) {
  absl::string_view rest = name;
  if (!absl::ConsumePrefix(&rest, "shard-") ||
      !absl::ConsumeSuffix(&rest, ".ckpt")) {
    return false;
  }
  const size_t of = rest.find("-of-");
  if (of == absl::string_view::npos) return false;
  if (!absl::SimpleAtoi(rest.substr(0, of), shard) ||
      !absl::SimpleAtoi(rest.substr(of + 4), num_shards)) {
    return false;
  }
  // Only canonical names count (no signs, spaces or odd padding).
  return *shard < *num_shards && name == ShardFileName(*shard, *num_shards);
}

// The complete file set of checkpoint `id` in `ckpt_dir`.
absl::StatusOr<CheckpointFiles> CompleteSet(Env* env,
                                            const std::string& ckpt_dir,
                                            uint64_t id) {
  absl::StatusOr<std::vector<std::string>> names = env->GetChildren(ckpt_dir);
  if (!names.ok()) return names.status();
  std::map<uint32_t, std::set<uint32_t>> shards_by_count;
  for (const std::string& name : *names) {
    uint32_t shard, count;
    if (ParseShardFileName(name, &shard, &count)) {
      shards_by_count[count].insert(shard);
    }
  }
  std::vector<uint32_t> complete;
  uint32_t best = 0;  // the shard count with the most files, for the error
  size_t best_files = 0;
  for (const auto& [count, shards] : shards_by_count) {
    if (shards.size() == count) complete.push_back(count);
    if (shards.size() > best_files) {
      best = count;
      best_files = shards.size();
    }
  }
  if (complete.size() > 1) {
    return absl::FailedPreconditionError(absl::StrCat(
        "checkpoint ", id, " in ", ckpt_dir, " is complete for ", complete[0],
        " and ", complete[1], " shards; remove one set"));
  }
  if (complete.empty()) {
    std::string missing = "no shard files";
    if (best > 0) {
      uint32_t i = 0;
      while (shards_by_count[best].count(i) > 0) ++i;
      missing = absl::StrCat("missing ", ShardFileName(i, best));
    }
    return absl::NotFoundError(absl::StrCat("checkpoint ", id, " in ", ckpt_dir,
                                            " is incomplete: ", missing));
  }
  CheckpointFiles files;
  files.checkpoint_id = id;
  files.num_shards = complete[0];
  files.dir = ckpt_dir;
  for (uint32_t i = 0; i < files.num_shards; ++i) {
    files.paths.push_back(
        JoinPath(ckpt_dir, ShardFileName(i, files.num_shards)));
  }
  return files;
}

}  // namespace

absl::StatusOr<CheckpointFiles> FindCheckpoint(Env* env, const std::string& dir,
                                               uint64_t checkpoint_id) {
  if (checkpoint_id != 0) {
    const std::string ckpt_dir =
        JoinPath(dir, CheckpointDirName(checkpoint_id));
    if (absl::Status s = env->FileExists(ckpt_dir); !s.ok()) {
      if (!absl::IsNotFound(s)) return s;
      return absl::NotFoundError(
          absl::StrCat("checkpoint ", checkpoint_id, " not found in ", dir));
    }
    return CompleteSet(env, ckpt_dir, checkpoint_id);
  }
  absl::StatusOr<std::vector<std::string>> names = env->GetChildren(dir);
  if (!names.ok()) {
    if (absl::IsNotFound(names.status())) {
      return absl::NotFoundError(absl::StrCat("no complete checkpoint in ", dir,
                                              ": ", names.status().message()));
    }
    return names.status();
  }
  std::vector<uint64_t> ids;
  for (const std::string& name : *names) {
    uint64_t id;
    if (ParseCheckpointDirName(name, &id)) ids.push_back(id);
  }
  std::sort(ids.rbegin(), ids.rend());
  for (uint64_t id : ids) {
    absl::StatusOr<CheckpointFiles> files =
        CompleteSet(env, JoinPath(dir, CheckpointDirName(id)), id);
    if (files.ok() || !absl::IsNotFound(files.status())) return files;
  }
  return absl::NotFoundError(absl::StrCat("no complete checkpoint in ", dir));
}

#undef STRATA_RETURN_IF_ERROR

}  // namespace strata
