#include "server/client/ps_client.h"

#include <atomic>
#include <numeric>
#include <random>
#include <thread>

#include "gtest/gtest.h"
#include "server/ps/testing/local_shards.h"

namespace strata {
namespace {

class PsClientTest : public ::testing::Test {
 protected:
  void StartShards(uint32_t n) {
    auto shards = testing::LocalShards::Start(n);
    ASSERT_TRUE(shards.ok()) << shards.status();
    shards_ = std::move(*shards);
  }
  // A client of its own (the tests vary its options).
  std::unique_ptr<PsClient> Connect(PsClientOptions o = {}) {
    auto c = PsClient::Connect(shards_->addresses(), o);
    EXPECT_TRUE(c.ok()) << c.status();
    return std::move(*c);
  }
  std::unique_ptr<testing::LocalShards> shards_;
};

TableConfig Table(uint32_t dim) {
  TableConfig t;
  t.set_name("t");
  t.set_dim(dim);
  t.mutable_optimizer()->set_type(OptimizerConfig::SGD);
  t.mutable_optimizer()->set_learning_rate(1.f);
  return t;
}

TEST_F(PsClientTest, SplitsBatchesLargerThanTheRequestLimitAndKeepsOrder) {
  StartShards(3);
  PsClientOptions o;
  o.max_keys_per_request = 7;  // forces several requests per shard
  auto client = Connect(o);
  ASSERT_TRUE(AllOk(client->admin().CreateTable(Table(3), false)).ok());
  std::vector<uint64_t> keys(500);
  std::iota(keys.begin(), keys.end(), 1000);
  std::shuffle(keys.begin(), keys.end(), std::mt19937_64(1));
  std::vector<float> grads(keys.size() * 3);
  for (size_t i = 0; i < keys.size(); ++i) {
    for (int d = 0; d < 3; ++d) grads[i * 3 + d] = -float(keys[i] * 10 + d);
  }
  ASSERT_TRUE(client->Push("t", keys, grads, 3).ok());
  // Pull in another order, with duplicates, through the same small limit.
  std::vector<uint64_t> q = {1499, 1000, 1250, 1000, 1499};
  std::vector<float> out(q.size() * 3);
  ASSERT_TRUE(client->Pull("t", q, 3, out.data()).ok());
  for (size_t i = 0; i < q.size(); ++i) {
    for (int d = 0; d < 3; ++d) EXPECT_EQ(out[i * 3 + d], q[i] * 10 + d);
  }
}

// A push of distinct keys in no order goes out in pieces of each shard's
// list, sent as they are gathered (here 500 keys over 3 shards in pieces of
// 5 to 7 keys); a batch with
// duplicates is summed into whole requests first. Either way every key's
// gradient is applied exactly once, to its own row.
TEST_F(PsClientTest, PushInPiecesAppliesEveryKeyOnce) {
  StartShards(3);
  PsClientOptions o;
  o.push_pieces = 40;
  o.min_push_piece_keys = 5;
  o.max_keys_per_request = 7;
  auto client = Connect(o);
  ASSERT_TRUE(AllOk(client->admin().CreateTable(Table(2), false)).ok());
  std::vector<uint64_t> keys(500);
  std::iota(keys.begin(), keys.end(), 7000);
  std::shuffle(keys.begin(), keys.end(), std::mt19937_64(3));
  std::vector<float> grads(keys.size() * 2);
  for (size_t i = 0; i < keys.size(); ++i) {
    grads[i * 2] = float(keys[i]);
    grads[i * 2 + 1] = 0.5f;
  }
  ASSERT_TRUE(client->Push("t", keys, grads, 2).ok());
  // Duplicates: 7000 three times, 7499 twice.
  std::vector<uint64_t> dup = {7000, 7499, 7000, 7000, 7499};
  ASSERT_TRUE(client->Push("t", dup, std::vector<float>(10, 1.f), 2).ok());
  std::vector<float> out(keys.size() * 2);
  ASSERT_TRUE(client->Pull("t", keys, 2, out.data()).ok());
  for (size_t i = 0; i < keys.size(); ++i) {
    const float extra = keys[i] == 7000 ? 3 : keys[i] == 7499 ? 2 : 0;
    EXPECT_EQ(out[i * 2], -float(keys[i]) - extra) << keys[i];
    EXPECT_EQ(out[i * 2 + 1], -0.5f - extra) << keys[i];
  }
}

// 500 strictly increasing keys from 7000; with `one_shard_per_part` the
// four parts of 125 a push splits them into hold keys of one shard each
// (shard 0, 1, 0, 1 under the default router).
std::vector<uint64_t> SortedKeys(bool one_shard_per_part) {
  std::vector<uint64_t> keys;
  const HashRouter router(2);
  for (uint64_t k = 7000; keys.size() < 500; ++k) {
    const uint32_t part = keys.size() / 125;
    if (!one_shard_per_part || router.ShardForKey(k) == part % 2) {
      keys.push_back(k);
    }
  }
  return keys;
}

// A sorted batch of distinct keys goes out in consecutive parts, each
// routed and sent before the next (500 keys in 4 parts of 125 here); a part
// with no key for a shard sends that shard nothing. Every key's gradient is
// applied once, to its own row, and each shard gets its own keys only.
TEST_F(PsClientTest, SortedPushInPartsAppliesEveryKeyOnce) {
  StartShards(2);
  PsClientOptions o;
  o.push_pieces = 4;
  o.min_push_piece_keys = 5;
  std::unique_ptr<PsClient> client = Connect(o);
  for (const bool one_shard_per_part : {false, true}) {
    TableConfig t = Table(2);
    t.set_name(one_shard_per_part ? "parted" : "mixed");
    ASSERT_TRUE(AllOk(client->admin().CreateTable(t, false)).ok());
    const std::vector<uint64_t> keys = SortedKeys(one_shard_per_part);
    std::vector<float> grads(keys.size() * 2);
    uint64_t expected[2] = {0, 0};
    for (size_t i = 0; i < keys.size(); ++i) {
      grads[i * 2] = float(keys[i]);
      grads[i * 2 + 1] = 0.5f;
      ++expected[client->router().ShardForKey(keys[i])];
    }
    uint64_t before[2];
    for (uint32_t shard = 0; shard < 2; ++shard) {
      before[shard] = shards_->server(shard)->store()->updates().applied();
    }
    const absl::Status pushed = client->Push(t.name(), keys, grads, 2);
    ASSERT_TRUE(pushed.ok()) << pushed;
    for (uint32_t shard = 0; shard < 2; ++shard) {
      EXPECT_EQ(
          shards_->server(shard)->store()->updates().applied() - before[shard],
          expected[shard])
          << shard;
    }
    if (one_shard_per_part) EXPECT_EQ(expected[0], 250u);
    std::vector<float> out(keys.size() * 2);
    ASSERT_TRUE(client->Pull(t.name(), keys, 2, out.data()).ok());
    for (size_t i = 0; i < keys.size(); ++i) {
      EXPECT_EQ(out[i * 2], -float(keys[i])) << keys[i];
      EXPECT_EQ(out[i * 2 + 1], -0.5f) << keys[i];
    }
  }
}

TEST_F(PsClientTest, WithoutDedupDuplicatePushesApplyOnceEach) {
  StartShards(2);
  PsClientOptions o;
  o.dedup = false;
  auto client = Connect(o);
  ASSERT_TRUE(AllOk(client->admin().CreateTable(Table(1), false)).ok());
  std::vector<uint64_t> keys = {9, 9, 9};
  ASSERT_TRUE(client->Push("t", keys, {1, 2, 3}, 1).ok());
  float v = 0;
  std::vector<uint64_t> one = {9};
  ASSERT_TRUE(client->Pull("t", one, 1, &v).ok());
  EXPECT_EQ(v, -6.f);
}

TEST_F(PsClientTest, RejectsBadArgumentsBeforeSendingAnything) {
  StartShards(1);
  auto client = Connect();
  std::vector<uint64_t> keys = {1, 2};
  std::vector<float> out(2);
  EXPECT_EQ(client->Pull("t", {}, 1, out.data()).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(client->Pull("t", keys, 0, out.data()).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(client->Push("t", keys, {1.f}, 1).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(PsClient::Connect({}).ok());
  EXPECT_FALSE(PsClient::Connect({"a:1", "b:2"}, {}, MakeHashRouter(3)).ok());
}

TEST_F(PsClientTest, DimensionDisagreementWithTheTableIsReported) {
  StartShards(1);
  auto client = Connect();
  ASSERT_TRUE(AllOk(client->admin().CreateTable(Table(4), false)).ok());
  std::vector<uint64_t> keys = {1};
  std::vector<float> out(8);
  absl::Status s = client->Pull("t", keys, 8, out.data());
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
}

TEST_F(PsClientTest, SortedUniqueBatchesTakeTheFastPathWithTheSameResult) {
  StartShards(2);
  auto client = Connect();
  ASSERT_TRUE(AllOk(client->admin().CreateTable(Table(2), false)).ok());
  std::vector<uint64_t> sorted = {3, 8, 21, 40, 99};
  std::vector<float> grads = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  ASSERT_TRUE(client->Push("t", sorted, grads, 2).ok());
  // A later unsorted batch with duplicates reads the same rows.
  std::vector<uint64_t> mixed = {99, 3, 99, 21};
  std::vector<float> out(mixed.size() * 2);
  ASSERT_TRUE(client->Pull("t", mixed, 2, out.data()).ok());
  EXPECT_EQ(out, (std::vector<float>{-9, -10, -1, -2, -9, -10, -5, -6}));
  // Equal neighbours are not "strictly increasing": they are summed.
  std::vector<uint64_t> dup = {5, 5};
  ASSERT_TRUE(client->Push("t", dup, {1, 1, 2, 2}, 2).ok());
  std::vector<uint64_t> five = {5};
  ASSERT_TRUE(client->Pull("t", five, 2, out.data()).ok());
  EXPECT_EQ(out[0], -3.f);
}

TEST_F(PsClientTest, ErrorsNameTheCallAndTheShard) {
  StartShards(1);
  auto client = Connect();
  std::vector<uint64_t> keys = {1};
  float v = 0;
  absl::Status s = client->Pull("nope", keys, 1, &v);
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound) << s;
  EXPECT_EQ(
      s.message().rfind(
          "Pull(nope) on ps shard 0 " + shards_->addresses()[0] + ": ", 0),
      0u)
      << s;
}

TEST_F(PsClientTest, DenseTensorsLiveOnTheShardTheRouterNames) {
  StartShards(3);
  auto client = Connect();
  DenseConfig d;
  d.set_name("w");
  d.set_size(2);
  d.mutable_optimizer()->set_type(OptimizerConfig::SGD);
  d.mutable_optimizer()->set_learning_rate(1.f);
  const ShardResult<CreateTableResponse> created =
      client->admin().CreateDense(d, false);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(created.shard, client->router().ShardForName("w"));
  auto step = client->PushDense("w", {1.f, 2.f}, 0, 0);
  ASSERT_TRUE(step.ok()) << step.status();
  std::vector<float> w;
  step = client->PullDense("w", 0, &w);
  ASSERT_TRUE(step.ok()) << step.status();
  EXPECT_EQ(w, (std::vector<float>{-1.f, -2.f}));
}

DenseConfig BspTensor(const std::string& name, uint32_t workers) {
  DenseConfig d;
  d.set_name(name);
  d.set_size(2);
  d.set_sync(BSP);
  d.set_num_workers(workers);
  d.mutable_optimizer()->set_type(OptimizerConfig::SGD);
  d.mutable_optimizer()->set_learning_rate(1.f);
  return d;
}

TEST_F(PsClientTest, ACancelledTaskStopsWaitingInABspPullWithinASlice) {
  StartShards(1);
  std::atomic<bool> cancelled{false};
  PsClientOptions o;
  o.cancelled = [&] { return cancelled.load(); };
  o.dense_wait_slice = absl::Milliseconds(200);
  auto client = Connect(o);
  ASSERT_TRUE(client->admin().CreateDense(BspTensor("w", 2), false).ok());
  // Worker 0 pushed step 0; worker 1 never will: step 1 never comes.
  ASSERT_TRUE(client->PushDense("w", {1.f, 1.f}, 0, 0).ok());
  std::thread canceller([&] {
    absl::SleepFor(absl::Milliseconds(500));
    cancelled = true;
  });
  const absl::Time t0 = absl::Now();
  std::vector<float> w;
  const absl::StatusOr<int64_t> step = client->PullDense("w", 1, &w);
  const absl::Duration waited = absl::Now() - t0;
  canceller.join();
  EXPECT_EQ(step.status().code(), absl::StatusCode::kCancelled)
      << step.status();
  EXPECT_GE(waited, absl::Milliseconds(500));
  EXPECT_LT(waited, absl::Seconds(3)) << "not within about one slice";
}

TEST_F(PsClientTest, ASlicedBspPullStillWaitsLongerThanOneSlice) {
  StartShards(1);
  PsClientOptions o;
  o.cancelled = [] { return false; };
  o.dense_wait_slice = absl::Milliseconds(100);
  auto client = Connect(o);
  ASSERT_TRUE(client->admin().CreateDense(BspTensor("w", 2), false).ok());
  ASSERT_TRUE(client->PushDense("w", {1.f, 1.f}, 0, 0).ok());
  std::thread late([&] {
    absl::SleepFor(absl::Milliseconds(700));  // several slices
    EXPECT_TRUE(client->PushDense("w", {1.f, 1.f}, 0, 1).ok());
  });
  std::vector<float> w;
  const absl::StatusOr<int64_t> step = client->PullDense("w", 1, &w);
  late.join();
  ASSERT_TRUE(step.ok()) << step.status();
  EXPECT_EQ(*step, 1);
  EXPECT_EQ(w, (std::vector<float>{-1.f, -1.f}));  // the mean gradient
}

TEST_F(PsClientTest, ASlicedBspPullGivesUpAfterTheWholeWait) {
  StartShards(1);
  PsClientOptions o;
  o.cancelled = [] { return false; };
  o.dense_wait_slice = absl::Milliseconds(100);
  o.dense_wait_timeout = absl::Milliseconds(450);
  auto client = Connect(o);
  ASSERT_TRUE(client->admin().CreateDense(BspTensor("w", 2), false).ok());
  std::vector<float> w;
  const absl::Time t0 = absl::Now();
  const absl::StatusOr<int64_t> step = client->PullDense("w", 1, &w);
  EXPECT_EQ(step.status().code(), absl::StatusCode::kDeadlineExceeded)
      << step.status();
  EXPECT_GE(absl::Now() - t0, absl::Milliseconds(400));
}

TEST_F(PsClientTest, AdminClientSharesTheShards) {
  StartShards(2);
  auto client = Connect();
  EXPECT_EQ(client->admin().num_shards(), 2u);
  const PerShard<ListTablesResponse> lists = client->admin().ListTables();
  ASSERT_EQ(lists.size(), 2u);
  EXPECT_EQ(lists[1].address, shards_->addresses()[1]);
}

}  // namespace
}  // namespace strata
