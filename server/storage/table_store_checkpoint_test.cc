// TableStore's numerics and checkpoint policies end to end: the gradient
// bound and saturation per optimizer and table kind, falling back past
// unloadable checkpoints at start-up, retention and the push windows
// (docs/checkpoint.md).
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/router/router.h"
#include "server/storage/checkpoint_filename.h"
#include "server/storage/table_store.h"
#include "server/util/env.h"

namespace strata {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr uint32_t kDim = 4;

std::string TestDir() {
  const ::testing::TestInfo* info =
      ::testing::UnitTest::GetInstance()->current_test_info();
  const std::string dir = JoinPath(
      ::testing::TempDir(), absl::StrCat("table_store_ckpt_", info->name()));
  EXPECT_TRUE(DefaultEnv()->CreateDir(dir).ok());
  return dir;
}

std::unique_ptr<TableStore> MakeStore(
    uint32_t keep = kDefaultKeepCheckpoints,
    float max_abs_gradient = kDefaultMaxAbsGradient) {
  TableStore::Options o;
  o.keep_checkpoints = keep;
  o.max_abs_gradient = max_abs_gradient;
  auto store = TableStore::Create(o);
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? *std::move(store) : nullptr;
}

OptimizerConfig Optimizer(OptimizerConfig::Type type, float lr, float wd) {
  OptimizerConfig c;
  c.set_type(type);
  c.set_learning_rate(lr);
  c.set_weight_decay(wd);
  return c;
}

// Sparse table "emb" and dense tensor "w" with optimizer `opt`, plus
// compressed table "cmp" (200 features of field 1 in 4 clusters).
void Populate(TableStore* store, const OptimizerConfig& opt) {
  TableConfig t;
  t.set_name("emb");
  t.set_dim(kDim);
  *t.mutable_optimizer() = opt;
  ASSERT_TRUE(store->CreateSparse(t, false).ok());
  DenseConfig d;
  d.set_name("w");
  d.set_size(kDim);
  *d.mutable_optimizer() = opt;
  ASSERT_TRUE(store->CreateDense(d, false).ok());
  t.set_name("cmp");
  ASSERT_TRUE(store->CreateSparse(t, false).ok());
  auto cmp = *store->GetSparse("cmp");
  for (uint64_t i = 0; i < 200; ++i) {
    const std::vector<float> v(kDim, static_cast<float>(i % 4));
    ASSERT_TRUE(cmp->InsertRow((uint64_t{1} << 56) | i, v,
                               std::vector<float>(cmp->state_floats_per_row()),
                               0, 1)
                    .ok());
  }
  SaecConfig saec;
  saec.set_clusters(4);
  saec.set_min_features(100);
  ASSERT_TRUE(store->Compress("cmp", saec).ok());
}

// Every float the store holds for "emb", "w" and "cmp" (values and
// optimizer state, in a fixed order), read through the checkpoint visitors.
std::vector<float> Everything(TableStore* store) {
  std::vector<float> out;
  (*store->GetSparse("emb"))
      ->ForEachRow(
          [&](uint64_t key, const float* v, const float* s, int64_t, uint64_t) {
            out.push_back(static_cast<float>(key));
            out.insert(out.end(), v, v + kDim);
            out.insert(out.end(), s,
                       s + (*store->GetSparse("emb"))->state_floats_per_row());
          });
  (*store->GetDense("w"))
      ->Visit(
          [&](absl::Span<const float> v, absl::Span<const float> s, int64_t) {
            out.insert(out.end(), v.begin(), v.end());
            out.insert(out.end(), s.begin(), s.end());
          });
  for (const TableSummary& t : store->List()) {
    if (!t.compressed) continue;
    for (uint64_t i = 0; i < 200; i += 50) {
      const uint64_t key = (uint64_t{1} << 56) | i;
      float v[kDim];
      EXPECT_TRUE(
          (*store->GetEmbedding(t.name))->Pull({&key, 1}, false, true, v).ok());
      out.insert(out.end(), v, v + kDim);
    }
  }
  return out;
}

bool AllFinite(const std::vector<float>& v) {
  for (float x : v) {
    if (!std::isfinite(x)) return false;
  }
  return true;
}

const OptimizerConfig::Type kTypes[] = {
    OptimizerConfig::SGD, OptimizerConfig::ADAGRAD, OptimizerConfig::ADAM};

TEST(TableStoreNumericsTest, PushBeyondTheBoundIsRejectedAndChangesNothing) {
  for (OptimizerConfig::Type type : kTypes) {
    SCOPED_TRACE(OptimizerConfig::Type_Name(type));
    auto store = MakeStore();
    Populate(store.get(), Optimizer(type, 0.1f, 0.0f));
    std::vector<float> grads(2 * kDim, 0.5f);
    ASSERT_TRUE((*store->GetSparse("emb"))->Push({7}, {1, 1, 1, 1}).ok());
    const std::vector<float> before = Everything(store.get());
    grads[5] = 1e20f;

    absl::Status s = (*store->GetSparse("emb"))->Push({7, 8}, grads);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(s.message(), HasSubstr("table emb: gradient 5 is 1e+20, "
                                       "beyond the bound of 1e+15 "
                                       "(--max_abs_gradient)"));
    const uint64_t keys[] = {(uint64_t{1} << 56) | 3, (uint64_t{1} << 56) | 9};
    s = (*store->GetEmbedding("cmp"))->Push(keys, grads);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(s.message(), HasSubstr("table cmp: gradient 5 is 1e+20"));
    s = (*store->GetDense("w"))->Push({0.f, -1e20f, 0.f, 0.f}, 0, 0).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(s.message(), HasSubstr("dense tensor w: gradient 1 is -1e+20"));

    EXPECT_EQ(Everything(store.get()), before) << "nothing changed";
    EXPECT_EQ((*store->GetSparse("emb"))->rows(), 1u) << "key 8 not created";
  }
}

TEST(TableStoreNumericsTest,
     PushesAtTheBoundStayFiniteAndCheckpointRoundTrips) {
  const float b = kDefaultMaxAbsGradient;
  for (OptimizerConfig::Type type : kTypes) {
    // The harshest legal config: huge learning rate and weight decay.
    SCOPED_TRACE(OptimizerConfig::Type_Name(type));
    auto store = MakeStore();
    Populate(store.get(), Optimizer(type, 1e30f, 1e30f));
    const uint64_t cmp_keys[] = {(uint64_t{1} << 56) | 1,
                                 (uint64_t{1} << 56) | 2};
    for (int i = 0; i < 2000; ++i) {
      const float g = i % 3 == 0 ? -b : b;
      const std::vector<float> grads = {g, -g, g, b, g, g, -g, -b};
      ASSERT_TRUE((*store->GetSparse("emb"))->Push({1, 2}, grads).ok());
      ASSERT_TRUE((*store->GetEmbedding("cmp"))->Push(cmp_keys, grads).ok());
      ASSERT_TRUE((*store->GetDense("w"))->Push({g, -g, b, -b}, 0, 0).ok());
    }
    const std::vector<float> trained = Everything(store.get());
    ASSERT_TRUE(AllFinite(trained));

    const std::string dir =
        JoinPath(TestDir(), OptimizerConfig::Type_Name(type));
    absl::StatusOr<CheckpointInfo> info = store->Checkpoint(dir, 1);
    ASSERT_TRUE(info.ok()) << info.status();
    auto restored = MakeStore();
    absl::StatusOr<LoadInfo> load = restored->Load(dir, 0);
    ASSERT_TRUE(load.ok()) << load.status();
    EXPECT_EQ(Everything(restored.get()), trained);
  }
}

TEST(TableStoreNumericsTest, TheBoundIsAnOption) {
  auto store = MakeStore(kDefaultKeepCheckpoints, /*max_abs_gradient=*/10.0f);
  Populate(store.get(), Optimizer(OptimizerConfig::SGD, 0.1f, 0.0f));
  auto emb = *store->GetSparse("emb");
  EXPECT_TRUE(emb->Push({1}, {10, -10, 0, 1}).ok());
  EXPECT_EQ(emb->Push({1}, {10.5f, 0, 0, 0}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*store->GetDense("w"))->Push({0, 0, 11, 0}, 0, 0).status().code(),
            absl::StatusCode::kInvalidArgument);
  TableStore::Options bad;
  bad.max_abs_gradient = 0;
  const absl::Status s = TableStore::Create(bad).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("--max_abs_gradient"));
}

// Flips one byte in the middle of checkpoint `id`'s (single) shard file.
void Corrupt(const std::string& dir, uint64_t id) {
  const std::string path =
      JoinPath(JoinPath(dir, CheckpointDirName(id)), ShardFileName(0, 1));
  std::string bytes = *DefaultEnv()->ReadFileToString(path);
  bytes[bytes.size() / 2] ^= 0x20;
  auto f = DefaultEnv()->NewWritableFile(path);
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE((*f)->Append(bytes).ok());
  ASSERT_TRUE((*f)->Close().ok());
}

// Replaces checkpoint `id`'s shard file by a directory: listed as complete,
// but it cannot be read.
void MakeUnreadable(const std::string& dir, uint64_t id) {
  const std::string path =
      JoinPath(JoinPath(dir, CheckpointDirName(id)), ShardFileName(0, 1));
  ASSERT_TRUE(DefaultEnv()->DeleteFile(path).ok());
  ASSERT_TRUE(DefaultEnv()->CreateDir(path).ok());
}

TEST(TableStoreFallbackTest, StartUpFallsBackPastACorruptNewestCheckpoint) {
  const std::string dir = TestDir();
  auto store = MakeStore(/*keep=*/0);
  Populate(store.get(), Optimizer(OptimizerConfig::ADAGRAD, 0.1f, 0.0f));
  auto emb = *store->GetSparse("emb");
  ASSERT_TRUE(emb->Push({1}, {1, 2, 3, 4}).ok());
  ASSERT_TRUE(store->Checkpoint(dir, 2).ok());
  const std::vector<float> at_2 = Everything(store.get());
  ASSERT_TRUE(emb->Push({1}, {1, 2, 3, 4}).ok());
  ASSERT_TRUE(store->Checkpoint(dir, 3).ok());
  Corrupt(dir, 3);
  // Newer still, but incomplete: skipped silently, as Load(dir, 0) does.
  ASSERT_TRUE(
      DefaultEnv()->CreateDir(JoinPath(dir, CheckpointDirName(4))).ok());

  auto restarted = MakeStore(/*keep=*/1);
  absl::StatusOr<FallbackLoadInfo> load = restarted->LoadNewestLoadable(dir);
  ASSERT_TRUE(load.ok()) << load.status();
  ASSERT_TRUE(load->loaded.has_value());
  EXPECT_EQ(load->loaded->checkpoint_id, 2u);
  ASSERT_EQ(load->skipped.size(), 1u);
  EXPECT_EQ(load->skipped[0].checkpoint_id, 3u);
  EXPECT_EQ(load->skipped[0].status.code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(Everything(restarted.get()), at_2);
  CheckpointLedger::Counters c = restarted->checkpoint_counters();
  EXPECT_EQ(c.loaded_checkpoint_id, 2u);
  EXPECT_EQ(c.load_fallbacks, 1u);

  // The unloadable checkpoint is neither overwritten nor pruned.
  const std::string path3 =
      JoinPath(JoinPath(dir, CheckpointDirName(3)), ShardFileName(0, 1));
  const std::string corrupt = *DefaultEnv()->ReadFileToString(path3);
  const absl::Status s = restarted->Checkpoint(dir, 3).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("checkpoint 3 could not be loaded"));
  EXPECT_EQ(*DefaultEnv()->ReadFileToString(path3), corrupt);
  absl::StatusOr<CheckpointInfo> next = restarted->Checkpoint(dir, 5);
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_TRUE(next->pruned.empty()) << "2 was loaded, 3 is unloadable";
  EXPECT_EQ(*DefaultEnv()->ReadFileToString(path3), corrupt);
  EXPECT_TRUE(restarted->Load(dir, 2).ok());
  // Plain Load keeps refusing to fall back silently.
  EXPECT_EQ(restarted->Load(dir, 3).status().code(),
            absl::StatusCode::kDataLoss);
}

TEST(TableStoreFallbackTest, WithNoLoadableCheckpointTheStoreStartsEmpty) {
  const std::string dir = TestDir();
  auto store = MakeStore(/*keep=*/0);
  Populate(store.get(), Optimizer(OptimizerConfig::SGD, 0.1f, 0.0f));
  ASSERT_TRUE(store->Checkpoint(dir, 1).ok());
  ASSERT_TRUE(store->Checkpoint(dir, 2).ok());
  Corrupt(dir, 1);
  MakeUnreadable(dir, 2);

  auto restarted = MakeStore(/*keep=*/1);
  absl::StatusOr<FallbackLoadInfo> load = restarted->LoadNewestLoadable(dir);
  ASSERT_TRUE(load.ok()) << load.status();
  EXPECT_FALSE(load->loaded.has_value());
  ASSERT_EQ(load->skipped.size(), 2u);
  EXPECT_EQ(load->skipped[0].checkpoint_id, 2u);
  EXPECT_EQ(load->skipped[0].status.code(), absl::StatusCode::kInternal)
      << load->skipped[0].status;
  EXPECT_EQ(load->skipped[1].status.code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(restarted->List().empty());
  EXPECT_EQ(restarted->checkpoint_counters().load_fallbacks, 2u);
  EXPECT_EQ(restarted->checkpoint_counters().loaded_checkpoint_id, 0u);
  // It serves and checkpoints; the unloadable ones stay.
  Populate(restarted.get(), Optimizer(OptimizerConfig::SGD, 0.1f, 0.0f));
  absl::StatusOr<CheckpointInfo> next = restarted->Checkpoint(dir, 3);
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_TRUE(next->pruned.empty());
  EXPECT_TRUE(
      DefaultEnv()->FileExists(JoinPath(dir, CheckpointDirName(1))).ok());
  EXPECT_TRUE(
      DefaultEnv()->FileExists(JoinPath(dir, CheckpointDirName(2))).ok());
}

TEST(TableStoreFallbackTest, AMissingDirectoryLoadsNothing) {
  auto store = MakeStore();
  absl::StatusOr<FallbackLoadInfo> load =
      store->LoadNewestLoadable(JoinPath(TestDir(), "missing"));
  ASSERT_TRUE(load.ok()) << load.status();
  EXPECT_FALSE(load->loaded.has_value());
  EXPECT_TRUE(load->skipped.empty());
  EXPECT_EQ(store->checkpoint_counters().load_fallbacks, 0u);
}

TEST(TableStoreRetentionTest, CheckpointKeepsTheNewestFiveByDefault) {
  const std::string dir = TestDir();
  auto store = MakeStore();
  Populate(store.get(), Optimizer(OptimizerConfig::SGD, 0.1f, 0.0f));
  std::vector<uint64_t> pruned;
  for (uint64_t id = 1; id <= 7; ++id) {
    absl::StatusOr<CheckpointInfo> info = store->Checkpoint(dir, id);
    ASSERT_TRUE(info.ok()) << info.status();
    pruned.insert(pruned.end(), info->pruned.begin(), info->pruned.end());
  }
  EXPECT_THAT(pruned, ElementsAre(1, 2));
  auto left = ListCheckpoints(DefaultEnv(), dir);
  ASSERT_TRUE(left.ok());
  ASSERT_EQ(left->size(), 5u);
  EXPECT_EQ(left->back().checkpoint_id, 3u);
  EXPECT_EQ(store->checkpoint_counters().pruned, 2u);
  // 0 keeps everything.
  auto keep_all = MakeStore(/*keep=*/0);
  Populate(keep_all.get(), Optimizer(OptimizerConfig::SGD, 0.1f, 0.0f));
  for (uint64_t id = 8; id <= 14; ++id) {
    ASSERT_TRUE(keep_all->Checkpoint(dir, id).ok());
  }
  EXPECT_EQ(ListCheckpoints(DefaultEnv(), dir)->size(), 12u);
}

// Found by ps_service_fuzz (its corpus keeps the input,
// checkpoint_older_than_kept): a checkpoint whose id is older than the
// kept ones was deleted by its own retention pass, so Checkpoint answered OK
// for a checkpoint that no longer existed.
TEST(TableStoreRetentionTest, ACheckpointOlderThanTheKeptOnesSurvivesItsWrite) {
  const std::string dir = TestDir();
  auto store = MakeStore(/*keep=*/2);
  Populate(store.get(), Optimizer(OptimizerConfig::SGD, 0.1f, 0.0f));
  ASSERT_TRUE(store->Checkpoint(dir, 5).ok());
  ASSERT_TRUE(store->Checkpoint(dir, 6).ok());
  absl::StatusOr<CheckpointInfo> old = store->Checkpoint(dir, 2);
  ASSERT_TRUE(old.ok()) << old.status();
  EXPECT_TRUE(old->pruned.empty());
  absl::StatusOr<LoadInfo> loaded = MakeStore()->Load(dir, 2);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->checkpoint_id, 2u);
  // The next checkpoint prunes it with the others beyond the newest two.
  absl::StatusOr<CheckpointInfo> next = store->Checkpoint(dir, 7);
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_THAT(next->pruned, ElementsAre(2, 5));
}

// Shard `shard` of `n` (over `router`) with sparse table "emb" (dim 1, SGD
// learning rate 1, zeros).
std::unique_ptr<TableStore> PushStore(uint32_t shard, uint32_t n,
                                      const ShardRouter* router) {
  TableStore::Options o;
  o.shard_id = shard;
  o.num_shards = n;
  o.router = router;
  auto store = TableStore::Create(o);
  EXPECT_TRUE(store.ok()) << store.status();
  TableConfig t;
  t.set_name("emb");
  t.set_dim(1);
  t.mutable_optimizer()->set_learning_rate(1.0f);
  EXPECT_TRUE((*store)->CreateSparse(t, false).ok());
  return *std::move(store);
}

// Pushes gradient 1 to `key` of "emb" once per `id`, as the embedding
// service does.
absl::StatusOr<PushDedup::Outcome> PushOnce(TableStore* store, PushId id,
                                            uint64_t key) {
  auto table = store->GetEmbedding("emb");
  if (!table.ok()) return table.status();
  const uint64_t keys[] = {key};
  const float grads[] = {1.0f};
  return store->push_dedup().ApplyOnce(
      id, true, [&] { return (*table)->Push(keys, grads); });
}

float Value(TableStore* store, uint64_t key) {
  float v = 0;
  const uint64_t keys[] = {key};
  EXPECT_TRUE((*store->GetEmbedding("emb"))->Pull(keys, false, true, &v).ok());
  return v;
}

TEST(TableStorePushWindowsTest, ALoadedCheckpointKnowsThePushesItHolds) {
  const std::string dir = TestDir();
  auto store = PushStore(0, 1, nullptr);
  ASSERT_TRUE(PushOnce(store.get(), {5, 1}, 7).ok());
  absl::StatusOr<CheckpointInfo> info = store->Checkpoint(dir, 1);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->push_windows, 1u);
  // A restarted shard: the retry of the checkpointed push is answered, not
  // applied; a new push applies.
  auto restarted = PushStore(0, 1, nullptr);
  absl::StatusOr<LoadInfo> load = restarted->Load(dir, 0);
  ASSERT_TRUE(load.ok()) << load.status();
  EXPECT_EQ(load->push_windows, 1u);
  EXPECT_EQ(*PushOnce(restarted.get(), {5, 1}, 7),
            PushDedup::Outcome::kDuplicate);
  EXPECT_EQ(Value(restarted.get(), 7), -1.0f);
  EXPECT_EQ(*PushOnce(restarted.get(), {5, 2}, 7),
            PushDedup::Outcome::kApplied);
  EXPECT_EQ(Value(restarted.get(), 7), -2.0f);
}

TEST(TableStorePushWindowsTest, ALoadReplacesTheWindowsWithTheCheckpoints) {
  const std::string dir = TestDir();
  auto store = PushStore(0, 1, nullptr);
  ASSERT_TRUE(store->Checkpoint(dir, 1).ok());  // no push yet
  ASSERT_TRUE(PushOnce(store.get(), {5, 1}, 7).ok());
  ASSERT_TRUE(store->Load(dir, 1).ok());  // back to before the push
  EXPECT_EQ(Value(store.get(), 7), 0.0f);
  EXPECT_EQ(*PushOnce(store.get(), {5, 1}, 7), PushDedup::Outcome::kApplied);
  EXPECT_EQ(Value(store.get(), 7), -1.0f);
}

TEST(TableStorePushWindowsTest, OnlyTheSameShardLayoutLoadsTheWindows) {
  const std::string dir = TestDir();
  const std::unique_ptr<ShardRouter> two = MakeHashRouter(2);
  // Key 7's shard gets client 5's push, the other shard client 6's.
  const uint32_t owner = two->ShardForKey(7);
  uint64_t other_key = 8;
  while (two->ShardForKey(other_key) == owner) ++other_key;
  for (uint32_t s = 0; s < 2; ++s) {
    auto store = PushStore(s, 2, two.get());
    if (s == owner) {
      ASSERT_TRUE(PushOnce(store.get(), {5, 1}, 7).ok());
    } else {
      ASSERT_TRUE(PushOnce(store.get(), {6, 1}, other_key).ok());
    }
    ASSERT_TRUE(store->Checkpoint(dir, 1).ok());
  }
  auto same = PushStore(owner, 2, two.get());
  ASSERT_EQ(same->Load(dir, 1)->push_windows, 1u);
  EXPECT_EQ(*PushOnce(same.get(), {5, 1}, 7), PushDedup::Outcome::kDuplicate);
  // Resharded: sequences count per shard, so no window is carried over.
  auto one = PushStore(0, 1, nullptr);
  ASSERT_EQ(one->Load(dir, 1)->push_windows, 0u);
  EXPECT_EQ(*PushOnce(one.get(), {5, 1}, 7), PushDedup::Outcome::kApplied);
  EXPECT_EQ(Value(one.get(), 7), -2.0f);
}

// A store whose update count lives in `dir` (as ps_server keeps it).
std::unique_ptr<TableStore> CountingStore(const std::string& dir) {
  TableStore::Options o;
  o.update_count_path = JoinPath(dir, UpdateCountFileName(0, 1));
  auto store = TableStore::Create(o);
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? *std::move(store) : nullptr;
}

TEST(TableStoreUpdatesTest, ARestartCountsTheUpdatesItsCheckpointLacks) {
  const std::string dir = TestDir();
  {
    auto store = CountingStore(dir);
    Populate(store.get(), Optimizer(OptimizerConfig::SGD, 0.1f, 0));
    store->updates().Add(40);
    ASSERT_TRUE(store->Checkpoint(dir, 5).ok());
    store->updates().Add(7);
    ASSERT_TRUE(store->updates().Persist().ok());
  }  // killed: what it applied after checkpoint 5 is gone
  auto restarted = CountingStore(dir);
  absl::StatusOr<FallbackLoadInfo> load = restarted->LoadNewestLoadable(dir);
  ASSERT_TRUE(load.ok() && load->loaded.has_value()) << load.status();
  absl::StatusOr<std::optional<uint64_t>> lost =
      restarted->updates().Recover(load->loaded->checkpoint_id);
  ASSERT_TRUE(lost.ok()) << lost.status();
  EXPECT_EQ(*lost, std::optional<uint64_t>(7));
  ListTablesResponse list;
  restarted->List(&list);
  EXPECT_TRUE(list.updates_lost().has_at_start());
  EXPECT_EQ(list.updates_lost().at_start(), 7u);
  EXPECT_EQ(list.updates_lost().loaded_checkpoint_id(), 5u);
}

TEST(TableStoreUpdatesTest, ALoadedBspTensorResyncsAndListCountsItsSkips) {
  const std::string dir = TestDir();
  auto store = MakeStore();
  DenseConfig d;
  d.set_name("bsp");
  d.set_size(2);
  d.set_sync(BSP);
  d.set_num_workers(2);
  *d.mutable_optimizer() = Optimizer(OptimizerConfig::SGD, 0.1f, 0);
  ASSERT_TRUE(store->CreateDense(d, false).ok());
  ASSERT_TRUE(store->Checkpoint(dir, 3).ok());
  ASSERT_TRUE(store->Load(dir, 3).ok());
  std::shared_ptr<DenseTable> t = *store->GetDense("bsp");
  EXPECT_TRUE(t->resyncing());
  ASSERT_TRUE(t->Push({1, 1}, 4, 0).ok());  // the workers are at step 4
  ListTablesResponse list;
  store->List(&list);
  EXPECT_FALSE(list.updates_lost().has_at_start()) << "no restart counted";
  EXPECT_EQ(list.updates_lost().loaded_checkpoint_id(), 3u);
  EXPECT_EQ(list.updates_lost().bsp_steps_skipped(), 4u);
  EXPECT_EQ(list.updates_lost().bsp_pushes_dropped(), 0u);
}

}  // namespace
}  // namespace strata
