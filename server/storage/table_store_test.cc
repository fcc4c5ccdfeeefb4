#include "server/storage/table_store.h"

#include <atomic>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "proto/base/names.h"
#include "server/router/router.h"
#include "server/storage/checkpoint_filename.h"
#include "server/util/env_testing.h"

namespace strata {
namespace {

std::string TestDir() {
  const ::testing::TestInfo* info =
      ::testing::UnitTest::GetInstance()->current_test_info();
  const std::string dir = JoinPath(::testing::TempDir(),
                                   absl::StrCat("table_store_", info->name()));
  EXPECT_TRUE(DefaultEnv()->CreateDir(dir).ok());
  return dir;
}

TableConfig Sparse(const std::string& name, uint32_t dim,
                   OptimizerConfig::Type opt = OptimizerConfig::ADAM) {
  TableConfig c;
  c.set_name(name);
  c.set_dim(dim);
  c.mutable_initializer()->set_type(InitializerConfig::UNIFORM);
  c.mutable_initializer()->set_low(-0.1f);
  c.mutable_initializer()->set_high(0.1f);
  c.mutable_initializer()->set_seed(5);
  c.mutable_optimizer()->set_type(opt);
  c.mutable_optimizer()->set_learning_rate(0.05f);
  return c;
}

DenseConfig Dense(const std::string& name, uint64_t size,
                  SyncMode sync = ASYNC) {
  DenseConfig c;
  c.set_name(name);
  c.set_size(size);
  c.set_sync(sync);
  c.set_num_workers(sync == BSP ? 2 : 0);
  c.mutable_initializer()->set_type(InitializerConfig::NORMAL);
  c.mutable_initializer()->set_stddev(0.5f);
  c.mutable_optimizer()->set_type(OptimizerConfig::ADAM);
  c.mutable_optimizer()->set_learning_rate(0.01f);
  return c;
}

std::unique_ptr<TableStore> MakeStore(const ShardRouter* router, uint32_t shard,
                                      Env* env = nullptr,
                                      Clock* clock = nullptr) {
  TableStore::Options o;
  o.router = router;
  o.num_shards = router == nullptr ? 1 : router->num_shards();
  o.shard_id = shard;
  o.env = env;
  o.clock = clock;
  o.checkpoint_buffer_bytes = 8192;
  auto store = TableStore::Create(o);
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? *std::move(store) : nullptr;
}

struct Row {
  std::vector<float> values, state;
  int64_t step;
  uint64_t freq;
  bool operator==(const Row& o) const {
    return values == o.values && state == o.state && step == o.step &&
           freq == o.freq;
  }
};
using Rows = std::map<uint64_t, Row>;

Rows SnapshotSparse(const SparseTable& t) {
  Rows rows;
  t.ForEachRow([&](uint64_t key, const float* v, const float* s, int64_t step,
                   uint64_t freq) {
    rows[key] =
        Row{{v, v + t.dim()}, {s, s + t.state_floats_per_row()}, step, freq};
  });
  return rows;
}

Row SnapshotDense(const DenseTable& t) {
  Row row;
  t.Visit(
      [&](absl::Span<const float> v, absl::Span<const float> s, int64_t step) {
        row = Row{{v.begin(), v.end()}, {s.begin(), s.end()}, step, 0};
      });
  return row;
}

TEST(TableStoreTest, CreateRejectsInconsistentOptions) {
  HashRouter router(3);
  TableStore::Options o;
  o.num_shards = 2;  // no router
  EXPECT_EQ(TableStore::Create(o).status().code(),
            absl::StatusCode::kInvalidArgument);
  o.router = &router;  // 3 != 2
  EXPECT_EQ(TableStore::Create(o).status().code(),
            absl::StatusCode::kInvalidArgument);
  o.num_shards = 3;
  o.shard_id = 3;
  EXPECT_EQ(TableStore::Create(o).status().code(),
            absl::StatusCode::kInvalidArgument);
  o.shard_id = 2;
  EXPECT_TRUE(TableStore::Create(o).ok());
}

TEST(TableStoreTest, CreateIsIdempotentOnlyForIdenticalConfigs) {
  auto store = MakeStore(nullptr, 0);
  ASSERT_TRUE(store->CreateSparse(Sparse("emb", 8), false).ok());
  EXPECT_EQ(store->CreateSparse(Sparse("emb", 8), false).code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_TRUE(store->CreateSparse(Sparse("emb", 8), true).ok());
  EXPECT_EQ(store->CreateSparse(Sparse("emb", 16), true).code(),
            absl::StatusCode::kAlreadyExists);
  ASSERT_TRUE(store->CreateDense(Dense("w", 10), false).ok());
  EXPECT_TRUE(store->CreateDense(Dense("w", 10), true).ok());
  EXPECT_EQ(store->CreateDense(Dense("w", 11), true).code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(store->CreateDense(Dense("w", 10), false).code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(store->CreateSparse(Sparse("", 8), false).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store->CreateDense(Dense("z", 0), false).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(TableStoreTest, SparseAndDenseShareOneNamespace) {
  auto store = MakeStore(nullptr, 0);
  ASSERT_TRUE(store->CreateSparse(Sparse("x", 4), false).ok());
  ASSERT_TRUE(store->CreateDense(Dense("y", 4), false).ok());
  EXPECT_EQ(store->CreateDense(Dense("x", 4), true).code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(store->CreateSparse(Sparse("y", 4), true).code(),
            absl::StatusCode::kAlreadyExists);
}

TEST(TableStoreTest, GetReportsMissingTablesAndWrongKinds) {
  auto store = MakeStore(nullptr, 0);
  ASSERT_TRUE(store->CreateSparse(Sparse("emb", 4), false).ok());
  ASSERT_TRUE(store->CreateDense(Dense("w", 4), false).ok());
  EXPECT_TRUE(store->GetSparse("emb").ok());
  EXPECT_TRUE(store->GetDense("w").ok());
  absl::Status s = store->GetSparse("nope").status();
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "no sparse table named nope");
  EXPECT_EQ(store->GetDense("nope").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store->GetSparse("w").status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(store->GetDense("emb").status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(TableStoreTest, DropRemovesTheTableButKeepsItAliveForUsers) {
  auto store = MakeStore(nullptr, 0);
  ASSERT_TRUE(store->CreateSparse(Sparse("emb", 4), false).ok());
  std::shared_ptr<SparseTable> table = *store->GetSparse("emb");
  ASSERT_TRUE(store->Drop("emb").ok());
  EXPECT_EQ(store->GetSparse("emb").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store->Drop("emb").code(), absl::StatusCode::kNotFound);
  std::vector<float> out(4);
  EXPECT_TRUE(table->Pull({1}, true, false, out.data()).ok());
  // The name is free again.
  EXPECT_TRUE(store->CreateDense(Dense("emb", 4), false).ok());
}

TEST(TableStoreTest, DropWakesBlockedDensePullsWithAborted) {
  auto store = MakeStore(nullptr, 0);
  ASSERT_TRUE(store->CreateDense(Dense("w", 4, BSP), false).ok());
  std::shared_ptr<DenseTable> w = *store->GetDense("w");
  absl::StatusOr<int64_t> pulled;
  std::thread puller([&] {
    std::string bytes;
    pulled = w->Pull(1, absl::InfiniteFuture(), &bytes);
  });
  while (w->waiters() == 0) std::this_thread::yield();
  ASSERT_TRUE(store->Drop("w").ok());
  puller.join();
  EXPECT_EQ(pulled.status().code(), absl::StatusCode::kAborted);
}

TEST(TableStoreTest, DenseTensorsMustBeCreatedOnTheirShard) {
  HashRouter router(4);
  const uint32_t owner = router.ShardForName("fc.w");
  auto mine = MakeStore(&router, owner);
  auto other = MakeStore(&router, (owner + 1) % 4);
  EXPECT_TRUE(mine->CreateDense(Dense("fc.w", 4), false).ok());
  const absl::Status s = other->CreateDense(Dense("fc.w", 4), false);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find(absl::StrCat("belongs to shard ", owner)),
            std::string::npos)
      << s;
  // Sparse tables exist on every shard.
  EXPECT_TRUE(other->CreateSparse(Sparse("emb", 4), false).ok());
}

TEST(TableStoreTest, ListSummarisesEveryTableByName) {
  auto store = MakeStore(nullptr, 0);
  ASSERT_TRUE(store->CreateSparse(Sparse("b_emb", 4), false).ok());
  ASSERT_TRUE(store->CreateDense(Dense("a_w", 6, BSP), false).ok());
  std::shared_ptr<SparseTable> emb = *store->GetSparse("b_emb");
  std::vector<float> out(3 * 4);
  ASSERT_TRUE(emb->Pull({1, 2, 3}, false, false, out.data()).ok());
  const std::vector<TableSummary> list = store->List();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].name, "a_w");
  EXPECT_EQ(list[0].kind, TableKind::kDense);
  EXPECT_EQ(list[0].size, 6u);
  EXPECT_EQ(list[0].sync, BSP);
  EXPECT_EQ(list[0].step, 0);
  EXPECT_EQ(list[0].dense_config.num_workers(), 2u);
  EXPECT_GE(list[0].bytes, 6 * 3 * sizeof(float));
  EXPECT_EQ(list[1].name, "b_emb");
  EXPECT_EQ(list[1].kind, TableKind::kSparse);
  EXPECT_EQ(list[1].dim, 4u);
  EXPECT_EQ(list[1].rows, 3u);
  EXPECT_EQ(list[1].optimizer, OptimizerConfig::ADAM);
  EXPECT_GE(list[1].bytes, 3 * 4 * 3 * sizeof(float));
  EXPECT_EQ(list[1].sparse_config.name(), "b_emb");
}

TEST(TableStoreTest, ListFillsAListTablesResponse) {
  HashRouter router(2);
  auto store = MakeStore(&router, 1);
  ASSERT_TRUE(store->CreateSparse(Sparse("emb", 4), false).ok());
  ListTablesResponse resp;
  resp.add_tables()->set_name("stale");
  store->List(&resp);
  EXPECT_EQ(resp.shard_id(), 1u);
  EXPECT_EQ(resp.num_shards(), 2u);
  ASSERT_EQ(resp.tables_size(), 1);
  EXPECT_EQ(resp.tables(0).name(), "emb");
  EXPECT_EQ(resp.tables(0).kind(), TableInfo::SPARSE);
  EXPECT_EQ(resp.tables(0).dim(), 4u);
  EXPECT_EQ(resp.tables(0).sparse_config().name(), "emb");
  EXPECT_FALSE(resp.tables(0).has_dense_config());
}

TEST(TableStoreTest, ResetDenseStepsDiscardsOpenStepsOfMatchingBspTensors) {
  auto store = MakeStore(nullptr, 0);
  ASSERT_TRUE(store->CreateDense(Dense("job1/a", 2, BSP), false).ok());
  ASSERT_TRUE(store->CreateDense(Dense("job1/b", 2, BSP), false).ok());
  ASSERT_TRUE(store->CreateDense(Dense("job1/async", 2), false).ok());
  ASSERT_TRUE(store->CreateDense(Dense("job10/a", 2, BSP), false).ok());
  ASSERT_TRUE(store->CreateSparse(Sparse("job1/emb", 2), false).ok());
  for (const char* name : {"job1/a", "job10/a"}) {
    ASSERT_TRUE((*store->GetDense(name))->Push({1, 1}, 0, 0).ok());
  }
  absl::StatusOr<DenseStepReset> reset = store->ResetDenseSteps("job1/");
  ASSERT_TRUE(reset.ok()) << reset.status();
  EXPECT_EQ(reset->tensors, 2u);
  EXPECT_EQ(reset->reset, 1u);
  // job1/a's worker 0 may push step 0 again; job10/a kept its push.
  EXPECT_TRUE((*store->GetDense("job1/a"))->Push({1, 1}, 0, 0).ok());
  EXPECT_EQ((*store->GetDense("job10/a"))->Push({1, 1}, 0, 0).status().code(),
            absl::StatusCode::kAlreadyExists);
  reset = store->ResetDenseSteps("nothing/");
  ASSERT_TRUE(reset.ok());
  EXPECT_EQ(reset->tensors, 0u);
}

TEST(TableStoreTest, ResetDenseStepsRefusesAnInvalidPrefix) {
  auto store = MakeStore(nullptr, 0);
  for (const std::string& bad : {std::string(), std::string("a b"),
                                 std::string(kMaxNameBytes + 1, 'a')}) {
    EXPECT_EQ(store->ResetDenseSteps(bad).status().code(),
              absl::StatusCode::kInvalidArgument)
        << bad;
  }
}

TEST(TableStoreTest, CreateRejectsAShardIdOutsideASingleShardStore) {
  TableStore::Options o;
  o.shard_id = 1;  // of 1 shard
  const absl::Status s = TableStore::Create(o).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("shard_id 1 is outside [0, 1)"), std::string::npos)
      << s;
}

TEST(TableStoreTest, CreateRejectsZeroStripesAndOversizedBatches) {
  TableStore::Options o;
  o.sparse_stripes = 0;
  EXPECT_EQ(TableStore::Create(o).status().code(),
            absl::StatusCode::kInvalidArgument);
  o.sparse_stripes = 1;
  o.max_batch_keys = kMaxBatchKeysLimit + 1;
  EXPECT_EQ(TableStore::Create(o).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// Fills a store with rows that have optimizer state, frequencies and Adam
// steps, plus two dense tensors.
void Populate(TableStore* store) {
  ASSERT_TRUE(store->CreateSparse(Sparse("emb", 4), false).ok());
  ASSERT_TRUE(
      store->CreateSparse(Sparse("ada", 2, OptimizerConfig::ADAGRAD), false)
          .ok());
  ASSERT_TRUE(store->CreateDense(Dense("w", 5), false).ok());
  ASSERT_TRUE(store->CreateDense(Dense("bsp", 3, BSP), false).ok());
  auto emb = *store->GetSparse("emb");
  auto ada = *store->GetSparse("ada");
  std::vector<uint64_t> keys;
  for (uint64_t k = 0; k < 300; ++k) keys.push_back(k * 7919 + 3);
  std::vector<float> g(keys.size() * 4);
  for (size_t i = 0; i < g.size(); ++i) g[i] = 0.01f * (i % 13) - 0.05f;
  ASSERT_TRUE(emb->Push(keys, g).ok());
  ASSERT_TRUE(emb->Push({keys[0], keys[1]}, {1, 1, 1, 1, 2, 2, 2, 2}).ok());
  std::vector<float> out(keys.size() * 4);
  ASSERT_TRUE(emb->Pull(keys, true, false, out.data()).ok());
  ASSERT_TRUE(ada->Push({1, 2}, {0.5f, 0.5f, -1, 1}).ok());
  auto w = *store->GetDense("w");
  ASSERT_TRUE(w->Push({1, 2, 3, 4, 5}, 0, 0).ok());
  ASSERT_TRUE(w->Push({1, 1, 1, 1, 1}, 0, 0).ok());
  auto bsp = *store->GetDense("bsp");
  ASSERT_TRUE(bsp->Push({1, 2, 3}, 0, 0).ok());
  ASSERT_TRUE(bsp->Push({3, 2, 1}, 0, 1).ok());
  ASSERT_TRUE(bsp->Push({9, 9, 9}, 1, 0).ok());  // pending: not checkpointed
}

TEST(TableStoreTest, CheckpointRoundTripRestoresEverything) {
  const std::string dir = TestDir();
  auto store = MakeStore(nullptr, 0);
  Populate(store.get());
  absl::StatusOr<CheckpointInfo> info = store->Checkpoint(dir, 5);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->checkpoint_id, 5u);
  EXPECT_EQ(info->rows, 302u);
  EXPECT_EQ(info->path,
            JoinPath(JoinPath(dir, CheckpointDirName(5)), ShardFileName(0, 1)));
  EXPECT_GT(info->bytes, 300u * 4 * 3 * sizeof(float));

  auto restored = MakeStore(nullptr, 0);
  ASSERT_TRUE(restored->CreateSparse(Sparse("stale", 4), false).ok());
  absl::StatusOr<LoadInfo> load = restored->Load(dir, 0);
  ASSERT_TRUE(load.ok()) << load.status();
  EXPECT_EQ(load->checkpoint_id, 5u);
  EXPECT_EQ(load->written_by_num_shards, 1u);
  EXPECT_EQ(load->rows, 302u);
  EXPECT_EQ(load->sparse_tables, 2u);
  EXPECT_EQ(load->dense_tensors, 2u);
  EXPECT_EQ(restored->GetSparse("stale").status().code(),
            absl::StatusCode::kNotFound)
      << "Load replaces the store's contents";
  for (const char* name : {"emb", "ada"}) {
    const Rows want = SnapshotSparse(**store->GetSparse(name));
    const Rows got = SnapshotSparse(**restored->GetSparse(name));
    EXPECT_EQ(got, want) << name;
    EXPECT_EQ((*restored->GetSparse(name))->config().SerializeAsString(),
              (*store->GetSparse(name))->config().SerializeAsString());
  }
  const Rows emb = SnapshotSparse(**restored->GetSparse("emb"));
  EXPECT_EQ(emb.at(3).step, 2);  // Adam t survives
  EXPECT_EQ(emb.at(3).freq, 3u);
  EXPECT_EQ(SnapshotDense(**restored->GetDense("w")),
            SnapshotDense(**store->GetDense("w")));
  EXPECT_EQ(SnapshotDense(**restored->GetDense("w")).step, 2);
  // The BSP tensor comes back at step 1 without the pending push: worker 0
  // may push step 1 again.
  auto bsp = *restored->GetDense("bsp");
  EXPECT_EQ(SnapshotDense(*bsp), SnapshotDense(**store->GetDense("bsp")));
  EXPECT_TRUE(bsp->Push({1, 1, 1}, 1, 0).ok());
}

TEST(TableStoreTest, CheckpointIdZeroUsesTheClock) {
  const std::string dir = TestDir();
  FakeClock clock(absl::FromUnixMillis(1700000000123));
  auto store = MakeStore(nullptr, 0, nullptr, &clock);
  absl::StatusOr<CheckpointInfo> info = store->Checkpoint(dir, 0);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->checkpoint_id, 1700000000123u);
  absl::StatusOr<LoadInfo> load = store->Load(dir, 1700000000123u);
  ASSERT_TRUE(load.ok()) << load.status();
  EXPECT_EQ(load->rows, 0u);
}

TEST(TableStoreTest, LoadWithoutACheckpointIsNotFound) {
  const std::string dir = TestDir();
  auto store = MakeStore(nullptr, 0);
  ASSERT_TRUE(store->CreateSparse(Sparse("emb", 4), false).ok());
  EXPECT_EQ(store->Load(dir, 0).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store->Load(dir, 3).status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(store->GetSparse("emb").ok()) << "a failed load changes nothing";
}

TEST(TableStoreTest, CrashMidWriteKeepsThePreviousCheckpointLoadable) {
  const std::string dir = TestDir();
  FaultInjectionEnv env(DefaultEnv());
  auto store = MakeStore(nullptr, 0, &env);
  Populate(store.get());
  ASSERT_TRUE(store->Checkpoint(dir, 1).ok());
  const Rows at_1 = SnapshotSparse(**store->GetSparse("emb"));
  ASSERT_TRUE((*store->GetSparse("emb"))->Push({3}, {1, 1, 1, 1}).ok());

  env.CrashAfter(5000);  // dies part-way through checkpoint 2
  EXPECT_EQ(store->Checkpoint(dir, 2).status().code(),
            absl::StatusCode::kUnavailable);
  env.Reset();  // "restart"
  const std::string partial =
      JoinPath(JoinPath(dir, CheckpointDirName(2)), ShardFileName(0, 1)) +
      ".tmp";
  EXPECT_TRUE(env.FileExists(partial).ok()) << "the crash leaves the .tmp";

  auto restarted = MakeStore(nullptr, 0, &env);
  absl::StatusOr<LoadInfo> load = restarted->Load(dir, 0);
  ASSERT_TRUE(load.ok()) << load.status();
  EXPECT_EQ(load->checkpoint_id, 1u) << "the failed checkpoint is not chosen";
  EXPECT_EQ(SnapshotSparse(**restarted->GetSparse("emb")), at_1);
  EXPECT_EQ(restarted->Load(dir, 2).status().code(),
            absl::StatusCode::kNotFound);
  // The next attempt overwrites the leftover and succeeds.
  ASSERT_TRUE(store->Checkpoint(dir, 2).ok());
  EXPECT_EQ(env.FileExists(partial).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(restarted->Load(dir, 0)->checkpoint_id, 2u);
}

TEST(TableStoreTest, OneShardCrashingLeavesTheCheckpointIncomplete) {
  const std::string dir = TestDir();
  HashRouter router(3);
  FaultInjectionEnv shard2_env(DefaultEnv());
  std::vector<std::unique_ptr<TableStore>> stores;
  for (uint32_t s = 0; s < 3; ++s) {
    stores.push_back(MakeStore(&router, s, s == 2 ? &shard2_env : nullptr));
    ASSERT_TRUE(stores[s]->CreateSparse(Sparse("emb", 4), false).ok());
  }
  for (auto& store : stores) ASSERT_TRUE(store->Checkpoint(dir, 10).ok());
  shard2_env.CrashAfter(10);
  EXPECT_TRUE(stores[0]->Checkpoint(dir, 11).ok());
  EXPECT_TRUE(stores[1]->Checkpoint(dir, 11).ok());
  EXPECT_FALSE(stores[2]->Checkpoint(dir, 11).ok());
  auto fresh = MakeStore(&router, 0);
  absl::StatusOr<LoadInfo> load = fresh->Load(dir, 0);
  ASSERT_TRUE(load.ok()) << load.status();
  EXPECT_EQ(load->checkpoint_id, 10u);
  absl::Status s = fresh->Load(dir, 11).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_NE(s.message().find("missing shard-00002-of-00003.ckpt"),
            std::string::npos)
      << s;
}

TEST(TableStoreTest, FailedRenameKeepsThePreviousCheckpoint) {
  const std::string dir = TestDir();
  FaultInjectionEnv env(DefaultEnv());
  auto store = MakeStore(nullptr, 0, &env);
  Populate(store.get());
  ASSERT_TRUE(store->Checkpoint(dir, 1).ok());
  env.FailRename(true);
  EXPECT_EQ(store->Checkpoint(dir, 2).status().code(),
            absl::StatusCode::kInternal);
  env.Reset();
  auto restarted = MakeStore(nullptr, 0, &env);
  EXPECT_EQ(restarted->Load(dir, 0)->checkpoint_id, 1u);
}

TEST(TableStoreTest, CorruptedFileFailsWithDataLossAndChangesNothing) {
  const std::string dir = TestDir();
  auto store = MakeStore(nullptr, 0);
  Populate(store.get());
  absl::StatusOr<CheckpointInfo> info = store->Checkpoint(dir, 1);
  ASSERT_TRUE(info.ok());
  std::string bytes = *DefaultEnv()->ReadFileToString(info->path);
  bytes[bytes.size() / 3] ^= 0x40;
  {
    auto f = DefaultEnv()->NewWritableFile(info->path);
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE((*f)->Append(bytes).ok());
    ASSERT_TRUE((*f)->Close().ok());
  }
  auto other = MakeStore(nullptr, 0);
  ASSERT_TRUE(other->CreateSparse(Sparse("mine", 4), false).ok());
  const absl::Status s = other->Load(dir, 0).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(s.message().find(info->path), std::string::npos) << s;
  EXPECT_TRUE(other->GetSparse("mine").ok());
  EXPECT_EQ(other->GetSparse("emb").status().code(),
            absl::StatusCode::kNotFound);
}

// Writes a checkpoint with `from` shards and loads it into `to` shards:
// every row and dense tensor must end up, exactly, on the shard the new
// router assigns it to and nowhere else.
void CheckResharding(uint32_t from, uint32_t to, const std::string& dir) {
  HashRouter old_router(from), new_router(to);
  std::vector<std::unique_ptr<TableStore>> old_stores;
  for (uint32_t s = 0; s < from; ++s) {
    old_stores.push_back(MakeStore(&old_router, s));
    ASSERT_TRUE(old_stores[s]->CreateSparse(Sparse("emb", 8), false).ok());
  }
  std::vector<std::string> dense_names;
  for (int i = 0; i < 8; ++i) {
    const std::string name = absl::StrCat("dense", i);
    dense_names.push_back(name);
    TableStore* owner = old_stores[old_router.ShardForName(name)].get();
    ASSERT_TRUE(owner->CreateDense(Dense(name, 4 + i), false).ok());
    ASSERT_TRUE((*owner->GetDense(name))
                    ->Push(std::vector<float>(4 + i, 0.25f * i), 0, 0)
                    .ok());
  }
  // Route 3000 keys to their owners; push twice and pull once.
  std::vector<std::vector<uint64_t>> keys_by_shard(from);
  for (uint64_t i = 0; i < 3000; ++i) {
    const uint64_t key = i * 0x9E3779B97F4A7C15ULL + 11;
    keys_by_shard[old_router.ShardForKey(key)].push_back(key);
  }
  Rows truth;
  for (uint32_t s = 0; s < from; ++s) {
    auto emb = *old_stores[s]->GetSparse("emb");
    const std::vector<uint64_t>& keys = keys_by_shard[s];
    if (keys.empty()) continue;
    std::vector<float> g(keys.size() * 8);
    for (size_t j = 0; j < g.size(); ++j) g[j] = 0.001f * (j % 101);
    ASSERT_TRUE(emb->Push(keys, g).ok());
    ASSERT_TRUE(emb->Push(keys, g).ok());
    std::vector<float> out(g.size());
    ASSERT_TRUE(emb->Pull(keys, true, false, out.data()).ok());
    const Rows rows = SnapshotSparse(*emb);
    truth.insert(rows.begin(), rows.end());
    ASSERT_TRUE(old_stores[s]->Checkpoint(dir, 77).ok());
  }
  ASSERT_EQ(truth.size(), 3000u);

  Rows merged;
  std::set<std::string> dense_seen;
  for (uint32_t s = 0; s < to; ++s) {
    auto store = MakeStore(&new_router, s);
    absl::StatusOr<LoadInfo> load = store->Load(dir, 0);
    ASSERT_TRUE(load.ok()) << load.status();
    EXPECT_EQ(load->written_by_num_shards, from);
    auto emb = store->GetSparse("emb");
    ASSERT_TRUE(emb.ok()) << "every shard gets every sparse table";
    const Rows rows = SnapshotSparse(**emb);
    EXPECT_EQ(load->rows, rows.size());
    for (const auto& [key, row] : rows) {
      EXPECT_EQ(new_router.ShardForKey(key), s);
      EXPECT_TRUE(merged.emplace(key, row).second) << "key on two shards";
    }
    for (const std::string& name : dense_names) {
      auto dense = store->GetDense(name);
      if (new_router.ShardForName(name) != s) {
        EXPECT_EQ(dense.status().code(), absl::StatusCode::kNotFound);
        continue;
      }
      ASSERT_TRUE(dense.ok()) << name;
      dense_seen.insert(name);
      TableStore* old_owner = old_stores[old_router.ShardForName(name)].get();
      EXPECT_EQ(SnapshotDense(**dense),
                SnapshotDense(**old_owner->GetDense(name)));
    }
  }
  EXPECT_EQ(merged, truth) << "exact values, state, steps and frequencies";
  EXPECT_EQ(dense_seen.size(), dense_names.size());
}

TEST(TableStoreTest, CheckpointOfThreeShardsLoadsIntoTwo) {
  CheckResharding(3, 2, TestDir());
}

TEST(TableStoreTest, CheckpointOfOneShardLoadsIntoFour) {
  CheckResharding(1, 4, TestDir());
}

TEST(TableStoreTest, TensOfMillionsOfFloatsRoundTrip) {
  // 1M rows x dim 16 plus a 16M-element dense tensor: 32M floats, streamed
  // through the default 4 MiB write buffer.
  const std::string dir = TestDir();
  TableStore::Options o;
  auto store = *TableStore::Create(o);
  TableConfig c = Sparse("big", 16, OptimizerConfig::SGD);
  ASSERT_TRUE(store->CreateSparse(c, false).ok());
  DenseConfig d = Dense("huge", uint64_t{1} << 24);
  d.mutable_optimizer()->set_type(OptimizerConfig::SGD);
  ASSERT_TRUE(store->CreateDense(d, false).ok());
  auto big = *store->GetSparse("big");
  std::vector<uint64_t> keys(1 << 16);
  std::vector<float> out(keys.size() * 16);
  for (uint64_t base = 0; base < (1 << 20); base += keys.size()) {
    for (uint64_t i = 0; i < keys.size(); ++i) keys[i] = base + i;
    ASSERT_TRUE(big->Pull(keys, true, false, out.data()).ok());
  }
  absl::StatusOr<CheckpointInfo> info = store->Checkpoint(dir, 1);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->rows, uint64_t{1} << 20);
  EXPECT_GT(info->bytes, (uint64_t{32} << 20) * sizeof(float));
  auto restored = *TableStore::Create(o);
  absl::StatusOr<LoadInfo> load = restored->Load(dir, 1);
  ASSERT_TRUE(load.ok()) << load.status();
  EXPECT_EQ(load->rows, uint64_t{1} << 20);
  auto big2 = *restored->GetSparse("big");
  std::vector<float> again(out.size());
  ASSERT_TRUE(big2->Pull(keys, false, true, again.data()).ok());
  EXPECT_EQ(again, out);
  EXPECT_EQ(big2->Frequency(12345), 1u);
  EXPECT_EQ(SnapshotDense(**restored->GetDense("huge")).values,
            SnapshotDense(**store->GetDense("huge")).values);
}

TEST(TableStoreTest, CheckpointWhileTrainingContinues) {
  // Rows stay self-consistent while pushes run concurrently; the checkpoint
  // holds every row that existed before it started.
  const std::string dir = TestDir();
  auto store = MakeStore(nullptr, 0);
  TableConfig c = Sparse("emb", 4, OptimizerConfig::SGD);
  c.mutable_initializer()->Clear();
  c.mutable_optimizer()->set_learning_rate(1.0f);
  ASSERT_TRUE(store->CreateSparse(c, false).ok());
  auto emb = *store->GetSparse("emb");
  std::vector<uint64_t> keys(1000);
  for (uint64_t k = 0; k < keys.size(); ++k) keys[k] = k;
  const std::vector<float> minus_one(keys.size() * 4, -1.0f);
  ASSERT_TRUE(emb->Push(keys, minus_one).ok());
  std::atomic<bool> stop{false};
  std::thread trainer([&] {
    while (!stop) ASSERT_TRUE(emb->Push(keys, minus_one).ok());
  });
  absl::StatusOr<CheckpointInfo> info = store->Checkpoint(dir, 1);
  stop = true;
  trainer.join();
  ASSERT_TRUE(info.ok()) << info.status();
  auto restored = MakeStore(nullptr, 0);
  ASSERT_TRUE(restored->Load(dir, 1).ok());
  const Rows rows = SnapshotSparse(**restored->GetSparse("emb"));
  ASSERT_EQ(rows.size(), keys.size());
  for (const auto& [key, row] : rows) {
    // All four columns were updated together: a row is never torn.
    for (float v : row.values) EXPECT_EQ(v, static_cast<float>(row.step));
    EXPECT_GE(row.step, 1);
  }
}

}  // namespace
}  // namespace strata

namespace strata {
namespace {

// Two shards' stores holding a table of 3000 keys (field 1, 12 planted
// groups) trained a little with Adam, split by the router.
std::vector<std::unique_ptr<TableStore>> TrainedShards(const ShardRouter& r) {
  std::vector<std::unique_ptr<TableStore>> stores;
  for (uint32_t s = 0; s < r.num_shards(); ++s) {
    stores.push_back(MakeStore(&r, s));
    EXPECT_TRUE(stores.back()->CreateSparse(Sparse("emb", 4), false).ok());
  }
  for (uint64_t i = 0; i < 3000; ++i) {
    const uint64_t key = (uint64_t{1} << 56) | i;
    const uint32_t s = r.ShardForKey(key);
    auto t = stores[s]->GetSparse("emb");
    std::vector<float> v(4, float(i % 12)), st(8, 0.5f);
    EXPECT_TRUE((*t)->InsertRow(key, v, st, 3, 1 + i % 7).ok());
  }
  return stores;
}

SaecConfig TwelveClusters() {
  SaecConfig c;
  c.set_clusters(12);
  c.set_min_features(100);
  return c;
}

std::vector<float> PullAll(std::vector<std::unique_ptr<TableStore>>& stores,
                           const ShardRouter& r) {
  std::vector<float> out;
  for (uint64_t i = 0; i < 3000; ++i) {
    const uint64_t key = (uint64_t{1} << 56) | i;
    auto t = stores[r.ShardForKey(key)]->GetEmbedding("emb");
    EXPECT_TRUE(t.ok());
    float v[4];
    EXPECT_TRUE((*t)->Pull({&key, 1}, false, true, v).ok());
    out.insert(out.end(), v, v + 4);
  }
  return out;
}

TEST(TableStoreCompressionTest, CompressingACompressedTableFoldsItsNewRows) {
  HashRouter r(1);
  auto stores = TrainedShards(r);
  TableStore& store = *stores[0];
  ASSERT_TRUE(store.Compress("emb", TwelveClusters()).ok());
  const uint64_t used = store.memory_budget().used();
  std::vector<uint64_t> fresh;
  for (uint64_t i = 0; i < 40; ++i)
    fresh.push_back((uint64_t{1} << 56) | (9000 + i));
  std::vector<float> out(fresh.size() * 4);
  ASSERT_TRUE(
      (*store.GetEmbedding("emb"))->Pull(fresh, true, false, out.data()).ok());
  auto before = store.Stats("emb");
  ASSERT_TRUE(before.ok());
  EXPECT_EQ((*before)[0].new_rows(), 40u);
  EXPECT_GT(store.memory_budget().used(), used);  // the rows are charged
  // An empty name folds every compressed table (and compresses plain ones).
  auto folded = store.Compress("", TwelveClusters());
  ASSERT_TRUE(folded.ok()) << folded.status();
  ASSERT_EQ(folded->size(), 1u);
  EXPECT_EQ((*folded)[0].folded_features(), 40u);
  EXPECT_EQ((*folded)[0].new_rows(), 0u);
  EXPECT_EQ((*folded)[0].frequency(), 40u);
  EXPECT_EQ((*store.GetEmbedding("emb"))->rows(), 3040u);
  ASSERT_TRUE(store.Drop("emb").ok());
  EXPECT_EQ(store.memory_budget().used(), 0u);
}

TEST(TableStoreCompressionTest,
     CompressSwapsInTheCompressedTableAndReportsStats) {
  HashRouter r(2);
  auto stores = TrainedShards(r);
  auto stats = stores[0]->Compress("emb", TwelveClusters());
  ASSERT_TRUE(stats.ok()) << stats.status();
  ASSERT_EQ(stats->size(), 1u);
  EXPECT_EQ((*stats)[0].field(), 1u);
  EXPECT_EQ((*stats)[0].clusters(), 12u);
  EXPECT_EQ((*stats)[0].features(),
            stores[0]->GetEmbedding("emb").value()->rows());
  EXPECT_EQ(stores[0]->GetSparse("emb").status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE((*stores[0]->GetEmbedding("emb"))->compressed());
  // Compressing again folds the table (no new rows: nothing changes).
  auto refold = stores[0]->Compress("emb", TwelveClusters());
  ASSERT_TRUE(refold.ok()) << refold.status();
  ASSERT_EQ(refold->size(), 1u);
  EXPECT_EQ((*refold)[0].clusters(), 12u);
  EXPECT_EQ((*refold)[0].folded_features(), 0u);
  EXPECT_EQ(stores[0]->Compress("nope", TwelveClusters()).status().code(),
            absl::StatusCode::kNotFound);
  auto again = stores[0]->Stats("");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->size(), 1u);
  ListTablesResponse list;
  stores[0]->List(&list);
  ASSERT_EQ(list.tables_size(), 1);
  EXPECT_TRUE(list.tables(0).compressed());
}

// Found with ps_service_fuzz's property "a refused Compress leaves the
// tables as they were", on an input now in its corpus (compress_every_table):
// compressing every table swapped in the first ones before a later one
// failed, and an invalid config passed when there was nothing to compress.
TEST(TableStoreCompressionTest, CompressingEveryTableIsAllOrNothing) {
  auto store = MakeStore(nullptr, 0);
  ASSERT_TRUE(store->CreateSparse(Sparse("a", 2), false).ok());
  ASSERT_TRUE(store->CreateSparse(Sparse("b", 2), false).ok());
  for (uint64_t key = 1; key <= 8; ++key) {
    auto t = *store->GetSparse(key == 8 ? "b" : "a");
    const std::vector<float> v(2, float(key)), st(t->state_floats_per_row());
    ASSERT_TRUE(t->InsertRow(key, v, st, 1, 1).ok());
  }
  const uint64_t used = store->memory_budget().used();
  SaecConfig c;
  c.set_target_ratio(1.2);  // reachable with a's 7 rows, not with b's one
  c.set_min_features(1);
  c.set_index_layout(SaecConfig::COMPACT);  // MPH: ~600 B even for 7 keys
  const absl::Status s = store->Compress("", c).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_NE(s.message().find("compressing table b: "), std::string::npos) << s;
  ASSERT_TRUE(store->GetSparse("a").ok()) << "a stays plain";
  EXPECT_EQ((*store->GetSparse("a"))->rows(), 7u);
  EXPECT_TRUE(store->Stats("")->empty());
  EXPECT_EQ(store->memory_budget().used(), used);
  c.set_target_ratio(0);
  c.set_clusters(1);
  ASSERT_TRUE(store->Compress("", c).ok());
  EXPECT_EQ(store->Stats("")->size(), 2u);

  SaecConfig bad;
  bad.set_field_bits(17);
  EXPECT_EQ(MakeStore(nullptr, 0)->Compress("", bad).status().code(),
            absl::StatusCode::kInvalidArgument)
      << "refused with nothing to compress";
}

TEST(TableStoreCompressionTest, CompressedCheckpointRoundTripsExactly) {
  HashRouter r(2);
  auto stores = TrainedShards(r);
  for (auto& s : stores) ASSERT_TRUE(s->Compress("", TwelveClusters()).ok());
  // Train the compressed table a little so state and centroids move.
  const uint64_t key = (uint64_t{1} << 56) | 5;
  auto t = stores[r.ShardForKey(key)]->GetEmbedding("emb");
  ASSERT_TRUE((*t)->Push({&key, 1}, {0.5f, -0.5f, 1.f, 2.f}).ok());
  const std::vector<float> before = PullAll(stores, r);
  const std::string dir = TestDir();
  for (auto& s : stores) ASSERT_TRUE(s->Checkpoint(dir, 9).ok());
  std::vector<std::unique_ptr<TableStore>> loaded;
  for (uint32_t s = 0; s < 2; ++s) {
    loaded.push_back(MakeStore(&r, s));
    auto info = loaded.back()->Load(dir, 9);
    ASSERT_TRUE(info.ok()) << info.status();
    EXPECT_TRUE((*loaded.back()->GetEmbedding("emb"))->compressed());
  }
  EXPECT_EQ(PullAll(loaded, r), before);
  auto s0 = stores[0]->Stats("emb"), l0 = loaded[0]->Stats("emb");
  ASSERT_TRUE(s0.ok() && l0.ok());
  EXPECT_EQ(s0->at(0).SerializeAsString(), l0->at(0).SerializeAsString());
  // A later push behaves the same on the restored table (state restored).
  auto a = stores[r.ShardForKey(key)]->GetEmbedding("emb");
  auto b = loaded[r.ShardForKey(key)]->GetEmbedding("emb");
  ASSERT_TRUE((*a)->Push({&key, 1}, {1, 1, 1, 1}).ok());
  ASSERT_TRUE((*b)->Push({&key, 1}, {1, 1, 1, 1}).ok());
  EXPECT_EQ(PullAll(stores, r), PullAll(loaded, r));
}

TEST(TableStoreCompressionTest, CompressedCheckpointReshardsIntoPlainRows) {
  HashRouter r2(2), r3(3);
  auto stores = TrainedShards(r2);
  SaecConfig compact = TwelveClusters();  // the MPH index stores no keys
  compact.set_index_layout(SaecConfig::COMPACT);
  for (auto& s : stores) ASSERT_TRUE(s->Compress("", compact).ok());
  const std::vector<float> before = PullAll(stores, r2);
  const std::string dir = TestDir();
  for (auto& s : stores) ASSERT_TRUE(s->Checkpoint(dir, 4).ok());
  std::vector<std::unique_ptr<TableStore>> three;
  size_t rows = 0;
  for (uint32_t s = 0; s < 3; ++s) {
    three.push_back(MakeStore(&r3, s));
    auto info = three.back()->Load(dir, 4);
    ASSERT_TRUE(info.ok()) << info.status();
    auto t = three.back()->GetEmbedding("emb");
    ASSERT_TRUE(t.ok());
    EXPECT_FALSE((*t)->compressed());  // expanded; compress again if wanted
    rows += (*t)->rows();
  }
  EXPECT_EQ(rows, 3000u);
  EXPECT_EQ(PullAll(three, r3), before);  // every key keeps its centroid
}

// A single-shard store with the limits these tests vary.
std::unique_ptr<TableStore> LimitedStore(
    uint64_t max_memory_bytes, size_t max_tables = kDefaultMaxTables) {
  TableStore::Options o;
  o.max_memory_bytes = max_memory_bytes;
  o.max_tables = max_tables;
  auto store = TableStore::Create(o);
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? *std::move(store) : nullptr;
}

TEST(TableStoreLimitsTest, DefaultBudgetIsThreeQuartersOfPhysicalMemory) {
  auto store = MakeStore(nullptr, 0);
  EXPECT_EQ(store->memory_budget().limit(), DefaultMemoryBudgetBytes());
  EXPECT_EQ(store->memory_budget().used(), 0u);
  TableStore::Options o;
  o.max_tables = 0;
  EXPECT_EQ(TableStore::Create(o).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(TableStoreLimitsTest, NamesFollowTheSharedNameRule) {
  auto store = MakeStore(nullptr, 0);
  absl::Status s = store->CreateSparse(Sparse("my table", 4), false);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(),
            "sparse table name 'my table' may hold only letters, digits and "
            "_ . : / -");
  s = store->CreateDense(Dense(std::string(129, 'w'), 4), false);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "dense tensor name is 129 bytes; it must be 1 to 128");
  EXPECT_TRUE(store->List().empty());
  EXPECT_TRUE(store->CreateSparse(Sparse(std::string(128, 'e'), 4), false)
                  .ok());
  EXPECT_TRUE(store->CreateDense(Dense("job-1/conv_w0.b:2", 4), false).ok());
}

TEST(TableStoreLimitsTest, TableCountIsBounded) {
  auto store = LimitedStore(0, /*max_tables=*/3);
  ASSERT_TRUE(store->CreateSparse(Sparse("a", 4), false).ok());
  ASSERT_TRUE(store->CreateSparse(Sparse("b", 4), false).ok());
  ASSERT_TRUE(store->CreateDense(Dense("w", 4), false).ok());
  absl::Status s = store->CreateSparse(Sparse("c", 4), false);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(s.message(),
            "shard 0 holds 3 tables and dense tensors, its limit "
            "(--max_tables)");
  EXPECT_EQ(store->CreateDense(Dense("v", 4), false).code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(store->CreateSparse(Sparse("a", 4), true).ok())
      << "an idempotent create of an existing table still succeeds";
  EXPECT_EQ(store->List().size(), 3u);
  ASSERT_TRUE(store->Drop("b").ok());
  EXPECT_TRUE(store->CreateDense(Dense("v", 4), false).ok());
}

TEST(TableStoreLimitsTest, DenseTensorSizeIsBoundedByTheBudgetAndTheIndex) {
  // Values and Adam's two moments: 12 bytes an element.
  auto store = LimitedStore(1200 + 1188);
  ASSERT_TRUE(store->CreateDense(Dense("w", 100), false).ok());
  absl::Status s = store->CreateDense(Dense("v", 100), false);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(s.message(),
            "dense tensor v: 1200 bytes do not fit the shard's memory budget "
            "(1200 of 2388 bytes in use; --max_memory_bytes)");
  EXPECT_TRUE(store->CreateDense(Dense("v", 99), false).ok());
  s = store->CreateDense(Dense("huge", kMaxDenseSize + 1), false);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(),
            "dense tensor huge: size must be in [1, 1073741824], got "
            "1073741825");
  EXPECT_EQ(store->List().size(), 2u);
  EXPECT_EQ(store->memory_budget().used(), 2388u);
}

TEST(TableStoreLimitsTest, FullBudgetRefusesGrowthAndKeepsServing) {
  auto store = LimitedStore(10000);
  ASSERT_TRUE(store->CreateDense(Dense("w", 500), false).ok());  // 6000
  absl::Status s = store->CreateDense(Dense("v", 500), false);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(s.message(),
            "dense tensor v: 6000 bytes do not fit the shard's memory budget "
            "(6000 of 10000 bytes in use; --max_memory_bytes)");
  EXPECT_EQ(store->List().size(), 1u);

  // 74 bytes a row at dim 4 with SGD: 54 rows fit the 4000 left.
  ASSERT_TRUE(
      store->CreateSparse(Sparse("emb", 4, OptimizerConfig::SGD), false).ok());
  auto emb = *store->GetSparse("emb");
  std::vector<uint64_t> keys(50);
  for (uint64_t k = 0; k < keys.size(); ++k) keys[k] = k;
  ASSERT_TRUE(emb->Push(keys, std::vector<float>(200, 0.5f)).ok());
  EXPECT_EQ(store->memory_budget().used(), 6000u + 50 * 74);
  const Rows before = SnapshotSparse(*emb);
  const std::vector<uint64_t> fresh = {100, 101, 102, 103, 104};
  EXPECT_EQ(emb->Push(fresh, std::vector<float>(20, 1.f)).code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(SnapshotSparse(*emb), before);
  // Existing rows still train; read-only pulls of new keys still answer.
  ASSERT_TRUE(emb->Push(keys, std::vector<float>(200, 0.5f)).ok());
  std::vector<float> out(20);
  ASSERT_TRUE(emb->Pull(fresh, false, true, out.data()).ok());
  EXPECT_EQ(emb->rows(), 50u);

  // A dropped table gives its memory back once no request holds it.
  auto w = *store->GetDense("w");
  ASSERT_TRUE(store->Drop("w").ok());
  EXPECT_EQ(store->memory_budget().used(), 6000u + 50 * 74);
  w.reset();
  EXPECT_EQ(store->memory_budget().used(), 50u * 74);
  EXPECT_TRUE(emb->Push(fresh, std::vector<float>(20, 1.f)).ok());
  emb.reset();
  ASSERT_TRUE(store->Drop("emb").ok());
  EXPECT_EQ(store->memory_budget().used(), 0u);
}

// 3000 rows of dim 4 with Adam: 106 bytes a row.
void InsertThousandsOfRows(TableStore* store) {
  ASSERT_TRUE(store->CreateSparse(Sparse("emb", 4), false).ok());
  auto t = *store->GetSparse("emb");
  for (uint64_t i = 0; i < 3000; ++i) {
    std::vector<float> v(4, float(i % 12)), st(8, 0.5f);
    ASSERT_TRUE(t->InsertRow((uint64_t{1} << 56) | i, v, st, 3, 1).ok());
  }
}

TEST(TableStoreLimitsTest, CompressionMustFitNextToThePlainTable) {
  constexpr uint64_t kPlainBytes = 3000 * 106;
  auto tight = LimitedStore(kPlainBytes + 100);
  InsertThousandsOfRows(tight.get());
  ASSERT_EQ(tight->memory_budget().used(), kPlainBytes);
  const absl::Status s = tight->Compress("emb", TwelveClusters()).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  EXPECT_NE(s.message().find("compressing table emb: compressed table emb: "),
            std::string::npos)
      << s;
  EXPECT_NE(s.message().find("--max_memory_bytes"), std::string::npos) << s;
  ASSERT_TRUE(tight->GetSparse("emb").ok()) << "the plain table is kept";
  EXPECT_EQ((*tight->GetSparse("emb"))->rows(), 3000u);
  EXPECT_EQ(tight->memory_budget().used(), kPlainBytes);

  auto roomy = LimitedStore(2 * kPlainBytes);
  InsertThousandsOfRows(roomy.get());
  ASSERT_TRUE(roomy->Compress("emb", TwelveClusters()).ok());
  // Only the compressed table is charged now.
  const uint64_t used = roomy->memory_budget().used();
  EXPECT_EQ(used,
            static_cast<const CompressedTable&>(**roomy->GetEmbedding("emb"))
                .BudgetBytes());
  EXPECT_LT(used, kPlainBytes);
  ASSERT_TRUE(roomy->Drop("emb").ok());
  EXPECT_EQ(roomy->memory_budget().used(), 0u);
}

TEST(TableStoreLimitsTest, LoadMustFitTheBudgetNextToWhatItReplaces) {
  const std::string dir = TestDir();
  auto source = MakeStore(nullptr, 0);
  Populate(source.get());
  ASSERT_TRUE(source->Checkpoint(dir, 5).ok());
  const uint64_t needed = source->memory_budget().used();

  auto tight = LimitedStore(needed - 1);
  ASSERT_TRUE(tight->CreateSparse(Sparse("stale", 4), false).ok());
  absl::Status s = tight->Load(dir, 0).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  EXPECT_NE(s.message().find("checkpoint 5: "), std::string::npos) << s;
  ASSERT_EQ(tight->List().size(), 1u);
  EXPECT_EQ(tight->List()[0].name, "stale");
  EXPECT_EQ(tight->memory_budget().used(), 0u);

  auto few = LimitedStore(0, /*max_tables=*/3);
  s = few->Load(dir, 0).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  EXPECT_EQ(s.message(),
            "checkpoint 5 holds 4 tables and dense tensors for shard 0, more "
            "than its limit of 3 (--max_tables)");

  // At start-up a checkpoint that does not fit is skipped for an older one.
  auto small = MakeStore(nullptr, 0);
  ASSERT_TRUE(small->CreateDense(Dense("tiny", 2), false).ok());
  ASSERT_TRUE(small->Checkpoint(dir, 4).ok());
  auto starting = LimitedStore(needed - 1);
  absl::StatusOr<FallbackLoadInfo> fallback = starting->LoadNewestLoadable(dir);
  ASSERT_TRUE(fallback.ok()) << fallback.status();
  ASSERT_TRUE(fallback->loaded.has_value());
  EXPECT_EQ(fallback->loaded->checkpoint_id, 4u);
  ASSERT_EQ(fallback->skipped.size(), 1u);
  EXPECT_EQ(fallback->skipped[0].checkpoint_id, 5u);
  EXPECT_EQ(fallback->skipped[0].status.code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(starting->GetDense("tiny").ok());

  auto exact = LimitedStore(needed);
  ASSERT_TRUE(exact->Load(dir, 0).ok());
  EXPECT_EQ(exact->memory_budget().used(), needed);
  // The loaded tables carry their charge: growing is charged, dropping
  // releases.
  EXPECT_EQ((*exact->GetSparse("emb"))->Push({123456789}, {1, 1, 1, 1})
                .code(),
            absl::StatusCode::kResourceExhausted);
  for (const TableSummary& t : exact->List()) {
    ASSERT_TRUE(exact->Drop(t.name).ok());
  }
  EXPECT_EQ(exact->memory_budget().used(), 0u);
}

}  // namespace
}  // namespace strata
