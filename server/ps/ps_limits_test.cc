// A shard's limits seen through real gRPC (docs/limits.md): each refused
// request gets its exact code and a message naming the flag that raises the
// limit, the shard keeps serving, and nothing stored changes. Admin calls go
// through raw stubs so the tests see the shard's own statuses.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "proto/ps.grpc.pb.h"
#include "proto/rpc_util.h"
#include "server/client/ps_client.h"
#include "server/ps/ps_server.h"
#include "server/ps/testing/local_shards.h"

namespace strata {
namespace {

// 1 MiB messages: a payload of 1 MiB - 64 KiB = 983040 bytes, i.e. 60 rows
// of dim 4096.
constexpr int kSmallMessage = 1 << 20;
constexpr size_t kSmallPayload = (1 << 20) - (64 << 10);

// One in-process shard with `o`'s limits and a client whose message limit
// matches.
struct Shard {
  explicit Shard(PsServerOptions o = {}) {
    PsClientOptions c;
    c.max_message_bytes = o.max_message_bytes;
    auto started = testing::LocalShards::Start(1, o, c);
    EXPECT_TRUE(started.ok()) << started.status();
    shards = *std::move(started);
    auto channel = grpc::CreateCustomChannel(
        shards->addresses()[0], grpc::InsecureChannelCredentials(),
        DefaultChannelArguments(o.max_message_bytes));
    admin = AdminService::NewStub(channel);
    embedding = EmbeddingService::NewStub(channel);
  }
  PsClient* client() const { return shards->client(); }
  TableStore* store() const { return shards->server(0)->store(); }

  grpc::Status Create(const TableConfig& t) {
    CreateTableRequest req;
    *req.mutable_sparse() = t;
    return Call(req);
  }
  grpc::Status Create(const DenseConfig& d) {
    CreateTableRequest req;
    *req.mutable_dense() = d;
    return Call(req);
  }
  grpc::Status Call(const CreateTableRequest& req) {
    grpc::ClientContext ctx;
    CreateTableResponse resp;
    return admin->CreateTable(&ctx, req, &resp);
  }
  grpc::Status RawPull(const std::string& table,
                       const std::vector<uint64_t>& keys) {
    grpc::ClientContext ctx;
    PullRequest req;
    req.set_table(table);
    req.set_keys(PackU64(keys));
    PullResponse resp;
    return embedding->Pull(&ctx, req, &resp);
  }

  std::unique_ptr<testing::LocalShards> shards;
  std::unique_ptr<AdminService::Stub> admin;
  std::unique_ptr<EmbeddingService::Stub> embedding;
};

PsServerOptions SmallMessages() {
  PsServerOptions o;
  o.max_message_bytes = kSmallMessage;
  return o;
}

TableConfig Sparse(const std::string& name, uint32_t dim) {
  TableConfig t;
  t.set_name(name);
  t.set_dim(dim);
  t.mutable_optimizer()->set_type(OptimizerConfig::SGD);
  t.mutable_optimizer()->set_learning_rate(1.f);
  return t;
}

DenseConfig Dense(const std::string& name, uint64_t size) {
  DenseConfig d;
  d.set_name(name);
  d.set_size(size);
  d.mutable_optimizer()->set_type(OptimizerConfig::SGD);
  d.mutable_optimizer()->set_learning_rate(1.f);
  return d;
}

void ExpectStatus(const grpc::Status& s, grpc::StatusCode code,
                  const std::string& words) {
  EXPECT_EQ(s.error_code(), code) << s.error_message();
  EXPECT_NE(s.error_message().find(words), std::string::npos)
      << s.error_message();
}

std::vector<uint64_t> Keys(uint64_t n) {
  std::vector<uint64_t> keys(n);
  for (uint64_t k = 0; k < n; ++k) keys[k] = k * 7 + 1;
  return keys;
}

TEST(PsLimitsTest, PullOverTheResponseLimitIsRefusedBeforeAllocating) {
  Shard shard(SmallMessages());
  ASSERT_TRUE(shard.Create(Sparse("wide", 4096)).ok());
  ExpectStatus(shard.RawPull("wide", Keys(61)),
               grpc::StatusCode::RESOURCE_EXHAUSTED,
               absl::StrCat("table wide: pull of 61 keys x dim 4096 = ",
                            61 * 4096 * 4, " bytes exceeds the ",
                            kSmallPayload,
                            "-byte response limit (--max_message_mb); split "
                            "the batch"));
  EXPECT_EQ((*shard.store()->GetSparse("wide"))->rows(), 0u)
      << "the refused pull created nothing";
  EXPECT_TRUE(shard.RawPull("wide", Keys(60)).ok());
  EXPECT_EQ((*shard.store()->GetSparse("wide"))->rows(), 60u);
}

TEST(PsLimitsTest, ClientSplitsWideRowsToFitTheMessageLimit) {
  Shard shard(SmallMessages());
  ASSERT_TRUE(shard.Create(Sparse("wide", 4096)).ok());
  // 500 keys x 16 KiB: 8 MiB each way, sent as requests of at most 59 keys.
  const std::vector<uint64_t> keys = Keys(500);
  std::vector<float> grads(keys.size() * 4096);
  for (size_t i = 0; i < keys.size(); ++i) {
    for (size_t d = 0; d < 4096; ++d) grads[i * 4096 + d] = float(i + d % 3);
  }
  ASSERT_TRUE(shard.client()->Push("wide", keys, grads, 4096).ok());
  std::vector<float> out(grads.size());
  ASSERT_TRUE(shard.client()->Pull("wide", keys, 4096, out.data()).ok());
  for (size_t i = 0; i < out.size(); ++i) {
    ASSERT_EQ(out[i], -grads[i]) << "float " << i;
  }
  EXPECT_EQ((*shard.store()->GetSparse("wide"))->rows(), 500u);
}

TEST(PsLimitsTest, DenseTensorThatCanBeCreatedCanBePulledAndPushed) {
  Shard shard(SmallMessages());
  const uint64_t fits = kSmallPayload / sizeof(float);
  ExpectStatus(shard.Create(Dense("big", fits + 1)),
               grpc::StatusCode::INVALID_ARGUMENT,
               absl::StrCat("dense tensor big: ", fits + 1,
                            " elements exceed the ", fits,
                            " one message can carry (--max_message_mb)"));
  ASSERT_TRUE(shard.Create(Dense("w", fits)).ok());
  std::vector<float> w;
  ASSERT_TRUE(shard.client()->PullDense("w", 0, &w).ok());
  ASSERT_EQ(w.size(), fits);
  auto step = shard.client()->PushDense("w", std::vector<float>(fits, 2.f),
                                        0, 0);
  ASSERT_TRUE(step.ok()) << step.status();
  ASSERT_TRUE(shard.client()->PullDense("w", 0, &w).ok());
  EXPECT_EQ(w[fits - 1], -2.f);
  EXPECT_EQ(shard.store()->List().size(), 1u);
}

TEST(PsLimitsTest, FullMemoryBudgetRefusesGrowthAndKeepsServing) {
  PsServerOptions o;
  o.max_memory_bytes = 100000;
  Shard shard(o);
  ExpectStatus(shard.Create(Dense("w", 30000)),
               grpc::StatusCode::RESOURCE_EXHAUSTED,
               "dense tensor w: 120000 bytes do not fit the shard's memory "
               "budget (0 of 100000 bytes in use; --max_memory_bytes)");
  // Dim 16 with SGD: 122 bytes a row, 819 rows fit.
  ASSERT_TRUE(shard.Create(Sparse("emb", 16)).ok());
  const std::vector<uint64_t> keys = Keys(800);
  ASSERT_TRUE(
      shard.client()->Push("emb", keys, std::vector<float>(800 * 16, 1.f), 16)
          .ok());
  const std::vector<uint64_t> more = {100001, 100002, 100003, 100004,
                                      100005, 100006, 100007, 100008,
                                      100009, 100010, 100011, 100012,
                                      100013, 100014, 100015, 100016,
                                      100017, 100018, 100019, 100020};
  const absl::Status s =
      shard.client()->Push("emb", more, std::vector<float>(20 * 16, 1.f), 16);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  EXPECT_NE(s.message().find("--max_memory_bytes"), std::string::npos) << s;
  // Nothing was created; existing rows still train and serve.
  EXPECT_EQ((*shard.store()->GetSparse("emb"))->rows(), 800u);
  ASSERT_TRUE(
      shard.client()->Push("emb", keys, std::vector<float>(800 * 16, 1.f), 16)
          .ok());
  std::vector<float> out(800 * 16);
  ASSERT_TRUE(shard.client()->Pull("emb", keys, 16, out.data()).ok());
  EXPECT_EQ(out[0], -2.f);
  EXPECT_EQ(shard.store()->memory_budget().used(), 800u * 122);
}

TEST(PsLimitsTest, TableNamesAndCountAreBounded) {
  PsServerOptions o;
  o.max_tables = 2;
  Shard shard(o);
  ExpectStatus(shard.Create(Sparse("no spaces", 4)),
               grpc::StatusCode::INVALID_ARGUMENT,
               "sparse table name 'no spaces' may hold only letters, digits "
               "and _ . : / -");
  ExpectStatus(shard.Create(Dense(std::string(200, 'd'), 4)),
               grpc::StatusCode::INVALID_ARGUMENT,
               "dense tensor name is 200 bytes; it must be 1 to 128");
  ASSERT_TRUE(shard.Create(Sparse("a", 4)).ok());
  ASSERT_TRUE(shard.Create(Dense("w", 4)).ok());
  ExpectStatus(shard.Create(Sparse("b", 4)),
               grpc::StatusCode::RESOURCE_EXHAUSTED,
               "shard 0 holds 2 tables and dense tensors, its limit "
               "(--max_tables)");
  EXPECT_EQ(shard.store()->List().size(), 2u);
  std::vector<float> out(4);
  EXPECT_TRUE(shard.client()->Pull("a", {1}, 4, out.data()).ok());
}

TEST(PsLimitsTest, MessageLimitMustLeaveRoomForAPayload) {
  PsServerOptions o;
  o.max_message_bytes = 64 << 10;
  const absl::Status s = PsServer::Start(o).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(),
            "max_message_bytes 65536 leaves no room for a payload; it must "
            "exceed 65536");
}

}  // namespace
}  // namespace strata
