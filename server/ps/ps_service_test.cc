// Shards started in-process on loopback, driven through real gRPC: the
// client library for the happy paths, raw stubs for malformed requests.
#include <cmath>
#include <cstdlib>
#include <limits>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "proto/ps.grpc.pb.h"
#include "proto/rpc_util.h"
#include "server/client/ps_client.h"
#include "server/ps/ps_server.h"
#include "server/ps/testing/local_shards.h"
#include "server/security/testing/test_certs.h"

namespace strata {
namespace {

std::string TempDir(const std::string& name) {
  const char* base = std::getenv("TEST_TMPDIR");
  std::string dir = absl::StrCat(base ? base : "/tmp", "/", name);
  std::string cmd = "rm -rf '" + dir + "' && mkdir -p '" + dir + "'";
  EXPECT_EQ(std::system(cmd.c_str()), 0);
  return dir;
}

// In-process shards (testing::LocalShards) with the options these tests
// vary, plus raw stubs for malformed requests the client would not send.
class ShardCluster {
 public:
  explicit ShardCluster(uint32_t n, std::string data_dir = "",
                        size_t max_batch_keys = kDefaultMaxBatchKeys) {
    PsServerOptions o;
    o.data_dir = data_dir;
    o.service.max_batch_keys = max_batch_keys;
    auto started = testing::LocalShards::Start(n, o);
    EXPECT_TRUE(started.ok()) << started.status();
    shards = std::move(*started);
    client = shards->client();
  }
  std::unique_ptr<EmbeddingService::Stub> EmbeddingStub(int shard) {
    return EmbeddingService::NewStub(grpc::CreateChannel(
        shards->addresses()[shard], grpc::InsecureChannelCredentials()));
  }
  std::unique_ptr<AdminService::Stub> AdminStub(int shard) {
    return AdminService::NewStub(grpc::CreateChannel(
        shards->addresses()[shard], grpc::InsecureChannelCredentials()));
  }

  std::unique_ptr<testing::LocalShards> shards;
  PsClient* client = nullptr;  // owned by shards
};

TableConfig SgdTable(const std::string& name, uint32_t dim, float lr = 0.5f) {
  TableConfig t;
  t.set_name(name);
  t.set_dim(dim);
  t.mutable_optimizer()->set_type(OptimizerConfig::SGD);
  t.mutable_optimizer()->set_learning_rate(lr);
  return t;
}

TEST(PsServiceTest, PullCreatesZeroRowsAndPushAppliesSgdAcrossShards) {
  ShardCluster cluster(2);
  ASSERT_TRUE(
      AllOk(cluster.client->admin().CreateTable(SgdTable("emb", 4), false))
          .ok());
  std::vector<uint64_t> keys = {1, 2, 3, 1000, 99999, 7};
  std::vector<float> out(keys.size() * 4, -1.f);
  ASSERT_TRUE(cluster.client->Pull("emb", keys, 4, out.data()).ok());
  for (float v : out) EXPECT_EQ(v, 0.f);
  std::vector<float> grads(keys.size() * 4);
  for (size_t i = 0; i < grads.size(); ++i) grads[i] = float(i);
  ASSERT_TRUE(cluster.client->Push("emb", keys, grads, 4).ok());
  ASSERT_TRUE(cluster.client->Pull("emb", keys, 4, out.data()).ok());
  for (size_t i = 0; i < out.size(); ++i) EXPECT_EQ(out[i], -0.5f * i);
  // Both shards hold some of the keys.
  auto lists = RequireAllOk(cluster.client->admin().ListTables());
  ASSERT_TRUE(lists.ok());
  uint64_t total = 0;
  for (const auto& l : *lists) {
    ASSERT_EQ(l.tables_size(), 1);
    EXPECT_GT(l.tables(0).rows(), 0u);
    total += l.tables(0).rows();
  }
  EXPECT_EQ(total, keys.size());
}

TEST(PsServiceTest, ClientSumsGradientsOfDuplicateKeys) {
  ShardCluster cluster(2);
  ASSERT_TRUE(
      AllOk(cluster.client->admin().CreateTable(SgdTable("emb", 2, 1.f), false))
          .ok());
  std::vector<uint64_t> keys = {5, 5, 6, 5};
  std::vector<float> grads = {1, 1, 10, 10, 2, 2, 4, 4};
  ASSERT_TRUE(cluster.client->Push("emb", keys, grads, 2).ok());
  std::vector<float> out(4);
  std::vector<uint64_t> q = {5, 6};
  ASSERT_TRUE(cluster.client->Pull("emb", q, 2, out.data()).ok());
  // Key 5 appears at rows 0, 1 and 3: 1 + 10 + 4; key 6 at row 2.
  EXPECT_EQ(out, (std::vector<float>{-15, -15, -2, -2}));
}

grpc::Status RawPush(EmbeddingService::Stub* stub, const std::string& table,
                     const std::vector<uint64_t>& keys,
                     const std::vector<float>& grads) {
  grpc::ClientContext ctx;
  PushRequest req;
  req.set_table(table);
  req.set_keys(PackU64(keys));
  req.set_gradients(PackF32(grads));
  PushResponse resp;
  return stub->Push(&ctx, req, &resp);
}

TEST(PsServiceTest, BadInputGetsPreciseStatusAndLosesNothing) {
  ShardCluster cluster(1, "", /*max_batch_keys=*/100);
  ASSERT_TRUE(
      AllOk(cluster.client->admin().CreateTable(SgdTable("emb", 2, 1.f), false))
          .ok());
  std::vector<uint64_t> keys = {1, 2};
  ASSERT_TRUE(cluster.client->Push("emb", keys, {1, 2, 3, 4}, 2).ok());
  auto stub = cluster.EmbeddingStub(0);

  EXPECT_EQ(RawPush(stub.get(), "nope", keys, {1, 2, 3, 4}).error_code(),
            grpc::StatusCode::NOT_FOUND);
  grpc::Status wrong_dim = RawPush(stub.get(), "emb", keys, {1, 2, 3});
  EXPECT_EQ(wrong_dim.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(wrong_dim.error_message().find("emb"), std::string::npos);
  EXPECT_EQ(RawPush(stub.get(), "emb", {}, {}).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  std::vector<uint64_t> big(101, 3);
  EXPECT_EQ(RawPush(stub.get(), "emb", big, std::vector<float>(202, 0.f))
                .error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  grpc::Status nan_push = RawPush(stub.get(), "emb", keys, {0, 0, nan, 0});
  EXPECT_EQ(nan_push.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  {
    grpc::ClientContext ctx;
    PullRequest req;
    req.set_table("emb");
    req.set_keys("0123456789");  // 10 bytes: not a whole number of keys
    PullResponse resp;
    EXPECT_EQ(stub->Pull(&ctx, req, &resp).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
  }
  // Nothing stored was changed by the rejected batches.
  std::vector<float> out(4);
  ASSERT_TRUE(cluster.client->Pull("emb", keys, 2, out.data()).ok());
  EXPECT_EQ(out, (std::vector<float>{-1, -2, -3, -4}));
}

TEST(PsServiceTest, MisroutedKeyIsFailedPrecondition) {
  ShardCluster cluster(2);
  ASSERT_TRUE(
      AllOk(cluster.client->admin().CreateTable(SgdTable("emb", 1), false))
          .ok());
  uint64_t key = 0;
  while (cluster.client->router().ShardForKey(key) != 1) ++key;
  auto stub = cluster.EmbeddingStub(0);
  EXPECT_EQ(RawPush(stub.get(), "emb", {key}, {1.f}).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
}

TEST(PsServiceTest, DenseBspAveragesBothWorkersBeforeServingNextStep) {
  ShardCluster cluster(2);
  DenseConfig d;
  d.set_name("w");
  d.set_size(3);
  d.set_sync(BSP);
  d.set_num_workers(2);
  d.mutable_optimizer()->set_type(OptimizerConfig::SGD);
  d.mutable_optimizer()->set_learning_rate(1.f);
  ASSERT_TRUE(cluster.client->admin().CreateDense(d, false).ok());
  std::vector<float> w;
  auto step = cluster.client->PullDense("w", 0, &w);
  ASSERT_TRUE(step.ok()) << step.status();
  EXPECT_EQ(*step, 0);
  std::thread other([&] {
    EXPECT_TRUE(cluster.client->PushDense("w", {2, 4, 6}, 0, 1).ok());
  });
  ASSERT_TRUE(cluster.client->PushDense("w", {0, 0, 0}, 0, 0).ok());
  other.join();
  step = cluster.client->PullDense("w", 1, &w);
  ASSERT_TRUE(step.ok()) << step.status();
  EXPECT_EQ(*step, 1);
  EXPECT_EQ(w, (std::vector<float>{-1, -2, -3}));
}

DenseConfig Bsp(const std::string& name) {
  DenseConfig d;
  d.set_name(name);
  d.set_size(2);
  d.set_sync(BSP);
  d.set_num_workers(2);
  d.mutable_optimizer()->set_type(OptimizerConfig::SGD);
  d.mutable_optimizer()->set_learning_rate(1.f);
  return d;
}

TEST(PsServiceTest, ResetDenseStepsAnswersCountsAndRefusesBadPrefixes) {
  ShardCluster cluster(1);
  for (const char* name : {"job/a", "job/b", "other"}) {
    ASSERT_TRUE(cluster.client->admin().CreateDense(Bsp(name), false).ok());
  }
  ASSERT_TRUE(cluster.client->PushDense("job/a", {1, 1}, 0, 0).ok());
  auto stub = cluster.AdminStub(0);
  ResetDenseStepsRequest req;
  req.set_prefix("job/");
  ResetDenseStepsResponse resp;
  grpc::ClientContext ctx;
  ASSERT_TRUE(stub->ResetDenseSteps(&ctx, req, &resp).ok());
  EXPECT_EQ(resp.tensors(), 2u);
  EXPECT_EQ(resp.reset(), 1u);
  // Worker 0 pushes step 0 again: accepted, the discarded push is gone.
  ASSERT_TRUE(cluster.client->PushDense("job/a", {1, 1}, 0, 0).ok());
  ASSERT_TRUE(cluster.client->PushDense("job/a", {3, 3}, 0, 1).ok());
  std::vector<float> w;
  ASSERT_EQ(*cluster.client->PullDense("job/a", 1, &w), 1);
  EXPECT_EQ(w, (std::vector<float>{-2, -2}));
  for (const std::string& bad : {std::string(""), std::string("job /")}) {
    grpc::ClientContext c;
    req.set_prefix(bad);
    EXPECT_EQ(stub->ResetDenseSteps(&c, req, &resp).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT)
        << bad;
  }
}

TEST(PsServiceTest, PausePushesBoundsItsLease) {
  ShardCluster cluster(1);
  auto stub = cluster.AdminStub(0);
  for (uint32_t lease : {0u, 60001u}) {
    PausePushesRequest req;
    req.set_pause(true);
    req.set_lease_ms(lease);
    PausePushesResponse resp;
    grpc::ClientContext ctx;
    EXPECT_EQ(stub->PausePushes(&ctx, req, &resp).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT)
        << lease;
  }
  EXPECT_FALSE(cluster.shards->server(0)->store()->push_gate().paused());
}

TEST(PsServiceTest, APushHeldPastItsDeadlineIsUnavailable) {
  ShardCluster cluster(1);
  ASSERT_TRUE(
      AllOk(cluster.client->admin().CreateTable(SgdTable("emb", 1), false))
          .ok());
  ASSERT_TRUE(
      AllOk(cluster.client->admin().PausePushes(true, absl::Seconds(30))).ok());
  auto stub = cluster.EmbeddingStub(0);
  PushRequest req;
  req.set_table("emb");
  PackU64(std::vector<uint64_t>{1}, req.mutable_keys());
  PackF32(std::vector<float>{1}, req.mutable_gradients());
  PushResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() +
                   std::chrono::milliseconds(500));
  EXPECT_EQ(stub->Push(&ctx, req, &resp).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  ASSERT_TRUE(
      AllOk(cluster.client->admin().PausePushes(false, absl::ZeroDuration()))
          .ok());
}

TEST(PsServiceTest, CheckpointSurvivesShardRestart) {
  const std::string dir = TempDir("ps_restart");
  std::vector<uint64_t> keys = {11, 22, 33, 44, 55};
  {
    ShardCluster cluster(2, dir);
    ASSERT_TRUE(AllOk(cluster.client->admin().CreateTable(
                          SgdTable("emb", 2, 1.f), false))
                    .ok());
    ASSERT_TRUE(cluster.client->Push("emb", keys, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 2).ok());
    auto ck = RequireAllOk(cluster.client->admin().Checkpoint(42));
    ASSERT_TRUE(ck.ok()) << ck.status();
    EXPECT_EQ(ck->size(), 2u);
  }
  ShardCluster restarted(2, dir);
  std::vector<float> out(10);
  ASSERT_TRUE(restarted.client->Pull("emb", keys, 2, out.data()).ok());
  for (int i = 0; i < 10; ++i) EXPECT_EQ(out[i], -(i + 1));
}

TEST(PsServiceTest, CheckpointWithoutDataDirIsFailedPrecondition) {
  ShardCluster cluster(1);
  auto ck = RequireAllOk(cluster.client->admin().Checkpoint(1));
  ASSERT_FALSE(ck.ok());
  EXPECT_EQ(ck.status().code(), absl::StatusCode::kFailedPrecondition);
}

// Over mutual TLS: only the coordinator chooses checkpoint ids; anyone
// else the policy admits (admin, worker) sends 0 and the shard picks one.
grpc::Status CheckpointAs(const std::string& certs, const std::string& who,
                          const std::string& address, uint64_t id,
                          CheckpointResponse* resp) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() +
                   std::chrono::seconds(30));
  CheckpointRequest req;
  req.set_checkpoint_id(id);
  return AdminService::NewStub(
             security::testing::ChannelAs(certs, who, address))
      ->Checkpoint(&ctx, req, resp);
}

TEST(PsServiceTest, OnlyTheCoordinatorChoosesFutureCheckpointIdsOverTls) {
  const std::string certs =
      security::testing::MakeCluster("ps-certs", 1, "root:admin");
  ASSERT_FALSE(certs.empty());
  PsServerOptions o;
  o.data_dir = TempDir("ps_tls_checkpoint");
  o.credentials = security::testing::CredentialsOf(certs, "ps-0");
  auto shards = testing::LocalShards::Start(1, o);
  ASSERT_TRUE(shards.ok()) << shards.status();
  const std::string& address = (*shards)->addresses()[0];
  const uint64_t hour_ahead =
      static_cast<uint64_t>(absl::ToUnixMillis(absl::Now() + absl::Hours(1)));
  CheckpointResponse resp;
  for (const char* who : {"root", "worker"}) {
    // An id in the future would be the newest until then: every restart
    // would load it.
    const grpc::Status s = CheckpointAs(certs, who, address, hour_ahead, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << who;
    EXPECT_NE(s.error_message().find("may not choose checkpoint id " +
                                     std::to_string(hour_ahead) +
                                     " lies in the future"),
              std::string::npos)
        << s.error_message();
    // A worker's CTR_TRAIN final checkpoint names a present or past id.
    const grpc::Status past = CheckpointAs(certs, who, address, 77, &resp);
    ASSERT_TRUE(past.ok()) << who << ": " << past.error_message();
    EXPECT_EQ(resp.checkpoint_id(), 77u);
    const grpc::Status picked = CheckpointAs(certs, who, address, 0, &resp);
    ASSERT_TRUE(picked.ok()) << who << ": " << picked.error_message();
    EXPECT_NE(resp.checkpoint_id(), 0u) << "the shard picked one";
  }
  // The largest id would pin every later restart to it forever.
  EXPECT_EQ(CheckpointAs(certs, "root", address,
                         std::numeric_limits<uint64_t>::max(), &resp)
                .error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  const grpc::Status coordinator =
      CheckpointAs(certs, "coordinator", address, hour_ahead, &resp);
  ASSERT_TRUE(coordinator.ok()) << coordinator.error_message();
  EXPECT_EQ(resp.checkpoint_id(), hour_ahead);
}

grpc::Status DropAs(const std::string& certs, const std::string& who,
                    const std::string& address, const std::string& name) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() +
                   std::chrono::seconds(30));
  DropTableRequest req;
  req.set_name(name);
  DropTableResponse resp;
  return AdminService::NewStub(
             security::testing::ChannelAs(certs, who, address))
      ->DropTable(&ctx, req, &resp);
}

TEST(PsServiceTest, WorkersDropOnlyJobScopedTensorsOverTls) {
  const std::string certs =
      security::testing::MakeCluster("ps-drop-certs", 1, "root:admin");
  ASSERT_FALSE(certs.empty());
  PsServerOptions o;
  o.credentials = security::testing::CredentialsOf(certs, "ps-0");
  auto shards = testing::LocalShards::Start(1, o);
  ASSERT_TRUE(shards.ok()) << shards.status();
  const std::string& address = (*shards)->addresses()[0];
  // A shared table (a CTR model) is not a worker's to drop.
  const grpc::Status shared = DropAs(certs, "worker", address, "ctr");
  EXPECT_EQ(shared.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_NE(shared.error_message().find(
                "may not drop 'ctr': workers drop only job-scoped tensors"),
            std::string::npos)
      << shared.error_message();
  // A job-scoped one (an FC snapshot) reaches the store: absent here.
  EXPECT_EQ(DropAs(certs, "worker", address, "job-2/snap/0/fc0/step")
                .error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(DropAs(certs, "root", address, "ctr").error_code(),
            grpc::StatusCode::NOT_FOUND)
      << "an admin drops anything";
}

TEST(PsServiceTest, PlaintextCallersStillChooseCheckpointIds) {
  ShardCluster cluster(1, TempDir("ps_plain_checkpoint"));
  auto ck = RequireAllOk(cluster.client->admin().Checkpoint(88));
  ASSERT_TRUE(ck.ok()) << ck.status();
  EXPECT_EQ((*ck)[0].checkpoint_id(), 88u);
}

TEST(PsServiceTest, UnreachableShardIsUnavailableAfterRetries) {
  PsClientOptions o;
  o.max_retries = 1;
  o.retry_backoff = absl::Milliseconds(10);
  o.rpc_timeout = absl::Seconds(2);
  auto client = PsClient::Connect({"127.0.0.1:1"}, o);
  ASSERT_TRUE(client.ok());
  std::vector<float> out(1);
  std::vector<uint64_t> keys = {1};
  absl::Status s = (*client)->Pull("emb", keys, 1, out.data());
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
}

}  // namespace
}  // namespace strata

namespace strata {
namespace {

TEST(PsServiceTest, CompressServesPullsThroughTheIndexAndStatsMatchTheLibrary) {
  ShardCluster cluster(2);
  ASSERT_TRUE(
      AllOk(cluster.client->admin().CreateTable(SgdTable("emb", 4, 1.f), false))
          .ok());
  // Field 3: 4000 features; each feature's vector is its group id (10
  // groups), written through pushes (SGD lr 1 from zeros: w = -g).
  std::vector<uint64_t> keys;
  std::vector<float> grads;
  for (uint64_t i = 0; i < 4000; ++i) {
    keys.push_back((uint64_t{3} << 56) | i);
    for (int d = 0; d < 4; ++d) grads.push_back(-float(i % 10));
  }
  ASSERT_TRUE(cluster.client->Push("emb", keys, grads, 4).ok());
  SaecConfig config;
  config.set_clusters(10);
  config.set_min_features(100);
  auto compressed =
      RequireAllOk(cluster.client->admin().Compress("emb", config));
  ASSERT_TRUE(compressed.ok()) << compressed.status();
  // Pulls now come from centroids: exact here (groups are points).
  std::vector<float> out(keys.size() * 4);
  ASSERT_TRUE(cluster.client->Pull("emb", keys, 4, out.data()).ok());
  for (size_t i = 0; i < keys.size(); ++i) {
    ASSERT_NEAR(out[i * 4], float(i % 10), 1e-4) << "key " << i;
  }
  // The stats RPC reports exactly what the library computed on each shard.
  auto rpc = RequireAllOk(cluster.client->admin().CompressionStats(""));
  ASSERT_TRUE(rpc.ok()) << rpc.status();
  ASSERT_EQ(rpc->size(), 2u);
  uint64_t features = 0;
  for (uint32_t s = 0; s < 2; ++s) {
    auto lib = cluster.shards->server(s)->store()->Stats("");
    ASSERT_TRUE(lib.ok());
    ASSERT_EQ((*rpc)[s].fields_size(), static_cast<int>(lib->size()));
    for (int f = 0; f < (*rpc)[s].fields_size(); ++f) {
      EXPECT_EQ((*rpc)[s].fields(f).SerializeAsString(),
                (*lib)[f].SerializeAsString());
      EXPECT_EQ((*rpc)[s].fields(f).clusters(), 10u);
      features += (*rpc)[s].fields(f).features();
    }
  }
  EXPECT_EQ(features, 4000u);
  // Compressing again folds (nothing new to fold here); unknown tables are
  // NOT_FOUND.
  EXPECT_TRUE(
      RequireAllOk(cluster.client->admin().Compress("emb", config)).ok());
  EXPECT_EQ(RequireAllOk(cluster.client->admin().Compress("nope", config))
                .status()
                .code(),
            absl::StatusCode::kNotFound);
  SaecConfig bad = config;
  bad.set_field_bits(40);
  ShardCluster other(1);
  ASSERT_TRUE(
      AllOk(other.client->admin().CreateTable(SgdTable("emb", 4, 1.f), false))
          .ok());
  ASSERT_TRUE(other.client->Push("emb", keys, grads, 4).ok());
  EXPECT_EQ(
      RequireAllOk(other.client->admin().Compress("emb", bad)).status().code(),
      absl::StatusCode::kInvalidArgument);
}

TEST(PsServiceTest, ShardCompressesAtStartUpFromItsCheckpoint) {
  const std::string dir = TempDir("ps_compress_on_load");
  std::vector<uint64_t> keys;
  std::vector<float> grads;
  for (uint64_t i = 0; i < 3000; ++i) {
    keys.push_back((uint64_t{1} << 56) | i);
    for (int d = 0; d < 2; ++d) grads.push_back(-float(i % 6));
  }
  {
    ShardCluster cluster(1, dir);
    ASSERT_TRUE(AllOk(cluster.client->admin().CreateTable(
                          SgdTable("emb", 2, 1.f), false))
                    .ok());
    ASSERT_TRUE(cluster.client->Push("emb", keys, grads, 2).ok());
    ASSERT_TRUE(RequireAllOk(cluster.client->admin().Checkpoint(5)).ok());
  }
  PsServerOptions o;
  o.data_dir = dir;
  SaecConfig c;
  c.set_clusters(6);
  c.set_min_features(10);
  o.compress_on_load = c;
  auto server = PsServer::Start(o);
  ASSERT_TRUE(server.ok()) << server.status();
  auto stats = (*server)->store()->Stats("emb");
  ASSERT_TRUE(stats.ok());
  ASSERT_EQ(stats->size(), 1u);
  EXPECT_EQ((*stats)[0].features(), 3000u);
  EXPECT_EQ((*stats)[0].clusters(), 6u);
  EXPECT_GT((*stats)[0].ratio(), 1.0);
}

TEST(PsServiceTest, InvalidCompressOnLoadConfigFailsStart) {
  PsServerOptions o;
  SaecConfig c;
  c.set_head_mass(1.5);
  o.compress_on_load = c;
  const absl::Status s = PsServer::Start(o).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("compress_on_load: head_mass 1.5"),
            std::string::npos)
      << s;
}

}  // namespace
}  // namespace strata
