#include "server/client/ps_admin_client.h"

#include <atomic>
#include <cstdlib>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "server/client/ps_client.h"
#include "server/ps/ps_server.h"
#include "server/ps/testing/local_shards.h"
#include "server/router/router.h"

namespace strata {
namespace {

// Port 1 on loopback refuses connections.
constexpr char kDeadAddress[] = "127.0.0.1:1";

std::string TempDir(const std::string& name) {
  const char* base = std::getenv("TEST_TMPDIR");
  const std::string dir = absl::StrCat(base ? base : "/tmp", "/", name);
  const std::string cmd = "rm -rf '" + dir + "' && mkdir -p '" + dir + "'";
  EXPECT_EQ(std::system(cmd.c_str()), 0);
  return dir;
}

TableConfig Table(const std::string& name) {
  TableConfig t;
  t.set_name(name);
  t.set_dim(2);
  t.mutable_optimizer()->set_type(OptimizerConfig::SGD);
  t.mutable_optimizer()->set_learning_rate(1.f);
  return t;
}

DenseConfig Dense(const std::string& name) {
  DenseConfig d;
  d.set_name(name);
  d.set_size(4);
  d.mutable_optimizer()->set_type(OptimizerConfig::SGD);
  d.mutable_optimizer()->set_learning_rate(1.f);
  return d;
}

class PsAdminClientTest : public ::testing::Test {
 protected:
  void Start(uint32_t n, const std::string& data_dir = "") {
    PsServerOptions o;
    o.data_dir = data_dir;
    auto shards = testing::LocalShards::Start(n, o);
    ASSERT_TRUE(shards.ok()) << shards.status();
    shards_ = std::move(*shards);
  }
  std::unique_ptr<PsAdminClient> Connect(std::vector<std::string> addresses,
                                         PsAdminClientOptions o = {}) {
    auto c = PsAdminClient::Connect(addresses, o);
    EXPECT_TRUE(c.ok()) << c.status();
    return std::move(*c);
  }
  std::unique_ptr<PsAdminClient> Connect() {
    return Connect(shards_->addresses());
  }
  std::unique_ptr<testing::LocalShards> shards_;
};

TEST_F(PsAdminClientTest, CreateTableAnswersOncePerShardInShardOrder) {
  Start(3);
  auto admin = Connect();
  const PerShard<CreateTableResponse> created =
      admin->CreateTable(Table("t"), false);
  ASSERT_EQ(created.size(), 3u);
  for (uint32_t s = 0; s < 3; ++s) {
    EXPECT_EQ(created[s].shard, s);
    EXPECT_EQ(created[s].address, shards_->addresses()[s]);
    EXPECT_TRUE(created[s].ok()) << created[s].status();
  }
  const PerShard<ListTablesResponse> lists = admin->ListTables();
  for (const auto& l : lists) {
    ASSERT_TRUE(l.ok()) << l.status();
    ASSERT_EQ(l.response->tables_size(), 1);
    EXPECT_EQ(l.response->shard_id(), l.shard);
  }
  // Again without if_not_exists: every shard says ALREADY_EXISTS.
  const PerShard<CreateTableResponse> again =
      admin->CreateTable(Table("t"), false);
  EXPECT_EQ(CountOk(again), 0u);
  EXPECT_EQ(AllOk(again).code(), absl::StatusCode::kAlreadyExists);
}

TEST_F(PsAdminClientTest, DenseTensorIsCreatedAndDroppedOnItsOwnShard) {
  Start(2);
  auto admin = Connect();
  const ShardResult<CreateTableResponse> created =
      admin->CreateDense(Dense("w"), false);
  ASSERT_TRUE(created.ok()) << created.status();
  const PerShard<ListTablesResponse> lists = admin->ListTables();
  for (const auto& l : lists) {
    ASSERT_TRUE(l.ok());
    EXPECT_EQ(l.response->tables_size(), l.shard == created.shard ? 1 : 0);
  }
  const PerShard<DropTableResponse> dropped = admin->DropTable("w");
  EXPECT_EQ(CountOk(dropped), 1u);
  EXPECT_TRUE(dropped[created.shard].ok());
  EXPECT_EQ(dropped[1 - created.shard].status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_TRUE(OkOnSomeShard(dropped).ok());
  EXPECT_EQ(OkOnSomeShard(admin->DropTable("w")).code(),
            absl::StatusCode::kNotFound);
}

TEST_F(PsAdminClientTest, DropTableRemovesSparseTablesFromEveryShard) {
  Start(2);
  auto admin = Connect();
  ASSERT_TRUE(AllOk(admin->CreateTable(Table("t"), false)).ok());
  EXPECT_TRUE(AllOk(admin->DropTable("t")).ok());
  EXPECT_EQ(OkOnSomeShard(admin->DropTable("t")).code(),
            absl::StatusCode::kNotFound);
  auto lists = RequireAllOk(admin->ListTables());
  ASSERT_TRUE(lists.ok()) << lists.status();
  for (const auto& l : *lists) EXPECT_EQ(l.tables_size(), 0);
}

TEST_F(PsAdminClientTest, AnUnreachableShardFailsAloneAndIsNamed) {
  Start(1);
  PsAdminClientOptions o;
  o.max_retries = 0;
  auto admin = Connect({shards_->addresses()[0], kDeadAddress}, o);
  const PerShard<ListTablesResponse> lists = admin->ListTables();
  ASSERT_EQ(lists.size(), 2u);
  EXPECT_TRUE(lists[0].ok()) << lists[0].status();
  EXPECT_EQ(lists[1].status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(lists[1].status().message().rfind(
                absl::StrCat("ps shard 1 ", kDeadAddress, " unreachable: "), 0),
            0u)
      << lists[1].status();
  EXPECT_EQ(AllOk(lists).code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(RequireAllOk(lists).status().code(),
            absl::StatusCode::kUnavailable);
}

TEST_F(PsAdminClientTest, ShardErrorsNameTheMethodAndTheShard) {
  Start(2, TempDir("admin_load_missing"));
  auto admin = Connect();
  const PerShard<LoadResponse> loaded = admin->Load(7);
  for (const auto& r : loaded) {
    EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound) << r.status();
    EXPECT_EQ(
        r.status().message().rfind(
            absl::StrCat("Load on ps shard ", r.shard, " ", r.address, ": "),
            0),
        0u)
        << r.status();
  }
}

TEST_F(PsAdminClientTest, CheckpointSharesOneIdAndLoadReadsItBack) {
  Start(2, TempDir("admin_checkpoint"));
  auto admin = Connect();
  ASSERT_TRUE(AllOk(admin->CreateTable(Table("t"), false)).ok());
  const PerShard<CheckpointResponse> written = admin->Checkpoint(0);
  ASSERT_TRUE(AllOk(written).ok()) << AllOk(written);
  const uint64_t id = written[0].response->checkpoint_id();
  EXPECT_GT(id, 1600000000000u);  // "now" in Unix ms
  EXPECT_EQ(written[1].response->checkpoint_id(), id);
  const PerShard<LoadResponse> loaded = admin->Load(0);
  ASSERT_TRUE(AllOk(loaded).ok()) << AllOk(loaded);
  EXPECT_TRUE(CheckSameCheckpoint(loaded).ok());
  for (const auto& r : loaded) {
    EXPECT_EQ(r.response->checkpoint_id(), id);
    EXPECT_EQ(r.response->written_by_num_shards(), 2u);
  }
}

TEST_F(PsAdminClientTest, CheckpointWithoutDataDirIsFailedPreconditionOnEach) {
  Start(2);
  const PerShard<CheckpointResponse> written = Connect()->Checkpoint(3);
  ASSERT_EQ(written.size(), 2u);
  for (const auto& r : written) {
    EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  }
}

// The first key >= `from` that the shards' router places on `shard`.
uint64_t KeyOnShard(uint32_t shard, uint32_t num_shards, uint64_t from) {
  std::unique_ptr<ShardRouter> router = MakeHashRouter(num_shards);
  while (router->ShardForKey(from) != shard) ++from;
  return from;
}

TEST_F(PsAdminClientTest, ConsistentCheckpointIsAPrefixConsistentCut) {
  Start(2, TempDir("admin_consistent"));
  auto admin = Connect();
  ASSERT_TRUE(AllOk(admin->CreateTable(Table("t"), false)).ok());
  // A client adds 1 to key a (shard 0), then to key b (shard 1), in order,
  // while checkpoints are cut: no checkpoint may hold b's n-th push without
  // a's n-th.
  const std::vector<uint64_t> a = {KeyOnShard(0, 2, 1)};
  const std::vector<uint64_t> b = {KeyOnShard(1, 2, 1)};
  PsClient* client = shards_->client();
  std::atomic<bool> stop{false};
  std::atomic<int> pushes{0};
  std::thread pusher([&] {
    const std::vector<float> minus_one = {-1, -1};  // SGD lr 1: +1
    while (!stop.load()) {
      ASSERT_TRUE(client->Push("t", a, minus_one, 2).ok());
      ASSERT_TRUE(client->Push("t", b, minus_one, 2).ok());
      ++pushes;
    }
  });
  constexpr uint64_t kCuts = 5;
  for (uint64_t id = 1; id <= kCuts; ++id) {
    while (pushes.load() < static_cast<int>(id) * 20) std::this_thread::yield();
    const PerShard<CheckpointResponse> cut = admin->ConsistentCheckpoint(id);
    ASSERT_TRUE(AllOk(cut).ok()) << AllOk(cut);
  }
  stop = true;
  pusher.join();
  for (uint64_t id = 1; id <= kCuts; ++id) {
    ASSERT_TRUE(AllOk(admin->Load(id)).ok());
    std::vector<float> va(2), vb(2);
    ASSERT_TRUE(client->Pull("t", a, 2, va.data()).ok());
    ASSERT_TRUE(client->Pull("t", b, 2, vb.data()).ok());
    EXPECT_GE(va[0], vb[0])
        << "checkpoint " << id << " holds b's push " << vb[0] << " without a's";
    EXPECT_LE(va[0], vb[0] + 1) << "checkpoint " << id;
    EXPECT_GE(vb[0], 20 * id - 1) << "checkpoint " << id;
  }
}

TEST_F(PsAdminClientTest, ConsistentCheckpointWritesNothingUnlessAllPause) {
  const std::string dir = TempDir("admin_consistent_refused");
  Start(2, dir);
  PsAdminClientOptions o;
  o.push_pause_lease = absl::Seconds(61);  // more than a shard grants
  auto admin = Connect(shards_->addresses(), o);
  const PerShard<CheckpointResponse> cut = admin->ConsistentCheckpoint(9);
  ASSERT_EQ(cut.size(), 2u);
  for (const auto& r : cut) {
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument)
        << r.status();
  }
  EXPECT_EQ(shards_->server(0)->store()->push_gate().paused(), false);
  EXPECT_EQ(AllOk(admin->Load(9)).code(), absl::StatusCode::kNotFound);
}

TEST_F(PsAdminClientTest, PausedShardsHoldPushesUntilResumed) {
  Start(2);
  auto admin = Connect();
  ASSERT_TRUE(AllOk(admin->CreateTable(Table("t"), false)).ok());
  const PerShard<PausePushesResponse> paused =
      admin->PausePushes(true, absl::Seconds(30));
  ASSERT_TRUE(AllOk(paused).ok()) << AllOk(paused);
  std::atomic<bool> pushed{false};
  std::thread pusher([&] {
    const std::vector<uint64_t> keys = {1, 2, 3, 4};
    EXPECT_TRUE(
        shards_->client()->Push("t", keys, std::vector<float>(8, 1), 2).ok());
    pushed = true;
  });
  absl::SleepFor(absl::Milliseconds(100));
  EXPECT_FALSE(pushed.load()) << "a paused shard holds the push";
  ASSERT_TRUE(AllOk(admin->PausePushes(false, absl::ZeroDuration())).ok());
  pusher.join();
  EXPECT_TRUE(pushed.load());
}

TEST(CheckSameCheckpointTest, NamesEachIdAndItsShardsIgnoringFailures) {
  PerShard<LoadResponse> results(3);
  for (uint32_t s = 0; s < 3; ++s) {
    results[s].shard = s;
    results[s].response = LoadResponse();
    results[s].response->set_checkpoint_id(s == 1 ? 6 : 5);
  }
  const absl::Status s = CheckSameCheckpoint(results);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(s.message(),
            "the shards loaded different checkpoints (checkpoint 5 on "
            "shard(s) 0,2; checkpoint 6 on shard(s) 1)");
  results[1].response = absl::NotFoundError("gone");
  EXPECT_TRUE(CheckSameCheckpoint(results).ok());
}

TEST_F(PsAdminClientTest, CompressionStatsWithoutCompressedTablesAreEmpty) {
  Start(2);
  auto admin = Connect();
  auto stats = RequireAllOk(admin->CompressionStats(""));
  ASSERT_TRUE(stats.ok()) << stats.status();
  ASSERT_EQ(stats->size(), 2u);
  for (const auto& s : *stats) EXPECT_EQ(s.fields_size(), 0);
  EXPECT_EQ(AllOk(admin->Compress("nope", SaecConfig())).code(),
            absl::StatusCode::kNotFound);
}

TEST_F(PsAdminClientTest, CallsAreSafeFromManyThreads) {
  Start(2);
  auto admin = Connect();
  std::vector<std::thread> threads;
  std::vector<absl::Status> results(8);
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      results[i] =
          AllOk(admin->CreateTable(Table(absl::StrCat("t", i)), false));
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& s : results) EXPECT_TRUE(s.ok()) << s;
  auto lists = RequireAllOk(admin->ListTables());
  ASSERT_TRUE(lists.ok());
  for (const auto& l : *lists) EXPECT_EQ(l.tables_size(), 8);
}

TEST(PsAdminClientConnectTest, RejectsBadShardLists) {
  EXPECT_EQ(PsAdminClient::Connect({}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PsAdminClient::Connect({"a:1", ""}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      PsAdminClient::Connect({"a:1"}, {}, MakeHashRouter(2)).status().code(),
      absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace strata
