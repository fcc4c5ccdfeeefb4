#include "server/storage/checkpoint_reader.h"

#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "proto/base/status_macros.h"
#include "server/storage/internal/crc32c.h"
#include "server/storage/internal/status_context.h"

namespace strata {
namespace {

using internal::WithContext;

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
  STRATA_RETURN_IF_ERROR(WithContext(visitor->OnSparseTable(config), path));
  const uint64_t row_bytes =
      kSparseRowPrefixBytes + (uint64_t{dim} + state_floats) * sizeof(float);
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
      STRATA_RETURN_IF_ERROR(WithContext(
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
  return WithContext(visitor->OnDenseTensor(config, step, values, state), path);
}

// The n (key, cluster) pairs of a kCompressed field, indexed again
// (compact layout, as always for this section).
absl::StatusOr<compression::CompressedField> ReadIndexPairs(
    Cursor* c, uint32_t dim, uint32_t k, uint64_t n,
    std::vector<float> centroids, std::vector<float> fallback,
    compression::StoredClusters stored) {
  std::vector<uint64_t> keys(n);
  std::vector<uint32_t> clusters(n);
  for (uint64_t i = 0; i < n; ++i) {
    STRATA_RETURN_IF_ERROR(c->Get(&keys[i], "index key"));
    STRATA_RETURN_IF_ERROR(c->Get(&clusters[i], "index cluster"));
    if (clusters[i] >= k) {
      return c->Error(
          absl::StrCat("index entry names cluster ", clusters[i], " of ", k));
    }
  }
  auto field = compression::CompressedField::Create(
      static_cast<int>(dim), std::move(centroids), std::move(fallback), keys,
      clusters, compression::KeyIndexOptions(), std::move(stored));
  if (!field.ok()) return c->Error(field.status().message());
  return field;
}

// Version 3: the serialized index of a kCompressedMph field (u64 L, L
// bytes), bounded by the bytes left; KeyIndex::Deserialize validates it.
absl::StatusOr<compression::CompressedField> ReadMphIndex(
    Cursor* c, uint32_t dim, uint64_t n, std::vector<float> centroids,
    std::vector<float> fallback, compression::StoredClusters stored) {
  uint64_t len;
  STRATA_RETURN_IF_ERROR(c->Get(&len, "index length"));
  absl::string_view bytes;
  STRATA_RETURN_IF_ERROR(c->Bytes(len, &bytes, "serialized key index"));
  auto field = compression::CompressedField::FromSerializedIndex(
      static_cast<int>(dim), std::move(centroids), std::move(fallback), bytes,
      n, std::move(stored));
  if (!field.ok()) return c->Error(field.status().message());
  return field;
}

// Version 4: u32 rows (<= k) and, when fewer than k, their cluster ids;
// earlier versions store every cluster. `stored` gets the ids (num_clusters
// 0 for all), `rows` their count.
absl::Status ReadStoredClusters(Cursor* c, uint32_t version, uint32_t k,
                                compression::StoredClusters* stored,
                                uint32_t* rows) {
  *rows = k;
  if (version < 4) return absl::OkStatus();
  STRATA_RETURN_IF_ERROR(c->Get(rows, "stored cluster count"));
  if (*rows > k || *rows > c->remaining() / sizeof(uint32_t)) {
    return c->Error(absl::StrCat("implausible field: ", *rows,
                                 " stored clusters of ", k));
  }
  if (*rows == k) return absl::OkStatus();
  stored->num_clusters = k;
  stored->ids.resize(*rows);
  for (uint32_t& id : stored->ids) {
    STRATA_RETURN_IF_ERROR(c->Get(&id, "stored cluster id"));
  }
  return absl::OkStatus();
}

// One field of a compressed section (kCompressed, or kCompressedMph when
// `keyless`) of format `version`.
absl::Status ReadCompressedField(Cursor* c, uint32_t version, uint32_t dim,
                                 uint32_t sf, bool keyless,
                                 std::vector<CompressedFieldState>* out) {
  uint32_t id;
  FieldStats stats;
  std::vector<float> state;
  std::vector<int64_t> steps;
  STRATA_RETURN_IF_ERROR(c->Get(&id, "field id"));
  STRATA_RETURN_IF_ERROR(ReadConfig(c, &stats, "FieldStats"));
  uint32_t k, rows;
  uint64_t n;
  STRATA_RETURN_IF_ERROR(c->Get(&k, "cluster count"));
  STRATA_RETURN_IF_ERROR(c->Get(&n, "feature count"));
  compression::StoredClusters stored;
  STRATA_RETURN_IF_ERROR(ReadStoredClusters(c, version, k, &stored, &rows));
  // Every count is bounded by the bytes left before anything is allocated
  // (rows + 1 steps of 8 bytes each follow; a dim of 0 bounds nothing; a
  // serialized index holds at least one bit per key).
  const uint64_t max_n = keyless ? c->remaining() * uint64_t{8}
                                 : c->remaining() / kCompressedIndexEntryBytes;
  if (k == 0 || n > max_n ||
      uint64_t{rows} * dim > c->remaining() / sizeof(float) ||
      uint64_t{rows} + 1 > c->remaining() / sizeof(int64_t)) {
    return c->Error(
        absl::StrCat("implausible field: ", k, " clusters, ", n, " features"));
  }
  std::vector<float> centroids, fallback;
  STRATA_RETURN_IF_ERROR(
      c->Floats(uint64_t{rows} * dim, &centroids, "centroids"));
  STRATA_RETURN_IF_ERROR(c->Floats(dim, &fallback, "fallback"));
  STRATA_RETURN_IF_ERROR(
      c->Floats((uint64_t{rows} + 1) * sf, &state, "cluster state"));
  steps.resize(uint64_t{rows} + 1);
  for (int64_t& step : steps) {
    STRATA_RETURN_IF_ERROR(c->Get(&step, "cluster step"));
  }
  STRATA_ASSIGN_OR_RETURN(
      compression::CompressedField field,
      keyless ? ReadMphIndex(c, dim, n, std::move(centroids),
                             std::move(fallback), std::move(stored))
              : ReadIndexPairs(c, dim, k, n, std::move(centroids),
                               std::move(fallback), std::move(stored)));
  out->push_back(CompressedFieldState{id, std::move(field), std::move(state),
                                      std::move(steps), std::move(stats)});
  return absl::OkStatus();
}

absl::Status ReadCompressed(Cursor* c, uint32_t version,
                            const std::string& path, bool keyless,
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
    STRATA_RETURN_IF_ERROR(
        ReadCompressedField(c, version, dim, sf, keyless, &fields));
    if (fields.back().vectors.trimmed() && !saec.cluster_wide()) {
      return c->Error(absl::StrCat(
          "compressed table ", config.name(), " field ", fields.back().field,
          " stores some of its clusters but the table is not cluster-wide"));
    }
    *rows += fields.back().vectors.num_features();
  }
  return WithContext(
      visitor->OnCompressedTable(config, saec, std::move(fields)), path);
}

// One field of a growth section: frequencies and folded keys, each count
// bounded by the bytes left before anything is allocated.
absl::Status ReadGrowthField(Cursor* c, CompressedGrowth::Field* f,
                             uint64_t* keys) {
  uint32_t slots;
  uint64_t n;
  STRATA_RETURN_IF_ERROR(c->Get(&f->field, "growth field id"));
  STRATA_RETURN_IF_ERROR(c->Get(&slots, "growth slot count"));
  if (slots > c->remaining() / sizeof(uint64_t)) {
    return c->Error(absl::StrCat("truncated: ", slots, " cluster frequencies"));
  }
  f->frequency.resize(slots);
  for (uint64_t& x : f->frequency) {
    STRATA_RETURN_IF_ERROR(c->Get(&x, "cluster frequency"));
  }
  STRATA_RETURN_IF_ERROR(c->Get(&n, "folded key count"));
  if (n > c->remaining() / kCompressedIndexEntryBytes) {
    return c->Error(absl::StrCat("truncated: ", n, " folded keys"));
  }
  f->folded_keys.resize(n);
  f->folded_clusters.resize(n);
  for (uint64_t i = 0; i < n; ++i) {
    STRATA_RETURN_IF_ERROR(c->Get(&f->folded_keys[i], "folded key"));
    STRATA_RETURN_IF_ERROR(c->Get(&f->folded_clusters[i], "folded cluster"));
  }
  *keys += n;
  return absl::OkStatus();
}

// The overflow rows of a growth section.
absl::Status ReadGrowthRows(Cursor* c, uint32_t dim, uint32_t sf,
                            CompressedGrowth* g) {
  uint64_t n;
  STRATA_RETURN_IF_ERROR(c->Get(&n, "overflow row count"));
  const uint64_t row_bytes =
      kSparseRowPrefixBytes + (uint64_t{dim} + sf) * sizeof(float);
  if (n > c->remaining() / row_bytes) {
    return c->Error(absl::StrCat("truncated: ", n, " overflow rows of ",
                                 row_bytes, " bytes"));
  }
  g->keys.resize(n);
  g->frequency.resize(n);
  g->steps.resize(n);
  g->values.reserve(n * dim);
  g->state.reserve(n * sf);
  std::vector<float> v;
  for (uint64_t i = 0; i < n; ++i) {
    STRATA_RETURN_IF_ERROR(c->Get(&g->keys[i], "overflow key"));
    STRATA_RETURN_IF_ERROR(c->Get(&g->frequency[i], "overflow frequency"));
    STRATA_RETURN_IF_ERROR(c->Get(&g->steps[i], "overflow step"));
    STRATA_RETURN_IF_ERROR(c->Floats(dim, &v, "overflow values"));
    g->values.insert(g->values.end(), v.begin(), v.end());
    STRATA_RETURN_IF_ERROR(c->Floats(sf, &v, "overflow state"));
    g->state.insert(g->state.end(), v.begin(), v.end());
  }
  return absl::OkStatus();
}

// The compressed-growth section (CheckpointSection::kCompressedGrowth).
absl::Status ReadCompressedGrowth(Cursor* c, const std::string& path,
                                  CheckpointVisitor* visitor, uint64_t* rows) {
  uint32_t len, dim, sf, fields;
  absl::string_view name;
  STRATA_RETURN_IF_ERROR(c->Get(&len, "growth table name"));
  STRATA_RETURN_IF_ERROR(c->Bytes(len, &name, "growth table name"));
  STRATA_RETURN_IF_ERROR(c->Get(&dim, "growth dim"));
  STRATA_RETURN_IF_ERROR(c->Get(&sf, "growth state floats"));
  STRATA_RETURN_IF_ERROR(c->Get(&fields, "growth field count"));
  // Each field takes at least 16 bytes (id, slots, folded count).
  if (fields > c->remaining() / 16) {
    return c->Error(absl::StrCat("truncated: ", fields, " growth fields"));
  }
  CompressedGrowth g;
  g.fields.resize(fields);
  for (CompressedGrowth::Field& f : g.fields) {
    STRATA_RETURN_IF_ERROR(ReadGrowthField(c, &f, rows));
  }
  STRATA_RETURN_IF_ERROR(ReadGrowthRows(c, dim, sf, &g));
  *rows += g.keys.size();
  return WithContext(
      visitor->OnCompressedGrowth(std::string(name), std::move(g)), path);
}

// The push-window section (CheckpointSection::kPushWindows).
absl::Status ReadPushWindows(Cursor* c, const std::string& path,
                             CheckpointVisitor* visitor) {
  uint32_t words, count;
  STRATA_RETURN_IF_ERROR(c->Get(&words, "push window words"));
  STRATA_RETURN_IF_ERROR(c->Get(&count, "push window count"));
  // Bounded by the bytes left before anything is allocated.
  const uint64_t each = 16 + uint64_t{words} * 8;
  if (count > c->remaining() / each) {
    return c->Error(absl::StrCat("truncated: ", count, " push windows of ",
                                 each, " bytes"));
  }
  std::vector<PushWindowState> windows(count);
  for (PushWindowState& w : windows) {
    STRATA_RETURN_IF_ERROR(c->Get(&w.client_id, "push window client"));
    STRATA_RETURN_IF_ERROR(c->Get(&w.highest, "push window sequence"));
    w.applied.resize(words);
    for (uint64_t& word : w.applied) {
      STRATA_RETURN_IF_ERROR(c->Get(&word, "push window bits"));
    }
  }
  return WithContext(visitor->OnPushWindows(std::move(windows)), path);
}

// One section after its kind byte (anything but the end marker) of a file
// of format `version`.
absl::Status ReadSection(Cursor* c, uint8_t kind, uint32_t version,
                         const std::string& path, CheckpointVisitor* visitor,
                         uint64_t* rows) {
  switch (static_cast<CheckpointSection>(kind)) {
    case CheckpointSection::kSparse:
      return ReadSparse(c, path, visitor, rows);
    case CheckpointSection::kDense:
      return ReadDense(c, path, visitor);
    case CheckpointSection::kCompressed:
      return ReadCompressed(c, version, path, /*keyless=*/false, visitor,
                            rows);
    case CheckpointSection::kCompressedMph:
      if (version < 3) break;
      return ReadCompressed(c, version, path, /*keyless=*/true, visitor,
                            rows);
    case CheckpointSection::kPushWindows:
      if (version < 2) break;
      return ReadPushWindows(c, path, visitor);
    case CheckpointSection::kCompressedGrowth:
      if (version < 3) break;
      return ReadCompressedGrowth(c, path, visitor, rows);
    default:
      break;
  }
  return c->Error(absl::StrCat("unknown section kind ", kind));
}

// Checks size, magic, CRC, version and identity; leaves `c` after the header
// and returns the format version.
absl::StatusOr<uint32_t> ReadHeader(Cursor* c, absl::string_view data,
                                    const std::string& path,
                                    const ShardFileHeader& expected) {
  if (data.size() < kShardFileHeaderBytes + kShardFileFooterBytes) {
    return absl::DataLossError(absl::StrCat(path, ": truncated: ", data.size(),
                                            " bytes is too short"));
  }
  if (data.substr(0, kCheckpointMagicBytes) !=
      absl::string_view(kCheckpointMagic)) {
    return absl::DataLossError(
        absl::StrCat(path, ": bad magic, not a Strata checkpoint file"));
  }
  const size_t body = data.size() - kShardFileFooterBytes;
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
  STRATA_RETURN_IF_ERROR(c->Bytes(kCheckpointMagicBytes, &magic, "magic"));
  STRATA_RETURN_IF_ERROR(c->Get(&version, "version"));
  if (version < kOldestCheckpointFormatVersion ||
      version > kCheckpointFormatVersion) {
    return absl::FailedPreconditionError(absl::StrCat(
        path, ": format version ", version,
        " is not supported (this build reads versions ",
        kOldestCheckpointFormatVersion, " to ", kCheckpointFormatVersion, ")"));
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
  return version;
}

}  // namespace

absl::Status ReadShardFile(Env* env, const std::string& path,
                           const ShardFileHeader& expected,
                           CheckpointVisitor* visitor) {
  absl::StatusOr<std::string> data = env->ReadFileToString(path);
  if (!data.ok()) return WithContext(data.status(), "reading checkpoint");
  Cursor c(*data, path);
  STRATA_ASSIGN_OR_RETURN(const uint32_t version,
                          ReadHeader(&c, *data, path, expected));
  const size_t body = data->size() - kShardFileFooterBytes;
  uint32_t sections = 0;
  uint64_t rows = 0;
  for (;; ++sections) {
    uint8_t kind;
    STRATA_RETURN_IF_ERROR(c.Get(&kind, "section kind"));
    if (kind == static_cast<uint8_t>(CheckpointSection::kEnd)) break;
    STRATA_RETURN_IF_ERROR(
        ReadSection(&c, kind, version, path, visitor, &rows));
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

}  // namespace strata
