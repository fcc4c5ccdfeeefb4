#include "server/storage/checkpoint_loader.h"

#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "server/router/router.h"
#include "server/storage/checkpoint_filename.h"
#include "server/storage/checkpoint_writer.h"
#include "server/storage/internal/checkpoint_testing.h"
#include "server/storage/internal/crc32c.h"

namespace strata {
namespace {

using internal::DenseCfg;
using internal::SparseConfig;

// Loader options for shard `shard_id` under `router` (null: one shard).
CheckpointLoaderOptions ForShard(const ShardRouter* router, uint32_t shard_id) {
  CheckpointLoaderOptions o;
  o.num_shards = router == nullptr ? 1 : router->num_shards();
  o.sparse.router = router;
  o.sparse.shard_id = shard_id;
  o.compressed.router = router;
  o.compressed.shard_id = shard_id;
  return o;
}

class CheckpointLoaderTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = internal::CheckpointTestDir(); }

  // Writes shard `shard` of `num_shards` of checkpoint `id`.
  void WriteShard(uint64_t id, uint32_t shard, uint32_t num_shards,
                  std::vector<const SparseTable*> sparse,
                  std::vector<const DenseTable*> dense,
                  std::vector<const CompressedTable*> compressed = {}) {
    const std::string ckpt = JoinPath(dir_, CheckpointDirName(id));
    ASSERT_TRUE(DefaultEnv()->CreateDir(ckpt).ok());
    const ShardFileHeader header{shard, num_shards, id};
    ASSERT_TRUE(WriteShardFile(DefaultEnv(),
                               JoinPath(ckpt, ShardFileName(shard, num_shards)),
                               header, sparse, dense, 4096, compressed)
                    .ok());
  }

  std::string dir_;
};

// A 2-dim SGD table "emb" holding `keys`, row k = {k, -k}, frequency k.
std::unique_ptr<SparseTable> TableWith(const std::vector<uint64_t>& keys,
                                       float learning_rate = 0.1f) {
  TableConfig config = SparseConfig(2, OptimizerConfig::SGD);
  config.mutable_optimizer()->set_learning_rate(learning_rate);
  auto t = *SparseTable::Create(config, SparseTable::Options());
  for (uint64_t k : keys) {
    const float f = static_cast<float>(k);
    EXPECT_TRUE(t->InsertRow(k, {f, -f}, {}, 3, k).ok());
  }
  return t;
}

std::unique_ptr<DenseTable> Tensor(const std::string& name) {
  DenseConfig config = DenseCfg(2);
  config.set_name(name);
  return *DenseTable::Create(config);
}

TEST_F(CheckpointLoaderTest, KeepsWhatTheRouterAssignsToThisShard) {
  std::vector<uint64_t> keys;
  for (uint64_t k = 1; k <= 100; ++k) keys.push_back(k);
  auto table = TableWith(keys);
  std::vector<std::unique_ptr<DenseTable>> tensors;
  std::vector<const DenseTable*> dense;
  for (const char* name : {"d0", "d1", "d2", "d3", "d4", "d5"}) {
    tensors.push_back(Tensor(name));
    dense.push_back(tensors.back().get());
  }
  WriteShard(7, 0, 1, {table.get()}, dense);

  HashRouter router(2);
  uint64_t rows = 0, tensors_loaded = 0;
  for (uint32_t shard = 0; shard < 2; ++shard) {
    auto loaded =
        LoadCheckpoint(DefaultEnv(), dir_, 0, ForShard(&router, shard));
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    EXPECT_EQ(loaded->info.checkpoint_id, 7u);
    EXPECT_EQ(loaded->info.written_by_num_shards, 1u);
    EXPECT_EQ(loaded->info.sparse_tables, 1u);  // on every shard
    const SparseTable& emb = *loaded->tables.at("emb").sparse;
    EXPECT_EQ(emb.rows(), loaded->info.rows);
    emb.ForEachRow([&](uint64_t key, const float* v, const float*, int64_t step,
                       uint64_t freq) {
      EXPECT_EQ(router.ShardForKey(key), shard) << key;
      EXPECT_EQ(v[0], static_cast<float>(key));
      EXPECT_EQ(v[1], -static_cast<float>(key));
      EXPECT_EQ(step, 3);
      EXPECT_EQ(freq, key);
    });
    for (const auto& [name, entry] : loaded->tables) {
      if (entry.dense == nullptr) continue;
      EXPECT_EQ(router.ShardForName(name), shard) << name;
    }
    EXPECT_EQ(loaded->tables.size(), 1 + loaded->info.dense_tensors);
    rows += loaded->info.rows;
    tensors_loaded += loaded->info.dense_tensors;
  }
  EXPECT_EQ(rows, 100u);
  EXPECT_EQ(tensors_loaded, 6u);
}

TEST_F(CheckpointLoaderTest, ShardFilesThatDisagreeAboutATableAreDataLoss) {
  auto a = TableWith({1}, 0.1f);
  auto b = TableWith({2}, 0.2f);
  WriteShard(3, 0, 2, {a.get()}, {});
  WriteShard(3, 1, 2, {b.get()}, {});
  auto loaded = LoadCheckpoint(DefaultEnv(), dir_, 3, ForShard(nullptr, 0));
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(loaded.status().message().find(
                "shard-00001-of-00002.ckpt: shard files disagree about the "
                "config of table emb"),
            std::string::npos)
      << loaded.status();
}

TEST_F(CheckpointLoaderTest, OneDenseTensorInTwoFilesIsDataLoss) {
  auto d0 = Tensor("d"), d1 = Tensor("d");
  WriteShard(3, 0, 2, {}, {d0.get()});
  WriteShard(3, 1, 2, {}, {d1.get()});
  auto loaded = LoadCheckpoint(DefaultEnv(), dir_, 3, ForShard(nullptr, 0));
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(loaded.status().message().find("two tables or tensors named d"),
            std::string::npos)
      << loaded.status();
}

TEST_F(CheckpointLoaderTest, MissingCheckpointIsNotFound) {
  EXPECT_EQ(LoadCheckpoint(DefaultEnv(), dir_, 0, ForShard(nullptr, 0))
                .status()
                .code(),
            absl::StatusCode::kNotFound);
}

// Field 1 with 200 features in 4 groups: value i % 4.
std::unique_ptr<CompressedTable> CompressedEmb(
    SaecConfig::IndexLayout layout = SaecConfig::INDEX_LAYOUT_DEFAULT) {
  auto plain = *SparseTable::Create(SparseConfig(2, OptimizerConfig::SGD),
                                    SparseTable::Options());
  for (uint64_t i = 0; i < 200; ++i) {
    const float v = static_cast<float>(i % 4);
    EXPECT_TRUE(
        plain->InsertRow((uint64_t{1} << 56) | i, {v, v}, {}, 0, 1).ok());
  }
  SaecConfig saec;
  saec.set_clusters(4);
  saec.set_min_features(100);
  saec.set_index_layout(layout);
  return *CompressedTable::Compress(*plain, saec, {});
}

TEST_F(CheckpointLoaderTest, CompressedTableIsRestoredIntoTheSameShardCount) {
  auto table = CompressedEmb();
  WriteShard(5, 0, 1, {}, {}, {table.get()});
  auto loaded = LoadCheckpoint(DefaultEnv(), dir_, 5, ForShard(nullptr, 0));
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const ShardTable& emb = loaded->tables.at("emb");
  ASSERT_NE(emb.compressed, nullptr);
  EXPECT_EQ(emb.compressed->rows(), 200u);
  EXPECT_EQ(loaded->info.rows, 200u);
  EXPECT_EQ(loaded->info.sparse_tables, 1u);
}

// The default (MPH) index, section 0x05: every key's vector, the unseen
// keys' answers and the index bytes come back unchanged.
TEST_F(CheckpointLoaderTest, MphCompressedTableRoundTripsBitForBit) {
  auto table = CompressedEmb();
  WriteShard(5, 0, 1, {}, {}, {table.get()});
  auto loaded = LoadCheckpoint(DefaultEnv(), dir_, 5, ForShard(nullptr, 0));
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  CompressedTable* back = loaded->tables.at("emb").compressed.get();
  ASSERT_NE(back, nullptr);
  EXPECT_EQ(back->saec_config().index_layout(), SaecConfig::MPH);
  EXPECT_EQ(back->MemoryBytes(), table->MemoryBytes());
  std::vector<uint64_t> keys;
  for (uint64_t i = 0; i < 400; ++i) keys.push_back((uint64_t{1} << 56) | i);
  std::vector<float> want(keys.size() * 2), got(keys.size() * 2);
  ASSERT_TRUE(table->Pull(keys, false, false, want.data()).ok());
  ASSERT_TRUE(back->Pull(keys, false, false, got.data()).ok());
  EXPECT_EQ(got, want);  // 200 stored keys, 200 unseen ones
}

TEST_F(CheckpointLoaderTest, MphCompressedTableRefusesAnotherShardCount) {
  auto table = CompressedEmb(SaecConfig::MPH);
  WriteShard(5, 0, 1, {}, {}, {table.get()});
  HashRouter router(2);
  const absl::Status s =
      LoadCheckpoint(DefaultEnv(), dir_, 5, ForShard(&router, 0)).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_NE(s.message().find("compressed table emb uses the mph key index, "
                             "which stores no keys, so it cannot be "
                             "re-sharded from 1 to 2 shards"),
            std::string::npos)
      << s;
}

// Field 1 compressed cluster-wide with the 4 group centres.
std::unique_ptr<CompressedTable> ClusterWideEmb(SaecConfig::IndexLayout layout) {
  auto plain = *SparseTable::Create(SparseConfig(2, OptimizerConfig::SGD),
                                    SparseTable::Options());
  for (uint64_t i = 0; i < 200; ++i) {
    const float v = static_cast<float>(i % 4);
    EXPECT_TRUE(
        plain->InsertRow((uint64_t{1} << 56) | i, {v, v}, {}, 0, 1).ok());
  }
  SaecConfig saec;
  saec.set_clusters(4);
  saec.set_index_layout(layout);
  FieldCentroidMap centroids;
  centroids[1] = {0, 0, 1, 1, 2, 2, 3, 3};
  return *CompressedTable::Compress(*plain, saec, {}, centroids);
}

TEST_F(CheckpointLoaderTest, ClusterWideTableRoundTripsBitForBit) {
  for (auto layout : {SaecConfig::MPH, SaecConfig::COMPACT}) {
    auto table = ClusterWideEmb(layout);
    const uint64_t key = ClusterKey(8, 1, 2);
    ASSERT_TRUE(table->PushResolved({&key, 1}, {0.5f, -0.5f}).ok());
    WriteShard(5, 0, 1, {}, {}, {table.get()});
    auto loaded = LoadCheckpoint(DefaultEnv(), dir_, 5, ForShard(nullptr, 0));
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    CompressedTable* back = loaded->tables.at("emb").compressed.get();
    ASSERT_NE(back, nullptr);
    EXPECT_TRUE(back->cluster_wide());
    EXPECT_EQ(back->MemoryBytes(), table->MemoryBytes());
    std::vector<uint64_t> keys, want_keys(200), got_keys(200);
    for (uint64_t i = 0; i < 200; ++i) keys.push_back((uint64_t{1} << 56) | i);
    ASSERT_TRUE(table->Resolve(keys, want_keys.data()).ok());
    ASSERT_TRUE(back->Resolve(keys, got_keys.data()).ok());
    EXPECT_EQ(got_keys, want_keys);
    std::vector<float> want(4), got(4);
    ASSERT_TRUE(table->PullResolved({&key, 1}, false, false, want.data()).ok());
    ASSERT_TRUE(back->PullResolved({&key, 1}, false, false, got.data()).ok());
    EXPECT_EQ(got, want);
    EXPECT_EQ(back->Stats()[0].SerializeAsString(),
              table->Stats()[0].SerializeAsString());
  }
}

TEST_F(CheckpointLoaderTest, ClusterWideShardsRoundTripTheirHomedClusters) {
  // 3 shards, each compressed with its own keys and storing only the
  // clusters it homes: each file restores into the same shard, bit for bit.
  HashRouter router(3);
  std::vector<std::unique_ptr<CompressedTable>> tables;
  for (uint32_t shard = 0; shard < 3; ++shard) {
    SparseTable::Options po;
    po.router = &router;
    po.shard_id = shard;
    auto plain = *SparseTable::Create(SparseConfig(2, OptimizerConfig::SGD), po);
    for (uint64_t i = 0; i < 300; ++i) {
      const uint64_t key = (uint64_t{1} << 56) | i;
      if (router.ShardForKey(key) != shard) continue;
      const float v = static_cast<float>(i % 4);
      ASSERT_TRUE(plain->InsertRow(key, {v, v}, {}, 0, 1).ok());
    }
    SaecConfig saec;
    saec.set_clusters(4);
    CompressedTable::Options co;
    co.router = &router;
    co.shard_id = shard;
    FieldCentroidMap centroids;
    centroids[1] = {0, 0, 1, 1, 2, 2, 3, 3};
    auto t = CompressedTable::Compress(*plain, saec, co, centroids);
    ASSERT_TRUE(t.ok()) << t.status();
    tables.push_back(*std::move(t));
  }
  uint32_t stored = 0;
  for (uint32_t shard = 0; shard < 3; ++shard) {
    tables[shard]->VisitFields([&](const CompressedFieldState& f) {
      stored += f.vectors.num_rows();
    });
    WriteShard(5, shard, 3, {}, {}, {tables[shard].get()});
  }
  EXPECT_EQ(stored, 4u);  // each cluster on one shard
  for (uint32_t shard = 0; shard < 3; ++shard) {
    auto loaded =
        LoadCheckpoint(DefaultEnv(), dir_, 5, ForShard(&router, shard));
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    CompressedTable* back = loaded->tables.at("emb").compressed.get();
    ASSERT_NE(back, nullptr);
    EXPECT_EQ(back->MemoryBytes(), tables[shard]->MemoryBytes());
    EXPECT_EQ(back->HomedCentroids().SerializeAsString(),
              tables[shard]->HomedCentroids().SerializeAsString());
    EXPECT_EQ(back->Stats()[0].SerializeAsString(),
              tables[shard]->Stats()[0].SerializeAsString());
  }
}

TEST_F(CheckpointLoaderTest, ClusterWideTableRefusesAnotherShardCount) {
  auto table = ClusterWideEmb(SaecConfig::COMPACT);
  WriteShard(5, 0, 1, {}, {}, {table.get()});
  HashRouter router(2);
  const absl::Status s =
      LoadCheckpoint(DefaultEnv(), dir_, 5, ForShard(&router, 0)).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_NE(s.message().find("compressed table emb is compressed "
                             "cluster-wide, so it cannot be re-sharded from "
                             "1 to 2 shards"),
            std::string::npos)
      << s;
}

TEST_F(CheckpointLoaderTest, CompressedTableIsExpandedIntoAnotherShardCount) {
  auto table = CompressedEmb(SaecConfig::COMPACT);
  WriteShard(5, 0, 1, {}, {}, {table.get()});
  HashRouter router(2);
  uint64_t rows = 0;
  for (uint32_t shard = 0; shard < 2; ++shard) {
    auto loaded =
        LoadCheckpoint(DefaultEnv(), dir_, 5, ForShard(&router, shard));
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    const ShardTable& emb = loaded->tables.at("emb");
    ASSERT_EQ(emb.compressed, nullptr);
    ASSERT_NE(emb.sparse, nullptr);
    emb.sparse->ForEachRow([&](uint64_t key, const float* v, const float*,
                               int64_t, uint64_t freq) {
      EXPECT_EQ(router.ShardForKey(key), shard);
      const float want = static_cast<float>((key & 0xffff) % 4);
      EXPECT_NEAR(v[0], want, 1e-5) << key;  // its cluster's centroid
      EXPECT_EQ(freq, 0u);                   // frequencies are not kept
    });
    rows += emb.sparse->rows();
  }
  EXPECT_EQ(rows, 200u);
}

// CompressedEmb (SGD at 0.1) with growth: new key 1000 folded, new key
// 2000 an overflow row, new key 9 << 56 of a field without clusters.
std::unique_ptr<CompressedTable> GrownEmb(
    SaecConfig::IndexLayout layout = SaecConfig::INDEX_LAYOUT_DEFAULT) {
  auto table = CompressedEmb(layout);
  const uint64_t folded = (uint64_t{1} << 56) | 1000;
  const uint64_t fresh = (uint64_t{1} << 56) | 2000, other = uint64_t{9} << 56;
  float out[2];
  EXPECT_TRUE(table->Pull({&folded, 1}, true, false, out).ok());
  EXPECT_TRUE(table->Push({&folded, 1}, {-30.f, -30.f}).ok());  // {3, 3}
  EXPECT_TRUE(table->Fold(1).ok());
  EXPECT_TRUE(table->Push({&fresh, 1}, {-70.f, 70.f}).ok());  // {7, -7}
  EXPECT_TRUE(table->Push({&other, 1}, {-10.f, -10.f}).ok());
  return table;
}

TEST_F(CheckpointLoaderTest, CompressedGrowthRoundTripsIntoTheSameShardCount) {
  auto table = GrownEmb();
  WriteShard(5, 0, 1, {}, {}, {table.get()});
  auto loaded = LoadCheckpoint(DefaultEnv(), dir_, 5, ForShard(nullptr, 0));
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  CompressedTable& emb = *loaded->tables.at("emb").compressed;
  EXPECT_EQ(emb.rows(), 203u);
  EXPECT_EQ(loaded->info.rows, 203u);
  const std::vector<FieldStats> want = table->Stats(), got = emb.Stats();
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].SerializeAsString(), want[i].SerializeAsString()) << i;
  }
  EXPECT_EQ(got[0].folded_features(), 1u);
  EXPECT_EQ(got[0].new_rows(), 1u);
  const CompressedGrowth a = table->Growth(), b = emb.Growth();
  EXPECT_EQ(a.keys, b.keys);
  EXPECT_EQ(a.values, b.values);
  EXPECT_EQ(a.frequency, b.frequency);
  ASSERT_EQ(b.fields.size(), 1u);
  EXPECT_EQ(a.fields[0].frequency, b.fields[0].frequency);
  EXPECT_EQ(a.fields[0].folded_keys, b.fields[0].folded_keys);
  EXPECT_EQ(a.fields[0].folded_clusters, b.fields[0].folded_clusters);
  // The loaded table is charged like the original.
  EXPECT_EQ(emb.BudgetBytes(), table->BudgetBytes());
}

// Re-sharding needs an index that lists its keys (not MPH).
TEST_F(CheckpointLoaderTest, CompressedGrowthIsExpandedIntoAnotherShardCount) {
  auto table = GrownEmb(SaecConfig::COMPACT);
  WriteShard(5, 0, 1, {}, {}, {table.get()});
  HashRouter router(2);
  std::map<uint64_t, std::vector<float>> rows;
  for (uint32_t shard = 0; shard < 2; ++shard) {
    auto loaded =
        LoadCheckpoint(DefaultEnv(), dir_, 5, ForShard(&router, shard));
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    loaded->tables.at("emb").sparse->ForEachRow(
        [&](uint64_t key, const float* v, const float*, int64_t, uint64_t) {
          rows[key] = {v[0], v[1]};
        });
  }
  EXPECT_EQ(rows.size(), 203u);
  EXPECT_NEAR(rows.at((uint64_t{1} << 56) | 1000)[0], 3.f, 1e-5);  // folded
  for (uint64_t key : {(uint64_t{1} << 56) | 2000, uint64_t{9} << 56}) {
    std::vector<float> own(2);
    ASSERT_TRUE(table->Pull({&key, 1}, false, true, own.data()).ok());
    EXPECT_EQ(rows.at(key), own) << key;  // an overflow row as it was
  }
}

TEST_F(CheckpointLoaderTest, NonFiniteCompressedStateIsDataLoss) {
  // The writer refuses such a table, so forge the file: write a finite
  // marker, overwrite it with +inf and fix the CRC.
  auto table = internal::CompressedWithState(0.375f);
  ASSERT_NE(table, nullptr);
  WriteShard(6, 0, 1, {}, {}, {table.get()});
  const std::string path =
      JoinPath(JoinPath(dir_, CheckpointDirName(6)), ShardFileName(0, 1));
  std::string bytes = internal::ReadRaw(path);
  const float marker = 0.375f, inf = std::numeric_limits<float>::infinity();
  const size_t at =
      bytes.find(std::string(reinterpret_cast<const char*>(&marker), 4));
  ASSERT_NE(at, std::string::npos);
  std::memcpy(&bytes[at], &inf, 4);
  const size_t body = bytes.size() - kShardFileFooterBytes;
  const uint32_t crc = crc32c::Extend(0, bytes.data(), body);
  std::memcpy(&bytes[body], &crc, 4);
  internal::WriteRaw(path, bytes);

  const absl::Status s =
      LoadCheckpoint(DefaultEnv(), dir_, 6, ForShard(nullptr, 0)).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(s.message().find("bad compressed table emb field 1: optimizer "
                             "state float 4 is not finite (inf)"),
            std::string::npos)
      << s;
}

}  // namespace
}  // namespace strata
