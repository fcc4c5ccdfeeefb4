#include "server/storage/checkpoint_reader.h"

#include <cstring>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "server/storage/checkpoint_filename.h"
#include "server/storage/internal/checkpoint_testing.h"
#include "server/storage/internal/crc32c.h"

namespace strata {
namespace {

using internal::ReadRaw;
using internal::Recorder;
using internal::WriteRaw;
using CheckpointReaderTest = internal::CheckpointFileTest;

TEST_F(CheckpointReaderTest, CorruptedByteIsDataLossNamingTheFile) {
  ASSERT_TRUE(Write(DefaultEnv()).ok());
  std::string f = ReadRaw(path_);
  f[f.size() / 2] ^= 0x01;
  WriteRaw(path_, f);
  Recorder r;
  const absl::Status s = ReadShardFile(DefaultEnv(), path_, header_, &r);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(s.message().find(path_), std::string::npos) << s;
  EXPECT_NE(s.message().find("CRC32C mismatch"), std::string::npos) << s;
  EXPECT_TRUE(r.tables.empty()) << "nothing is visited before the CRC check";
}

TEST_F(CheckpointReaderTest, TruncatedFileIsDataLoss) {
  ASSERT_TRUE(Write(DefaultEnv()).ok());
  const std::string f = ReadRaw(path_);
  for (size_t len : {size_t{0}, size_t{10}, f.size() / 2, f.size() - 1}) {
    WriteRaw(path_, f.substr(0, len));
    Recorder r;
    EXPECT_EQ(ReadShardFile(DefaultEnv(), path_, header_, &r).code(),
              absl::StatusCode::kDataLoss)
        << len;
  }
}

TEST_F(CheckpointReaderTest, BadMagicIsDataLoss) {
  ASSERT_TRUE(Write(DefaultEnv()).ok());
  std::string f = ReadRaw(path_);
  f[0] = 'X';
  WriteRaw(path_, f);
  Recorder r;
  const absl::Status s = ReadShardFile(DefaultEnv(), path_, header_, &r);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(s.message().find("bad magic"), std::string::npos) << s;
}

TEST_F(CheckpointReaderTest, HeaderMustMatchTheFileName) {
  ASSERT_TRUE(Write(DefaultEnv()).ok());
  Recorder r;
  ShardFileHeader other = header_;
  other.checkpoint_id = 43;
  EXPECT_EQ(ReadShardFile(DefaultEnv(), path_, other, &r).code(),
            absl::StatusCode::kDataLoss);
  other = header_;
  other.num_shards = 2;
  EXPECT_EQ(ReadShardFile(DefaultEnv(), path_, other, &r).code(),
            absl::StatusCode::kDataLoss);
}

// The header of file `f`, then `body` and its CRC.
std::string WithBody(const std::string& f, absl::string_view body) {
  std::string out = f.substr(0, kShardFileHeaderBytes);
  out.append(body.data(), body.size());
  const uint32_t crc = crc32c::Extend(0, out.data(), out.size());
  out.append(reinterpret_cast<const char*>(&crc), 4);
  return out;
}

// Rewrites the version byte of `f` and its CRC.
std::string WithVersion(std::string f, uint8_t version) {
  f[8] = static_cast<char>(version);
  const uint32_t crc = crc32c::Extend(0, f.data(), f.size() - 4);
  std::memcpy(&f[f.size() - 4], &crc, 4);
  return f;
}

TEST_F(CheckpointReaderTest, NewerFormatVersionIsFailedPrecondition) {
  ASSERT_TRUE(Write(DefaultEnv()).ok());
  for (uint8_t version : {0, 5}) {
    WriteRaw(path_, WithVersion(ReadRaw(path_), version));
    Recorder r;
    const absl::Status s = ReadShardFile(DefaultEnv(), path_, header_, &r);
    EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
    EXPECT_NE(s.message().find("this build reads versions 1 to 4"),
              std::string::npos)
        << s;
  }
}

TEST_F(CheckpointReaderTest, Version1FilesStillRead) {
  ASSERT_TRUE(Write(DefaultEnv()).ok());  // no push windows: as version 1
  WriteRaw(path_, WithVersion(ReadRaw(path_), 1));
  Recorder r;
  ASSERT_TRUE(ReadShardFile(DefaultEnv(), path_, header_, &r).ok());
  EXPECT_EQ(r.rows.size(), 3u);
  EXPECT_EQ(r.dense.size(), 1u);
  EXPECT_EQ(r.push_window_sections, 0);
}

TEST_F(CheckpointReaderTest, PushWindowsComeBackAsWritten) {
  PushDedup dedup({});
  for (uint64_t s : {1, 2, 5}) {
    ASSERT_TRUE(
        dedup.ApplyOnce({77, s}, true, [] { return absl::OkStatus(); }).ok());
  }
  auto stats = Write(DefaultEnv(), 1 << 20, &dedup);
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->push_windows, 1u);
  Recorder r;
  ASSERT_TRUE(ReadShardFile(DefaultEnv(), path_, header_, &r).ok());
  EXPECT_EQ(r.push_window_sections, 1);
  ASSERT_EQ(r.push_windows.size(), 1u);
  EXPECT_EQ(r.push_windows[0].client_id, 77u);
  EXPECT_EQ(r.push_windows[0].highest, 5u);
  ASSERT_EQ(r.push_windows[0].applied.size(), kPushWindowWords);
  EXPECT_EQ(r.push_windows[0].applied[0], 0b11001u);  // offsets 0, 3, 4
  EXPECT_EQ(r.rows.size(), 3u);  // the tables are read as before
}

TEST_F(CheckpointReaderTest, PushWindowsInAVersion1FileAreAnUnknownSection) {
  PushDedup dedup({});
  ASSERT_TRUE(
      dedup.ApplyOnce({77, 1}, true, [] { return absl::OkStatus(); }).ok());
  ASSERT_TRUE(Write(DefaultEnv(), 1 << 20, &dedup).ok());
  WriteRaw(path_, WithVersion(ReadRaw(path_), 1));
  Recorder r;
  const absl::Status s = ReadShardFile(DefaultEnv(), path_, header_, &r);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_NE(s.message().find("unknown section kind 4"), std::string::npos) << s;
}

TEST_F(CheckpointReaderTest, PushWindowCountIsBoundedByTheFile) {
  ASSERT_TRUE(Write(DefaultEnv()).ok());
  // A push-window section claiming 2^32-1 windows of 64 words, and an end
  // marker: DATA_LOSS before anything is allocated.
  static const char kBody[] =
      "\x04\x40\x00\x00\x00\xff\xff\xff\xff"
      "\xff\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00";
  WriteRaw(path_, WithBody(ReadRaw(path_), {kBody, sizeof(kBody) - 1}));
  Recorder r;
  const absl::Status s = ReadShardFile(DefaultEnv(), path_, header_, &r);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_NE(s.message().find("truncated: 4294967295 push windows"),
            std::string::npos)
      << s;
}

TEST_F(CheckpointReaderTest, GrowthCountsAreBoundedByTheFile) {
  // Growth sections of table "e", dim 0, claiming 2^32-1 fields, 2^32-1
  // cluster frequencies, 2^64-1 folded keys or overflow rows, each followed
  // by an end marker: DATA_LOSS before anything is allocated.
  const std::string head(
      "\x06\x01\x00\x00\x00"
      "e"
      "\0\0\0\0\0\0\0\0",
      14);
  const std::string end("\xff\x01\x00\x00\x00\0\0\0\0\0\0\0\0", 13);
  const std::string u32max("\xff\xff\xff\xff", 4), u64max = u32max + u32max;
  const std::string zero32(4, '\0'), one32("\x01\0\0\0", 4);
  const std::pair<std::string, std::string> cases[] = {
      {u32max, "4294967295 growth fields"},
      {one32 + zero32 + u32max, "4294967295 cluster frequencies"},
      {one32 + zero32 + zero32 + u64max, "18446744073709551615 folded keys"},
      {zero32 + u64max, "18446744073709551615 overflow rows"},
  };
  for (const auto& [body, message] : cases) {
    ASSERT_TRUE(Write(DefaultEnv()).ok());
    WriteRaw(path_, WithBody(ReadRaw(path_), head + body + end));
    Recorder r;
    const absl::Status s = ReadShardFile(DefaultEnv(), path_, header_, &r);
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
    EXPECT_NE(s.message().find(message), std::string::npos) << s;
  }
}

TEST_F(CheckpointReaderTest, GrowthSectionNeedsVersion3AndAVisitorForIt) {
  ASSERT_TRUE(Write(DefaultEnv()).ok());
  const std::string body(
      "\x06\x01\x00\x00\x00"
      "e"
      "\0\0\0\0\0\0\0\0"
      "\0\0\0\0"
      "\0\0\0\0\0\0\0\0"
      "\xff\x01\x00\x00\x00\0\0\0\0\0\0\0\0",
      39);
  WriteRaw(path_, WithBody(ReadRaw(path_), body));
  Recorder r;  // keeps the default OnCompressedGrowth
  absl::Status s = ReadShardFile(DefaultEnv(), path_, header_, &r);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_NE(s.message().find("growth of compressed table e is not supported"),
            std::string::npos)
      << s;
  WriteRaw(path_, WithVersion(ReadRaw(path_), 2));
  s = ReadShardFile(DefaultEnv(), path_, header_, &r);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_NE(s.message().find("unknown section kind 6"), std::string::npos) << s;
}

TEST_F(CheckpointReaderTest, UnknownSectionKindIsDataLoss) {
  ASSERT_TRUE(Write(DefaultEnv()).ok());
  std::string f = ReadRaw(path_);
  f[kShardFileHeaderBytes] = 0x7f;  // the first section's kind
  const uint32_t crc = crc32c::Extend(0, f.data(), f.size() - 4);
  std::memcpy(&f[f.size() - 4], &crc, 4);
  WriteRaw(path_, f);
  Recorder r;
  const absl::Status s = ReadShardFile(DefaultEnv(), path_, header_, &r);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(s.message().find("unknown section kind 127"), std::string::npos)
      << s;
}

TEST_F(CheckpointReaderTest, CountsAreBoundedByTheFileBeforeAllocating) {
  // A compressed section of dim 0 whose field claims ~1.8e9 clusters: with
  // no bytes behind the claim it must be DATA_LOSS, not a 14 GB allocation
  // (found by //server/storage:checkpoint_reader_fuzz).
  ASSERT_TRUE(Write(DefaultEnv()).ok());
  static const char kBody[] =
      "\x03\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
      "\x00\x00\x00\x00\x00\x6c\x00\x00\x00\x00\x00\x00"
      "\x00\x00\x00\x00\x00\x00\x00\x00\x6c\x00\x00\x00"
      "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
      "\x00\x00\xff\x01\x00\x00\x00\x00\x00\x00\x00";
  // The bytes are of format 3 (no stored-cluster count after n).
  WriteRaw(path_, WithVersion(
                      WithBody(ReadRaw(path_), {kBody, sizeof(kBody) - 1}), 3));
  Recorder r;
  const absl::Status s = ReadShardFile(DefaultEnv(), path_, header_, &r);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_NE(s.message().find("implausible field"), std::string::npos) << s;
}

TEST_F(CheckpointReaderTest, StoredClusterCountIsBoundedByTheFile) {
  // Format 4: a field of 2^30 clusters claiming to store 2^30 - 1 of them,
  // with nothing behind: DATA_LOSS before the ids are allocated.
  ASSERT_TRUE(Write(DefaultEnv()).ok());
  std::string body = {'\x03'};
  const auto u32 = [&](uint32_t v) {
    body.append(reinterpret_cast<const char*>(&v), 4);
  };
  for (uint32_t v : {0u, 0u, 0u, 0u, 1u, 0u, 0u}) u32(v);  // configs..field
  u32(1u << 30);  // k
  u32(0);         // n, low
  u32(0);         // n, high
  u32((1u << 30) - 1);  // stored clusters
  body += "\xff";
  u32(1);
  body.append(8, '\0');
  WriteRaw(path_, WithBody(ReadRaw(path_), body));
  Recorder r;
  const absl::Status s = ReadShardFile(DefaultEnv(), path_, header_, &r);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_NE(s.message().find("implausible field: 1073741823 stored clusters"),
            std::string::npos)
      << s;
}

TEST_F(CheckpointReaderTest, VisitorErrorsStopReadingAndNameTheFile) {
  ASSERT_TRUE(Write(DefaultEnv()).ok());
  struct Failing : Recorder {
    absl::Status OnSparseTable(const TableConfig&) override {
      return absl::DataLossError("nope");
    }
  } failing;
  const absl::Status s = ReadShardFile(DefaultEnv(), path_, header_, &failing);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(s.message().find(path_ + ": nope"), std::string::npos) << s;
  EXPECT_TRUE(failing.rows.empty());
}

TEST_F(CheckpointReaderTest, CompressedSectionNeedsAVisitorThatTakesIt) {
  // 200 features of field 1 in 4 clusters.
  auto plain = *SparseTable::Create(
      internal::SparseConfig(3, OptimizerConfig::SGD), SparseTable::Options());
  for (uint64_t i = 0; i < 200; ++i) {
    const std::vector<float> v(3, static_cast<float>(i % 4));
    ASSERT_TRUE(plain->InsertRow((uint64_t{1} << 56) | i, v, {}, 0, 1).ok());
  }
  SaecConfig saec;
  saec.set_clusters(4);
  saec.set_min_features(100);
  auto compressed = CompressedTable::Compress(*plain, saec, {});
  ASSERT_TRUE(compressed.ok()) << compressed.status();
  const CompressedTable* c = compressed->get();
  ASSERT_TRUE(
      WriteShardFile(DefaultEnv(), path_, header_, {}, {}, 4096, {&c, 1}).ok());
  Recorder r;  // keeps the default OnCompressedTable
  const absl::Status s = ReadShardFile(DefaultEnv(), path_, header_, &r);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find(path_ + ": compressed table emb is not supported"),
            std::string::npos)
      << s;
}

// Section 0x05 (version 3): a compressed table with an MPH key index.
class MphSectionTest : public ::testing::Test {
 protected:
  // Records compressed tables (Recorder refuses them).
  struct CompressedRecorder : Recorder {
    std::vector<CompressedFieldState> fields;
    absl::Status OnCompressedTable(
        const TableConfig&, const SaecConfig&,
        std::vector<CompressedFieldState> f) override {
      for (auto& field : f) fields.push_back(std::move(field));
      return absl::OkStatus();
    }
  };

  void SetUp() override {
    dir_ = internal::CheckpointTestDir();
    path_ = JoinPath(dir_, ShardFileName(0, 1));
    header_ = ShardFileHeader{0, 1, 42};
    table_ =
        internal::CompressedWithState(0.5f, compression::IndexLayout::kMph);
    ASSERT_NE(table_, nullptr);
    const CompressedTable* t = table_.get();
    ASSERT_TRUE(
        WriteShardFile(DefaultEnv(), path_, header_, {}, {}, 4096, {&t, 1})
            .ok());
    file_ = ReadRaw(path_);
  }
  absl::Status Read(const std::string& f, CompressedRecorder* r) {
    WriteRaw(path_, f);
    return ReadShardFile(DefaultEnv(), path_, header_, r);
  }
  static uint32_t U32(const std::string& body, size_t at) {
    uint32_t v;
    std::memcpy(&v, body.data() + at, 4);
    return v;
  }
  // Where the (one) field's stored-cluster count lies in Body().
  static size_t StoredCountOffset(const std::string& body) {
    size_t at = 1;                 // kind
    at += 4 + U32(body, at);       // TableConfig
    at += 4 + U32(body, at);       // SaecConfig
    at += 12 + 4;                  // dim, state floats, fields; field id
    at += 4 + U32(body, at);       // FieldStats
    return at + 4 + 8;             // k, n
  }
  // The file's body (sections and end marker) without header and footer.
  std::string Body() const {
    return file_.substr(
        kShardFileHeaderBytes,
        file_.size() - kShardFileHeaderBytes - kShardFileFooterBytes);
  }

  std::string dir_, path_, file_;
  ShardFileHeader header_;
  std::unique_ptr<CompressedTable> table_;
};

TEST_F(MphSectionTest, RoundTripsTheIndexWithoutItsKeys) {
  EXPECT_EQ(file_[kShardFileHeaderBytes], '\x05');
  CompressedRecorder r;
  ASSERT_TRUE(Read(file_, &r).ok());
  ASSERT_EQ(r.fields.size(), 1u);
  const compression::CompressedField& f = r.fields[0].vectors;
  EXPECT_EQ(f.index().layout(), compression::IndexLayout::kMph);
  EXPECT_EQ(f.ClusterOf((uint64_t{1} << 56) | 1), 0u);
  EXPECT_EQ(f.ClusterOf((uint64_t{1} << 56) | 2), 1u);
  EXPECT_EQ(f.num_features(), 2u);
  EXPECT_EQ(r.fields[0].state[4], 0.5f);
}

TEST_F(MphSectionTest, IsAnUnknownKindInAVersion2File) {
  CompressedRecorder r;
  const absl::Status s = Read(WithVersion(file_, 2), &r);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_NE(s.message().find("unknown section kind 5"), std::string::npos) << s;
}

// Format 3 had no stored-cluster count: the same field without those 4
// bytes reads back the same.
TEST_F(MphSectionTest, Version3FieldsWithoutTheStoredCountStillRead) {
  std::string body = Body();
  const size_t at = StoredCountOffset(body);
  ASSERT_EQ(U32(body, at), 2u);  // stored clusters: both
  body.erase(at, 4);
  CompressedRecorder r3, r4;
  ASSERT_TRUE(Read(WithVersion(WithBody(file_, body), 3), &r3).ok());
  ASSERT_TRUE(Read(file_, &r4).ok());
  ASSERT_EQ(r3.fields.size(), 1u);
  EXPECT_EQ(r3.fields[0].vectors.num_rows(), 2u);
  EXPECT_EQ(r3.fields[0].state, r4.fields[0].state);
  EXPECT_EQ(r3.fields[0].steps, r4.fields[0].steps);
  EXPECT_EQ(std::vector<float>(r3.fields[0].vectors.centroids().begin(),
                               r3.fields[0].vectors.centroids().end()),
            std::vector<float>(r4.fields[0].vectors.centroids().begin(),
                               r4.fields[0].vectors.centroids().end()));
  EXPECT_EQ(r3.fields[0].vectors.ClusterOf((uint64_t{1} << 56) | 2), 1u);
  // Read as format 4, the 4 bytes are missing.
  CompressedRecorder bad;
  EXPECT_EQ(Read(WithBody(file_, body), &bad).code(),
            absl::StatusCode::kDataLoss);
}

// Format 4: a table that is not cluster-wide cannot store only some
// clusters.
TEST_F(MphSectionTest, StoredClusterIdsOnATableThatIsNotClusterWide) {
  std::string body = Body();
  const size_t at = StoredCountOffset(body);
  size_t dims = 1;
  dims += 4 + U32(body, dims);  // TableConfig
  dims += 4 + U32(body, dims);  // SaecConfig
  const uint32_t dim = U32(body, dims), sf = U32(body, dims + 4);
  // Store cluster 1 only: count 1, id 1, and drop centroid 0, state row 0
  // and step 0.
  const size_t centroids = at + 4;
  body.replace(at, 4, std::string("\x01\x00\x00\x00\x01\x00\x00\x00", 8));
  body.erase(centroids + 4, dim * 4);  // centroid 0
  const size_t state = centroids + 4 + dim * 4 + dim * 4;  // after fallback
  body.erase(state, sf * 4);           // state row 0
  body.erase(state + 2 * sf * 4, 8);   // step 0: after the 2 state rows left
  CompressedRecorder r;
  const absl::Status s = Read(WithBody(file_, body), &r);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_NE(s.message().find("stores some of its clusters but the table is "
                             "not cluster-wide"),
            std::string::npos)
      << s;
}

// Every truncation of the section (CRC fixed, so the section's own bounds
// are what catches it) is DATA_LOSS, never a crash or a huge allocation.
TEST_F(MphSectionTest, EveryTruncationIsDataLoss) {
  const std::string body = Body();
  const size_t end_marker = 13;
  for (size_t len = 1; len + end_marker < body.size(); ++len) {
    std::string cut =
        body.substr(0, len) + body.substr(body.size() - end_marker);
    CompressedRecorder r;
    EXPECT_EQ(Read(WithBody(file_, cut), &r).code(),
              absl::StatusCode::kDataLoss)
        << len;
  }
}

// The index's own fields, corrupted with a valid CRC: DATA_LOSS naming
// the key index.
TEST_F(MphSectionTest, CorruptIndexIsDataLossNamingTheKeyIndex) {
  const std::string body = Body();
  // The index is the section's tail before the end marker: u64 L, then
  // u32 fingerprint bits, u32 value width, u64 n, u64 MPH length, ...
  size_t at = std::string::npos;
  table_->VisitFields([&](const CompressedFieldState& f) {
    const std::string bytes = *f.vectors.index().Serialize();
    at = body.find(bytes);
  });
  ASSERT_NE(at, std::string::npos);
  for (auto [offset, value] : {std::pair<size_t, char>{0, 33},  // f > 32
                               {4, 9},                          // width
                               {8, 3},                          // n
                               {16, 1}}) {                      // MPH length
    std::string bad = body;
    bad[at + offset] = value;
    CompressedRecorder r;
    const absl::Status s = Read(WithBody(file_, bad), &r);
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << offset << " " << s;
    EXPECT_NE(s.message().find("corrupt"), std::string::npos) << s;
  }
  // Any single flipped byte: DATA_LOSS or a table whose lookups stay in
  // bounds; never a crash.
  for (size_t i = at; i < body.size() - 13; ++i) {
    std::string bad = body;
    bad[i] ^= 0x5a;
    CompressedRecorder r;
    const absl::Status s = Read(WithBody(file_, bad), &r);
    if (!s.ok()) {
      EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << i;
      continue;
    }
    for (uint64_t k = 0; k < 64; ++k) {
      const auto c = r.fields[0].vectors.ClusterOf((uint64_t{1} << 56) | k);
      EXPECT_TRUE(!c.has_value() || *c < 2) << i;
    }
  }
}

}  // namespace
}  // namespace strata
