// PsServer's start-up and checkpoint policies over real gRPC: falling back
// past an unloadable newest checkpoint (never crash-looping), retention,
// the gradient bound, and what /metrics says about them.
#include "server/ps/ps_server.h"

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "proto/ps.grpc.pb.h"
#include "server/client/ps_client.h"
#include "server/metrics/metrics_registry.h"
#include "server/ps/testing/local_shards.h"
#include "server/util/env.h"

namespace strata {
namespace {

using ::testing::HasSubstr;

// A directory of its own under the test's temporary directory.
std::string TestDir(const std::string& name) {
  const std::string dir = JoinPath(::testing::TempDir(), name);
  EXPECT_TRUE(DefaultEnv()->CreateDir(dir).ok());
  return dir;
}

std::string ShardFile(const std::string& dir, uint64_t id, uint32_t shard,
                      uint32_t num_shards) {
  return absl::StrFormat("%s/ckpt-%020u/shard-%05u-of-%05u.ckpt", dir, id,
                         shard, num_shards);
}

bool Exists(const std::string& path) {
  return DefaultEnv()->FileExists(path).ok();
}

// Flips one byte in the middle of `path`.
void Corrupt(const std::string& path) {
  absl::StatusOr<std::string> bytes = DefaultEnv()->ReadFileToString(path);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  (*bytes)[bytes->size() / 2] ^= 0x20;
  auto f = DefaultEnv()->NewWritableFile(path);
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE((*f)->Append(*bytes).ok());
  ASSERT_TRUE((*f)->Close().ok());
}

TableConfig SgdTable(uint32_t dim) {
  TableConfig t;
  t.set_name("emb");
  t.set_dim(dim);
  t.mutable_optimizer()->set_type(OptimizerConfig::SGD);
  t.mutable_optimizer()->set_learning_rate(1.f);
  return t;
}

// Whether the scrape `text` shows shard 0's `metric` at `value`.
bool HasMetric(const std::string& text, absl::string_view metric,
               uint64_t value) {
  return text.find(absl::StrCat(metric, "{shard=\"0\"} ", value, "\n")) !=
         std::string::npos;
}

TEST(PsServerTest,
     ClusterRestartedOverACorruptNewestCheckpointLoadsThePrevious) {
  const std::string dir = TestDir("ps_server_fallback");
  const std::vector<uint64_t> keys = {11, 22, 33, 44, 55};
  PsServerOptions o;
  o.data_dir = dir;
  {
    auto shards = testing::LocalShards::Start(2, o);
    ASSERT_TRUE(shards.ok()) << shards.status();
    PsClient* client = (*shards)->client();
    ASSERT_TRUE(AllOk(client->admin().CreateTable(SgdTable(1), false)).ok());
    ASSERT_TRUE(client->Push("emb", keys, {1, 2, 3, 4, 5}, 1).ok());
    ASSERT_TRUE(AllOk(client->admin().Checkpoint(10)).ok());
    ASSERT_TRUE(client->Push("emb", keys, {1, 1, 1, 1, 1}, 1).ok());
    ASSERT_TRUE(AllOk(client->admin().Checkpoint(20)).ok());
  }
  Corrupt(ShardFile(dir, 20, 1, 2));

  // Every shard reads every file, so both skip 20 and load 10.
  auto shards = testing::LocalShards::Start(2, o);
  ASSERT_TRUE(shards.ok()) << shards.status();
  PsClient* client = (*shards)->client();
  std::vector<float> out(5);
  ASSERT_TRUE(client->Pull("emb", keys, 1, out.data()).ok());
  EXPECT_EQ(out, (std::vector<float>{-1, -2, -3, -4, -5}));
  ASSERT_TRUE(client->Push("emb", keys, {1, 1, 1, 1, 1}, 1).ok());
  // Checkpoint 20 is kept as it is: never overwritten.
  const absl::Status again = AllOk(client->admin().Checkpoint(20));
  EXPECT_EQ(again.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(again.message(), HasSubstr("checkpoint 20 could not be loaded"));
  ASSERT_TRUE(AllOk(client->admin().Checkpoint(30)).ok());
}

// One shard with a metrics registry, over `dir`.
struct MeteredShard {
  explicit MeteredShard(const std::string& dir, uint32_t keep = 5) {
    auto r = MetricsRegistry::Create({});
    EXPECT_TRUE(r.ok()) << r.status();
    registry = *std::move(r);
    PsServerOptions o;
    o.data_dir = dir;
    o.keep_checkpoints = keep;
    o.metrics = registry.get();
    auto s = PsServer::Start(o);
    EXPECT_TRUE(s.ok()) << s.status();
    server = *std::move(s);
    auto c = PsClient::Connect({server->address()});
    EXPECT_TRUE(c.ok()) << c.status();
    client = *std::move(c);
  }
  std::string Metrics() const { return registry->TextFormat(); }

  std::unique_ptr<MetricsRegistry> registry;
  std::unique_ptr<PsServer> server;
  std::unique_ptr<PsClient> client;
};

// A fresh shard over `dir` (nothing loaded, nothing skipped) creates "emb"
// and writes checkpoints `ids`.
void WriteCheckpoints(const std::string& dir, std::vector<uint64_t> ids) {
  MeteredShard shard(dir);
  const std::string text = shard.Metrics();
  EXPECT_TRUE(HasMetric(text, "strata_ps_checkpoint_loaded_id", 0)) << text;
  EXPECT_TRUE(HasMetric(text, "strata_ps_checkpoint_load_fallbacks_total", 0))
      << text;
  ASSERT_TRUE(
      AllOk(shard.client->admin().CreateTable(SgdTable(2), false)).ok());
  for (uint64_t id : ids) {
    ASSERT_TRUE(AllOk(shard.client->admin().Checkpoint(id)).ok()) << id;
  }
}

TEST(PsServerTest, FallbackAndRetentionShowOnMetrics) {
  const std::string dir = TestDir("ps_server_metrics");
  WriteCheckpoints(dir, {1, 2});
  Corrupt(ShardFile(dir, 2, 0, 1));
  MeteredShard shard(dir, /*keep=*/1);
  std::string text = shard.Metrics();
  EXPECT_TRUE(HasMetric(text, "strata_ps_checkpoint_loaded_id", 1)) << text;
  EXPECT_TRUE(HasMetric(text, "strata_ps_checkpoint_load_fallbacks_total", 1))
      << text;
  EXPECT_EQ(shard.server->store()->List().size(), 1u);

  // 1 (loaded) and 2 (unloadable) survive retention; 3 does not.
  ASSERT_TRUE(AllOk(shard.client->admin().Checkpoint(3)).ok());
  ASSERT_TRUE(AllOk(shard.client->admin().Checkpoint(4)).ok());
  EXPECT_TRUE(Exists(ShardFile(dir, 1, 0, 1)));
  EXPECT_TRUE(Exists(ShardFile(dir, 2, 0, 1)));
  EXPECT_FALSE(Exists(ShardFile(dir, 3, 0, 1)));
  EXPECT_TRUE(Exists(ShardFile(dir, 4, 0, 1)));
  text = shard.Metrics();
  EXPECT_TRUE(HasMetric(text, "strata_ps_checkpoints_pruned_total", 1)) << text;
  EXPECT_TRUE(HasMetric(text, "strata_ps_checkpoint_prune_errors_total", 0))
      << text;
}

TEST(PsServerTest, WithNoLoadableCheckpointTheShardStartsEmptyAndServes) {
  const std::string dir = TestDir("ps_server_none_loadable");
  WriteCheckpoints(dir, {7});
  Corrupt(ShardFile(dir, 7, 0, 1));
  MeteredShard shard(dir);
  ASSERT_NE(shard.server, nullptr) << "no crash loop: the shard starts";
  EXPECT_TRUE(shard.server->store()->List().empty());
  const std::string text = shard.Metrics();
  EXPECT_TRUE(HasMetric(text, "strata_ps_checkpoint_loaded_id", 0)) << text;
  EXPECT_TRUE(HasMetric(text, "strata_ps_checkpoint_load_fallbacks_total", 1))
      << text;
  ASSERT_TRUE(
      AllOk(shard.client->admin().CreateTable(SgdTable(2), false)).ok());
  ASSERT_TRUE(shard.client->Push("emb", {1}, {1, 1}, 2).ok());
  EXPECT_EQ(AllOk(shard.client->admin().Checkpoint(7)).code(),
            absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(AllOk(shard.client->admin().Checkpoint(8)).ok());
}

TEST(PsServerTest, PushBeyondMaxAbsGradientIsRejectedAndTheShardServes) {
  PsServerOptions o;
  o.max_abs_gradient = 100.0f;
  auto shards = testing::LocalShards::Start(1, o);
  ASSERT_TRUE(shards.ok()) << shards.status();
  PsClient* client = (*shards)->client();
  ASSERT_TRUE(AllOk(client->admin().CreateTable(SgdTable(2), false)).ok());
  ASSERT_TRUE(client->Push("emb", {1}, {1, 2}, 2).ok());
  const absl::Status s = client->Push("emb", {1, 2}, {1, 2, 3, 1e20f}, 2);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("table emb: gradient 3 is 1e+20, beyond "
                                     "the bound of 100 (--max_abs_gradient)"));
  EXPECT_EQ(client->Push("emb", {1}, {101, 0}, 2).code(),
            absl::StatusCode::kInvalidArgument);
  std::vector<float> out(2);
  ASSERT_TRUE(client->Pull("emb", {1}, 2, out.data()).ok());
  EXPECT_EQ(out, (std::vector<float>{-1, -2})) << "nothing changed";
  ASSERT_TRUE(client->Push("emb", {1}, {100, -100}, 2).ok());
  ASSERT_TRUE(client->Pull("emb", {1}, 2, out.data()).ok());
  EXPECT_EQ(out, (std::vector<float>{-101, 98}));

  PsServerOptions bad;
  bad.max_abs_gradient = -1;
  const absl::Status start = PsServer::Start(bad).status();
  EXPECT_EQ(start.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(start.message(), HasSubstr("--max_abs_gradient"));
}

// A BSP dense pull of tensor "w" at step 1, straight over gRPC (the client
// library would retry a refused pull in chunks): it waits for a step no
// worker pushes until its 3-second deadline.
grpc::Status WaitForStepOne(const std::string& address) {
  auto stub = DenseService::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(3));
  DensePullRequest req;
  req.set_name("w");
  req.set_min_step(1);
  DensePullResponse resp;
  return stub->Pull(&ctx, req, &resp);
}

// Dense pulls waiting for a step each hold a server thread. With
// max_server_threads 3, two run at once: of three waits, one is refused
// RESOURCE_EXHAUSTED instead of starting another thread, and once the
// others end the shard serves again.
TEST(PsServerTest, RequestsBeyondTheThreadBoundAreRefusedNotQueuedForever) {
  PsServerOptions o;
  o.threads.min_pollers = 1;
  o.threads.max_pollers = 1;
  o.threads.max_threads = 3;
  auto shards = testing::LocalShards::Start(1, o);
  ASSERT_TRUE(shards.ok()) << shards.status();
  PsClient* client = (*shards)->client();
  DenseConfig d;
  d.set_name("w");
  d.set_size(2);
  d.set_sync(BSP);
  d.set_num_workers(2);
  d.mutable_optimizer()->set_learning_rate(1.0f);
  ASSERT_TRUE(client->admin().CreateDense(d, false).ok());

  const std::string address = (*shards)->addresses()[0];
  std::vector<grpc::Status> waits(3);
  std::vector<std::thread> waiters;
  for (grpc::Status& s : waits) {
    waiters.emplace_back([&address, &s] { s = WaitForStepOne(address); });
  }
  for (std::thread& t : waiters) t.join();
  int refused = 0, timed_out = 0;
  for (const grpc::Status& s : waits) {
    refused += s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED;
    timed_out += s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED;
  }
  EXPECT_EQ(refused, 1);
  EXPECT_EQ(timed_out, 2);
  // The shard's waits end at the same deadline, a moment after the
  // client's: then it serves again.
  absl::Status after;
  const absl::Time recover_by = absl::Now() + absl::Seconds(10);
  do {
    after = AllOk(client->admin().ListTables());
  } while (!after.ok() && absl::Now() < recover_by &&
           (absl::SleepFor(absl::Milliseconds(20)), true));
  EXPECT_TRUE(after.ok()) << after;
}

}  // namespace
}  // namespace strata
