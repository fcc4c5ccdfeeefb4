// PsClient and PsAdminClient on a table compressed cluster-wide (docs/saec.md,
// "Cluster-wide clusters"), over in-process shards.
#include <cmath>
#include <map>
#include <vector>

#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "proto/ps.grpc.pb.h"
#include "server/client/ps_client.h"
#include "server/ps/testing/local_shards.h"

namespace strata {
namespace {

constexpr uint32_t kDim = 4;
constexpr int kFeatures = 800;

uint64_t Key(uint32_t field, uint64_t feature) {
  return (uint64_t{field} << 56) | feature;
}

TableConfig Table(const std::string& name) {
  TableConfig t;
  t.set_name(name);
  t.set_dim(kDim);
  t.mutable_optimizer()->set_type(OptimizerConfig::SGD);
  t.mutable_optimizer()->set_learning_rate(1.f);
  return t;
}

SaecConfig Saec(ClusterGradient g) {
  SaecConfig c;
  c.set_clusters(8);
  c.set_min_features(10);
  c.set_index_layout(SaecConfig::COMPACT);
  c.set_cluster_gradient(g);
  return c;
}

// Field 1: feature i at 10 * (i % 8) (+ a little), spread over the shards.
std::vector<uint64_t> FillTable(PsClient* client, const std::string& table) {
  std::vector<uint64_t> keys;
  std::vector<float> grads;
  for (int i = 0; i < kFeatures; ++i) {
    keys.push_back(Key(1, i));
    for (uint32_t d = 0; d < kDim; ++d) {
      grads.push_back(-(10.f * (i % 8) + 0.001f * (i % 3)));
    }
  }
  EXPECT_TRUE(client->Push(table, keys, grads, kDim).ok());
  return keys;
}

class ClusterWideTest : public ::testing::TestWithParam<uint32_t> {
 protected:
  void SetUp() override {
    auto shards = testing::LocalShards::Start(GetParam());
    ASSERT_TRUE(shards.ok()) << shards.status();
    shards_ = std::move(*shards);
  }
  PsClient* client() { return shards_->client(); }
  void Compress(const std::string& table, ClusterGradient g) {
    ASSERT_TRUE(AllOk(client()->admin().CreateTable(Table(table), false)).ok());
    FillTable(client(), table);
    auto r = client()->admin().CompressClusterWide(table, Saec(g));
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_TRUE(AllOk(*r).ok()) << AllOk(*r);
  }
  std::unique_ptr<testing::LocalShards> shards_;
};

TEST_P(ClusterWideTest, KeysOfAClusterReadOneCentroidOnEveryShard) {
  Compress("emb", CLUSTER_GRADIENT_MEAN);
  std::vector<uint64_t> keys;
  for (int i = 0; i < kFeatures; ++i) keys.push_back(Key(1, i));
  std::vector<float> out(keys.size() * kDim);
  ASSERT_TRUE(client()->Pull("emb", keys, kDim, out.data()).ok());
  for (int i = 0; i < kFeatures; ++i) {
    const int g = i % 8;
    // Every key of a group reads its group's one centroid, wherever it
    // lives.
    EXPECT_EQ(std::vector<float>(out.begin() + i * kDim,
                                 out.begin() + (i + 1) * kDim),
              std::vector<float>(out.begin() + g * kDim,
                                 out.begin() + (g + 1) * kDim))
        << i;
    EXPECT_NEAR(out[i * kDim], 10.f * g, 0.01f) << i;
  }
  // The field holds k vectors whatever the shard count.
  uint64_t clusters = 0;
  for (const auto& r : client()->admin().CompressionStats("emb")) {
    ASSERT_TRUE(r.ok()) << r.status();
    for (const FieldStats& f : r.response->fields()) {
      EXPECT_TRUE(f.cluster_wide());
      clusters += f.clusters();
    }
  }
  EXPECT_EQ(clusters, 8u);
}

TEST_P(ClusterWideTest, PushesOfOneClusterFromSeveralShardsLandOnOneRow) {
  for (ClusterGradient g : {CLUSTER_GRADIENT_MEAN, CLUSTER_GRADIENT_SUM}) {
    const std::string table = g == CLUSTER_GRADIENT_MEAN ? "mean" : "sum";
    Compress(table, g);
    // Keys 3, 11 and 19 share group 3 and (with 2+ shards) live on
    // different shards; key 3 is pushed twice (summed first, as ever).
    const std::vector<uint64_t> keys = {Key(1, 3), Key(1, 11), Key(1, 19),
                                        Key(1, 3)};
    std::vector<float> before(kDim);
    ASSERT_TRUE(client()->Pull(table, {Key(1, 3)}, kDim, before.data()).ok());
    std::vector<float> grads(keys.size() * kDim);
    for (size_t i = 0; i < grads.size(); ++i) grads[i] = 0.25f * (i / kDim + 1);
    ASSERT_TRUE(client()->Push(table, keys, grads, kDim).ok());
    // Per key: 3 -> 0.25 + 1.0, 11 -> 0.5, 19 -> 0.75; three distinct keys.
    const float sum = (0.25f + 1.0f) + 0.5f + 0.75f;
    const float step = g == CLUSTER_GRADIENT_MEAN ? sum * (1.0f / 3) : sum;
    std::vector<float> after(3 * kDim);
    ASSERT_TRUE(client()
                    ->Pull(table, {Key(1, 3), Key(1, 11), Key(1, 19)}, kDim,
                           after.data())
                    .ok());
    for (size_t j = 0; j < after.size(); ++j) {
      EXPECT_FLOAT_EQ(after[j], before[j % kDim] - step) << table << " " << j;
    }
  }
}

TEST_P(ClusterWideTest, UnresolvedRequestsAreRefusedAndTheClientRetries) {
  Compress("emb", CLUSTER_GRADIENT_MEAN);
  // A raw unresolved pull: FAILED_PRECONDITION.
  auto channel = grpc::CreateChannel(shards_->addresses()[0],
                                     grpc::InsecureChannelCredentials());
  auto stub = EmbeddingService::NewStub(channel);
  PullRequest req;
  req.set_table("emb");
  uint64_t key = 0;
  for (int i = 0; i < kFeatures; ++i) {
    key = Key(1, i);
    if (client()->router().ShardForKey(key) == 0) break;
  }
  req.set_keys(&key, sizeof(key));
  PullResponse resp;
  grpc::ClientContext ctx;
  const grpc::Status s = stub->Pull(&ctx, req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(s.error_message().find("resolve keys first"), std::string::npos)
      << s.error_message();
  // A fresh client does not know the table is cluster-wide: refused once,
  // it learns it from ListTables and retries.
  auto fresh = PsClient::Connect(shards_->addresses());
  ASSERT_TRUE(fresh.ok());
  std::vector<float> a(kDim), b(kDim);
  ASSERT_TRUE((*fresh)->Pull("emb", {key}, kDim, a.data()).ok());
  ASSERT_TRUE(client()->Pull("emb", {key}, kDim, b.data()).ok());
  EXPECT_EQ(a, b);
  auto pusher = PsClient::Connect(shards_->addresses());
  ASSERT_TRUE(pusher.ok());
  EXPECT_TRUE(
      (*pusher)->Push("emb", {key}, std::vector<float>(kDim, 1.f), kDim).ok());
  ASSERT_TRUE(client()->Pull("emb", {key}, kDim, b.data()).ok());
  EXPECT_FLOAT_EQ(b[0], a[0] - 1.f);
}

TEST_P(ClusterWideTest, NewKeysResolveToThemselvesAndTrainTheirOwnRows) {
  Compress("emb", CLUSTER_GRADIENT_MEAN);
  const std::vector<uint64_t> keys = {Key(1, 100000), Key(3, 7)};
  auto resolved = client()->Resolve("emb", keys);
  ASSERT_TRUE(resolved.ok()) << resolved.status();
  EXPECT_EQ(*resolved, keys);
  ASSERT_TRUE(
      client()
          ->Push("emb", keys, std::vector<float>(2 * kDim, -2.f), kDim)
          .ok());
  std::vector<float> out(2 * kDim);
  ASSERT_TRUE(client()->Pull("emb", keys, kDim, out.data()).ok());
  EXPECT_EQ(out, std::vector<float>(2 * kDim, 2.f));
  // A key of the reserved field (255) is refused.
  EXPECT_EQ(client()->Resolve("emb", {Key(255, 1)}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_P(ClusterWideTest, ASecondCompressFoldsNewRowsIntoTheGlobalClusters) {
  Compress("emb", CLUSTER_GRADIENT_MEAN);
  const uint64_t fresh = Key(1, 100000);
  ASSERT_TRUE(
      client()->Push("emb", {fresh}, std::vector<float>(kDim, -2.f), kDim).ok());
  auto fold = client()->admin().CompressClusterWide("emb", Saec({}));
  ASSERT_TRUE(fold.ok()) << fold.status();
  ASSERT_TRUE(AllOk(*fold).ok()) << AllOk(*fold);
  auto resolved = client()->Resolve("emb", {fresh, Key(1, 0)});
  ASSERT_TRUE(resolved.ok()) << resolved.status();
  // (2, 2, 2, 2) is nearest group 0's centroid: the key of group 0's.
  EXPECT_NE((*resolved)[0], fresh);
  EXPECT_EQ((*resolved)[0], (*resolved)[1]);
  std::vector<float> out(2 * kDim);
  ASSERT_TRUE(
      client()->Pull("emb", {fresh, Key(1, 0)}, kDim, out.data()).ok());
  EXPECT_EQ(std::vector<float>(out.begin(), out.begin() + kDim),
            std::vector<float>(out.begin() + kDim, out.end()));
}

INSTANTIATE_TEST_SUITE_P(Shards, ClusterWideTest, ::testing::Values(1, 2, 3));

}  // namespace
}  // namespace strata
