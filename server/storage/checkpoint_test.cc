#include "server/storage/checkpoint.h"

#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "server/storage/internal/crc32c.h"
#include "server/util/env_testing.h"

namespace strata {
namespace {

std::string TestDir() {
  const ::testing::TestInfo* info =
      ::testing::UnitTest::GetInstance()->current_test_info();
  const std::string dir =
      JoinPath(::testing::TempDir(), absl::StrCat("checkpoint_", info->name()));
  EXPECT_TRUE(DefaultEnv()->CreateDir(dir).ok());
  return dir;
}

void WriteRaw(const std::string& path, const std::string& data) {
  auto f = DefaultEnv()->NewWritableFile(path);
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE((*f)->Append(data).ok());
  ASSERT_TRUE((*f)->Close().ok());
}

std::string ReadRaw(const std::string& path) {
  absl::StatusOr<std::string> s = DefaultEnv()->ReadFileToString(path);
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *s : "";
}

TableConfig SparseConfig(uint32_t dim, OptimizerConfig::Type opt) {
  TableConfig c;
  c.set_name("emb");
  c.set_dim(dim);
  c.mutable_initializer()->set_type(InitializerConfig::NORMAL);
  c.mutable_initializer()->set_stddev(0.1f);
  c.mutable_optimizer()->set_type(opt);
  c.mutable_optimizer()->set_learning_rate(0.1f);
  return c;
}

DenseConfig DenseCfg(uint64_t size) {
  DenseConfig c;
  c.set_name("dense");
  c.set_size(size);
  c.mutable_optimizer()->set_type(OptimizerConfig::ADAGRAD);
  c.mutable_optimizer()->set_learning_rate(0.5f);
  c.mutable_optimizer()->set_initial_accumulator(0.1f);
  return c;
}

// Records everything a file contains.
struct Recorder : CheckpointVisitor {
  struct Row {
    uint64_t freq;
    int64_t step;
    std::vector<float> values, state;
  };
  std::vector<TableConfig> tables;
  std::map<uint64_t, Row> rows;
  std::vector<DenseConfig> dense;
  std::vector<std::vector<float>> dense_values, dense_state;
  std::vector<int64_t> dense_steps;

  absl::Status OnSparseTable(const TableConfig& config) override {
    tables.push_back(config);
    return absl::OkStatus();
  }
  absl::Status OnSparseRow(uint64_t key, uint64_t frequency, int64_t step,
                           absl::Span<const float> values,
                           absl::Span<const float> state) override {
    rows[key] = Row{frequency,
                    step,
                    {values.begin(), values.end()},
                    {state.begin(), state.end()}};
    return absl::OkStatus();
  }
  absl::Status OnDenseTensor(const DenseConfig& config, int64_t step,
                             absl::Span<const float> values,
                             absl::Span<const float> state) override {
    dense.push_back(config);
    dense_steps.push_back(step);
    dense_values.emplace_back(values.begin(), values.end());
    dense_state.emplace_back(state.begin(), state.end());
    return absl::OkStatus();
  }
};

class CheckpointFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = TestDir();
    path_ = JoinPath(dir_, ShardFileName(0, 1));
    header_.checkpoint_id = 42;
    SparseTable::Options o;
    o.num_stripes = 4;
    sparse_ = *SparseTable::Create(SparseConfig(3, OptimizerConfig::ADAM), o);
    dense_ = *DenseTable::Create(DenseCfg(5));
    ASSERT_TRUE(sparse_->Push({1, 2, 3, 1}, std::vector<float>(12, 0.5f)).ok());
    std::vector<float> out(3);
    ASSERT_TRUE(sparse_->Pull({3}, true, false, out.data()).ok());
    ASSERT_TRUE(dense_->Push({1, 2, 3, 4, 5}, 0, 0).ok());
  }

  absl::StatusOr<ShardFileStats> Write(Env* env, size_t buffer = 1 << 20) {
    const SparseTable* s = sparse_.get();
    const DenseTable* d = dense_.get();
    return WriteShardFile(env, path_, header_, {&s, 1}, {&d, 1}, buffer);
  }

  std::string dir_, path_;
  ShardFileHeader header_;
  std::unique_ptr<SparseTable> sparse_;
  std::unique_ptr<DenseTable> dense_;
};

TEST(CheckpointNamesTest, AreZeroPadded) {
  EXPECT_EQ(CheckpointDirName(42), "ckpt-00000000000000000042");
  EXPECT_EQ(CheckpointDirName(~uint64_t{0}), "ckpt-18446744073709551615");
  EXPECT_EQ(ShardFileName(1, 3), "shard-00001-of-00003.ckpt");
}

TEST_F(CheckpointFileTest, RoundTripsRowsStateAndDenseTensors) {
  absl::StatusOr<ShardFileStats> stats = Write(DefaultEnv());
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->rows, 3u);
  EXPECT_EQ(stats->sparse_tables, 1u);
  EXPECT_EQ(stats->dense_tensors, 1u);
  EXPECT_EQ(stats->bytes, ReadRaw(path_).size());
  EXPECT_EQ(DefaultEnv()->FileExists(path_ + ".tmp").code(),
            absl::StatusCode::kNotFound);

  Recorder r;
  ASSERT_TRUE(ReadShardFile(DefaultEnv(), path_, header_, &r).ok());
  ASSERT_EQ(r.tables.size(), 1u);
  EXPECT_EQ(r.tables[0].SerializeAsString(),
            sparse_->config().SerializeAsString());
  ASSERT_EQ(r.rows.size(), 3u);
  sparse_->ForEachRow([&](uint64_t key, const float* v, const float* s,
                          int64_t step, uint64_t freq) {
    const Recorder::Row& row = r.rows.at(key);
    EXPECT_EQ(row.values, std::vector<float>(v, v + 3));
    EXPECT_EQ(row.state, std::vector<float>(s, s + 6));
    EXPECT_EQ(row.step, step);
    EXPECT_EQ(row.freq, freq);
  });
  EXPECT_EQ(r.rows.at(1).step, 2);
  EXPECT_EQ(r.rows.at(3).freq, 2u);
  ASSERT_EQ(r.dense.size(), 1u);
  EXPECT_EQ(r.dense[0].name(), "dense");
  EXPECT_EQ(r.dense_steps[0], 1);
  dense_->Visit(
      [&](absl::Span<const float> v, absl::Span<const float> s, int64_t) {
        EXPECT_EQ(r.dense_values[0], std::vector<float>(v.begin(), v.end()));
        EXPECT_EQ(r.dense_state[0], std::vector<float>(s.begin(), s.end()));
      });
}

// Pins the byte layout documented in docs/checkpoint.md.
TEST(CheckpointFormatTest, FileLayoutMatchesTheDocumentation) {
  const std::string dir = TestDir();
  const std::string path = JoinPath(dir, ShardFileName(2, 3));
  TableConfig config;
  config.set_name("t");
  config.set_dim(2);
  config.mutable_optimizer()->set_learning_rate(1.0f);
  SparseTable::Options o;
  o.num_stripes = 1;
  auto table = *SparseTable::Create(config, o);
  ASSERT_TRUE(table->Push({7}, {-1.0f, -2.0f}).ok());  // row {1, 2}
  ShardFileHeader header{2, 3, 9};
  const SparseTable* t = table.get();
  ASSERT_TRUE(
      WriteShardFile(DefaultEnv(), path, header, {&t, 1}, {}, 4096).ok());
  const std::string f = ReadRaw(path);
  const std::string cfg = config.SerializeAsString();
  auto u32 = [&](size_t at) {
    uint32_t v;
    std::memcpy(&v, f.data() + at, 4);
    return v;
  };
  auto u64 = [&](size_t at) {
    uint64_t v;
    std::memcpy(&v, f.data() + at, 8);
    return v;
  };
  auto f32 = [&](size_t at) {
    float v;
    std::memcpy(&v, f.data() + at, 4);
    return v;
  };
  const size_t row_bytes = 8 + 8 + 8 + 2 * 4;  // SGD: no state
  ASSERT_EQ(f.size(),
            28 + (1 + 4 + cfg.size() + 12 + 8 + row_bytes) + (1 + 4 + 8) + 4);
  EXPECT_EQ(f.substr(0, 8), "STRATACK");
  EXPECT_EQ(u32(8), 1u);   // version
  EXPECT_EQ(u32(12), 2u);  // shard id
  EXPECT_EQ(u32(16), 3u);  // shard count
  EXPECT_EQ(u64(20), 9u);  // checkpoint id
  size_t at = 28;
  EXPECT_EQ(f[at], '\x01');  // sparse section
  EXPECT_EQ(u32(at + 1), cfg.size());
  EXPECT_EQ(f.substr(at + 5, cfg.size()), cfg);
  at += 5 + cfg.size();
  EXPECT_EQ(u32(at), 2u);       // dim
  EXPECT_EQ(u32(at + 4), 0u);   // state floats per row
  EXPECT_EQ(u32(at + 8), 1u);   // blocks (stripes)
  EXPECT_EQ(u64(at + 12), 1u);  // rows in block 0
  at += 20;
  EXPECT_EQ(u64(at), 7u);       // key
  EXPECT_EQ(u64(at + 8), 1u);   // frequency
  EXPECT_EQ(u64(at + 16), 1u);  // step
  EXPECT_EQ(f32(at + 24), 1.0f);
  EXPECT_EQ(f32(at + 28), 2.0f);
  at += row_bytes;
  EXPECT_EQ(f[at], '\xff');    // end marker
  EXPECT_EQ(u32(at + 1), 1u);  // sections
  EXPECT_EQ(u64(at + 5), 1u);  // rows
  EXPECT_EQ(u32(at + 13), crc32c::Extend(0, f.data(), f.size() - 4));
}

TEST_F(CheckpointFileTest, StreamsLargeTablesThroughASmallBuffer) {
  std::vector<uint64_t> keys(20000);
  for (uint64_t k = 0; k < keys.size(); ++k) keys[k] = k * 31 + 1000;
  ASSERT_TRUE(sparse_->Push(keys, std::vector<float>(keys.size() * 3, 1)).ok());
  absl::StatusOr<ShardFileStats> stats = Write(DefaultEnv(), 4096);
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->rows, 20003u);
  Recorder r;
  ASSERT_TRUE(ReadShardFile(DefaultEnv(), path_, header_, &r).ok());
  EXPECT_EQ(r.rows.size(), 20003u);
}

TEST_F(CheckpointFileTest, CorruptedByteIsDataLossNamingTheFile) {
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

TEST_F(CheckpointFileTest, TruncatedFileIsDataLoss) {
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

TEST_F(CheckpointFileTest, BadMagicIsDataLoss) {
  ASSERT_TRUE(Write(DefaultEnv()).ok());
  std::string f = ReadRaw(path_);
  f[0] = 'X';
  WriteRaw(path_, f);
  Recorder r;
  const absl::Status s = ReadShardFile(DefaultEnv(), path_, header_, &r);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(s.message().find("bad magic"), std::string::npos) << s;
}

TEST_F(CheckpointFileTest, HeaderMustMatchTheFileName) {
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

TEST_F(CheckpointFileTest, NewerFormatVersionIsFailedPrecondition) {
  ASSERT_TRUE(Write(DefaultEnv()).ok());
  std::string f = ReadRaw(path_);
  f[8] = 2;  // version
  const uint32_t crc = crc32c::Extend(0, f.data(), f.size() - 4);
  std::memcpy(&f[f.size() - 4], &crc, 4);
  WriteRaw(path_, f);
  Recorder r;
  EXPECT_EQ(ReadShardFile(DefaultEnv(), path_, header_, &r).code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(CheckpointFileTest, VisitorErrorsStopReadingAndNameTheFile) {
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

TEST_F(CheckpointFileTest, FailedWriteLeavesNoFileBehind) {
  FaultInjectionEnv env(DefaultEnv());
  env.FailWritesAfter(100);
  EXPECT_EQ(Write(&env).status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(env.FileExists(path_).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(env.FileExists(path_ + ".tmp").code(), absl::StatusCode::kNotFound);
}

TEST_F(CheckpointFileTest, CrashDuringWriteLeavesOnlyThePartialTempFile) {
  FaultInjectionEnv env(DefaultEnv());
  ASSERT_TRUE(Write(&env).ok());
  const std::string good = ReadRaw(path_);
  ASSERT_TRUE(sparse_->Push({99}, {1, 1, 1}).ok());
  env.CrashAfter(100);
  EXPECT_EQ(Write(&env).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(ReadRaw(path_), good) << "the previous file is untouched";
  EXPECT_EQ(ReadRaw(path_ + ".tmp").size(), 100u);
}

TEST_F(CheckpointFileTest, SyncOrRenameFailureIsReported) {
  FaultInjectionEnv env(DefaultEnv());
  env.FailSync(true);
  EXPECT_EQ(Write(&env).status().code(), absl::StatusCode::kInternal);
  EXPECT_EQ(env.FileExists(path_).code(), absl::StatusCode::kNotFound);
  env.Reset();
  env.FailRename(true);
  EXPECT_EQ(Write(&env).status().code(), absl::StatusCode::kInternal);
  EXPECT_EQ(env.FileExists(path_).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(env.FileExists(path_ + ".tmp").code(), absl::StatusCode::kNotFound);
}

class FindCheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = TestDir(); }
  void Touch(uint64_t id, const std::string& name) {
    const std::string d = JoinPath(dir_, CheckpointDirName(id));
    ASSERT_TRUE(DefaultEnv()->CreateDir(d).ok());
    WriteRaw(JoinPath(d, name), "");
  }
  std::string dir_;
};

TEST_F(FindCheckpointTest, PicksTheNewestCompleteCheckpoint) {
  Touch(5, ShardFileName(0, 2));
  Touch(5, ShardFileName(1, 2));
  Touch(7, ShardFileName(0, 1));
  Touch(7, ShardFileName(0, 1) + ".tmp");
  Touch(9, ShardFileName(0, 3));  // incomplete: newest but not chosen
  Touch(9, ShardFileName(2, 3));
  Touch(9, ShardFileName(1, 3) + ".tmp");
  WriteRaw(JoinPath(dir_, "ckpt-123"), "");  // not a checkpoint name
  WriteRaw(JoinPath(dir_, "notes.txt"), "");
  absl::StatusOr<CheckpointFiles> f = FindCheckpoint(DefaultEnv(), dir_, 0);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->checkpoint_id, 7u);
  EXPECT_EQ(f->num_shards, 1u);
  ASSERT_EQ(f->paths.size(), 1u);
  EXPECT_EQ(f->paths[0], JoinPath(JoinPath(dir_, CheckpointDirName(7)),
                                  ShardFileName(0, 1)));

  f = FindCheckpoint(DefaultEnv(), dir_, 5);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->num_shards, 2u);
  EXPECT_EQ(f->paths.size(), 2u);

  f = FindCheckpoint(DefaultEnv(), dir_, 9);
  EXPECT_EQ(f.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(f.status().message().find("missing shard-00001-of-00003.ckpt"),
            std::string::npos)
      << f.status();
  f = FindCheckpoint(DefaultEnv(), dir_, 8);
  EXPECT_EQ(f.status().code(), absl::StatusCode::kNotFound);
}

TEST_F(FindCheckpointTest, NoCompleteCheckpointIsNotFound) {
  EXPECT_EQ(FindCheckpoint(DefaultEnv(), dir_, 0).status().code(),
            absl::StatusCode::kNotFound);
  Touch(3, ShardFileName(1, 2));
  EXPECT_EQ(FindCheckpoint(DefaultEnv(), dir_, 0).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(FindCheckpoint(DefaultEnv(), JoinPath(dir_, "missing"), 0)
                .status()
                .code(),
            absl::StatusCode::kNotFound);
}

TEST_F(FindCheckpointTest, TwoCompleteShardCountsAreAmbiguous) {
  Touch(4, ShardFileName(0, 1));
  Touch(4, ShardFileName(0, 2));
  Touch(4, ShardFileName(1, 2));
  EXPECT_EQ(FindCheckpoint(DefaultEnv(), dir_, 4).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace strata
