// A shard's limits seen through real gRPC (docs/limits.md): each refused
// request gets its exact code and a message naming the flag that raises the
// limit, the shard keeps serving, and nothing stored changes. Admin calls go
// through raw stubs so the tests see the shard's own statuses.
#include <limits>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "proto/ps.grpc.pb.h"
#include "proto/rpc_util.h"
#include "server/client/ps_client.h"
#include "server/ps/ps_server.h"
#include "server/ps/testing/local_shards.h"
#include "server/storage/dense_table.h"

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
    dense = DenseService::NewStub(channel);
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

  grpc::Status RawDensePull(const DensePullRequest& req,
                            DensePullResponse* resp) {
    grpc::ClientContext ctx;
    return dense->Pull(&ctx, req, resp);
  }
  grpc::Status RawDensePush(const DensePushRequest& req) {
    grpc::ClientContext ctx;
    DensePushResponse resp;
    return dense->Push(&ctx, req, &resp);
  }
  // The stored tensor's values, whole, read in-process.
  std::vector<float> StoredValues(const std::string& name) {
    std::vector<float> v;
    (*store()->GetDense(name))
        ->Visit([&v](absl::Span<const float> values, absl::Span<const float>,
                     int64_t) { v.assign(values.begin(), values.end()); });
    return v;
  }

  std::unique_ptr<testing::LocalShards> shards;
  std::unique_ptr<AdminService::Stub> admin;
  std::unique_ptr<EmbeddingService::Stub> embedding;
  std::unique_ptr<DenseService::Stub> dense;
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

// Floats of one 1 MiB message: larger tensors travel in chunks.
constexpr uint64_t kFits = kSmallPayload / sizeof(float);

// Distinct, exactly representable gradients (SGD at lr 1 from zeros stores
// exactly their negation).
std::vector<float> Ramp(uint64_t n, float scale) {
  std::vector<float> g(n);
  for (uint64_t i = 0; i < n; ++i) g[i] = scale * float(int(i % 1001) - 500);
  return g;
}

std::vector<float> Negated(std::vector<float> v) {
  for (float& x : v) x = -x;
  return v;
}

DensePullRequest PullOf(const std::string& name, uint64_t offset,
                        uint64_t count) {
  DensePullRequest req;
  req.set_name(name);
  req.set_offset(offset);
  req.set_count(count);
  return req;
}

DensePushRequest PushOf(const std::string& name, uint64_t offset,
                        uint64_t count, const std::vector<float>& grads) {
  DensePushRequest req;
  req.set_name(name);
  req.set_offset(offset);
  req.set_count(count);
  req.set_gradients(PackF32(grads));
  return req;
}

TEST(PsLimitsTest, DenseTensorLargerThanOneMessageRoundTripsInChunks) {
  Shard shard(SmallMessages());
  const uint64_t size = 2 * kFits + kFits / 2 + 3;  // 3 chunks, 2.4 MB
  ASSERT_TRUE(shard.Create(Dense("w", size)).ok())
      << "the message limit no longer bounds a tensor";
  std::vector<float> w;
  auto step = shard.client()->PullDense("w", 0, &w);
  ASSERT_TRUE(step.ok()) << step.status();
  EXPECT_EQ(*step, 0);
  EXPECT_EQ(w, std::vector<float>(size, 0.f));
  const std::vector<float> g = Ramp(size, 0.25f);
  step = shard.client()->PushDense("w", g, 0, 0);
  ASSERT_TRUE(step.ok()) << step.status();
  EXPECT_EQ(*step, 1) << "a tensor pushed in chunks is one update";
  step = shard.client()->PullDense("w", 0, &w);
  ASSERT_TRUE(step.ok()) << step.status();
  EXPECT_EQ(*step, 1);
  EXPECT_EQ(w, Negated(g)) << "bit for bit";
  EXPECT_EQ(shard.StoredValues("w"), Negated(g));
  // A tensor that fits one message still takes one.
  ASSERT_TRUE(shard.Create(Dense("small", kFits)).ok());
  ASSERT_TRUE(shard.client()->PushDense("small", Ramp(kFits, 1.f), 0, 0).ok());
  ASSERT_TRUE(shard.client()->PullDense("small", 0, &w).ok());
  EXPECT_EQ(w, Negated(Ramp(kFits, 1.f)));
  // A chunked push of the wrong length is refused before any chunk lands.
  const absl::Status s =
      shard.client()->PushDense("w", Ramp(size - 1, 1.f), 0, 0).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_EQ(s.message(), absl::StrCat("PushDense(w): ", size - 1,
                                      " gradient floats for a tensor of ", size,
                                      " elements"));
  EXPECT_EQ(shard.StoredValues("w"), Negated(g));
}

TEST(PsLimitsTest, ClientWithASmallerMessageLimitPullsInChunks) {
  PsServerOptions o;  // 256 MiB messages on the shard
  o.max_memory_bytes = uint64_t{64} << 20;
  auto started = testing::LocalShards::Start(1, o, [] {
    PsClientOptions c;
    c.max_message_bytes = kSmallMessage;
    return c;
  }());
  ASSERT_TRUE(started.ok()) << started.status();
  PsClient* client = (*started)->client();
  const uint64_t size = 3 * kFits;
  ASSERT_TRUE(client->admin().CreateDense(Dense("w", size), false).ok());
  const std::vector<float> g = Ramp(size, 0.5f);
  ASSERT_TRUE(client->PushDense("w", g, 0, 0).ok());
  std::vector<float> w;
  // The shard answers the whole tensor; this client's gRPC refuses it
  // (RESOURCE_EXHAUSTED) and the client falls back to chunks.
  auto step = client->PullDense("w", 0, &w);
  ASSERT_TRUE(step.ok()) << step.status();
  EXPECT_EQ(*step, 1);
  EXPECT_EQ(w, Negated(g));
}

TEST(PsLimitsTest, BspWorkersPushingInChunksAdvanceTheStepOnce) {
  Shard shard(SmallMessages());
  const uint64_t size = 2 * kFits + 5;
  DenseConfig d = Dense("w", size);
  d.set_sync(BSP);
  d.set_num_workers(2);
  ASSERT_TRUE(shard.Create(d).ok());
  const std::vector<std::vector<float>> g = {Ramp(size, 0.5f),
                                             Ramp(size, -1.5f)};
  // The same step through one-message pushes, in-process.
  auto one_message = DenseTable::Create(d);
  ASSERT_TRUE(one_message.ok()) << one_message.status();
  ASSERT_TRUE((*one_message)->Push(g[0], 0, 0).ok());
  ASSERT_TRUE((*one_message)->Push(g[1], 0, 1).ok());
  std::vector<float> expected;
  (*one_message)
      ->Visit([&](absl::Span<const float> v, absl::Span<const float>, int64_t) {
        expected.assign(v.begin(), v.end());
      });

  std::vector<float> pulled;
  absl::StatusOr<int64_t> pulled_step;
  std::thread reader(
      [&] { pulled_step = shard.client()->PullDense("w", 1, &pulled); });
  std::vector<std::thread> workers;
  for (uint32_t w = 0; w < 2; ++w) {
    workers.emplace_back([&, w] {
      auto step = shard.client()->PushDense("w", g[w], 0, w);
      EXPECT_TRUE(step.ok()) << step.status();
    });
  }
  for (std::thread& t : workers) t.join();
  reader.join();
  ASSERT_TRUE(pulled_step.ok()) << pulled_step.status();
  EXPECT_EQ(*pulled_step, 1);
  EXPECT_EQ((*shard.store()->GetDense("w"))->step(), 1);
  EXPECT_EQ(pulled, expected);
  // Both workers may push step 1; a push for step 0 is refused.
  const absl::Status s = shard.client()->PushDense("w", g[0], 0, 0).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
}

TEST(PsLimitsTest, BadDenseRangesGetExactCodesAndChangeNothing) {
  Shard shard(SmallMessages());
  const uint64_t size = kFits + 10;
  ASSERT_TRUE(shard.Create(Dense("w", size)).ok());
  ASSERT_TRUE(shard.client()->PushDense("w", Ramp(size, 1.f), 0, 0).ok());
  const std::vector<float> before = shard.StoredValues("w");
  const uint64_t max = std::numeric_limits<uint64_t>::max();
  DensePullResponse resp;
  for (const auto& [offset, count] : std::vector<std::pair<uint64_t, uint64_t>>{
           {size, 0}, {0, size + 1}, {size - 1, 2}, {max, 2}, {1, max}}) {
    ExpectStatus(shard.RawDensePull(PullOf("w", offset, count), &resp),
                 grpc::StatusCode::OUT_OF_RANGE,
                 absl::StrCat("dense tensor w has ", size, " elements; offset ",
                              offset, ", count ", count, " is outside them"));
    ExpectStatus(shard.RawDensePush(PushOf("w", offset, count, {1.f})),
                 grpc::StatusCode::OUT_OF_RANGE, "is outside them");
  }
  ExpectStatus(
      shard.RawDensePull(PullOf("w", 0, 0), &resp),
      grpc::StatusCode::RESOURCE_EXHAUSTED,
      absl::StrCat("dense tensor w elements [0, ", size, ") of ", size, " = ",
                   size * 4, " bytes exceeds the ", kSmallPayload,
                   "-byte response limit (--max_message_mb); pull "
                   "it in chunks (offset, count)"));
  ExpectStatus(shard.RawDensePull(PullOf("w", 5, kFits + 1), &resp),
               grpc::StatusCode::RESOURCE_EXHAUSTED, "response limit");
  ExpectStatus(shard.RawDensePush(PushOf("w", 4, 3, {1.f, 2.f})),
               grpc::StatusCode::INVALID_ARGUMENT,
               "dense tensor w: elements [4, 7) need 3 gradient floats, got 2");
  ExpectStatus(shard.RawDensePush(PushOf(
                   "w", 4, 2, {1.f, std::numeric_limits<float>::quiet_NaN()})),
               grpc::StatusCode::INVALID_ARGUMENT,
               "dense tensor w, chunk at offset 4: gradient 1 is not finite");
  ExpectStatus(shard.RawDensePush(PushOf("w", 4, 2, {1.f, 1e20f})),
               grpc::StatusCode::INVALID_ARGUMENT, "--max_abs_gradient");
  EXPECT_EQ(shard.StoredValues("w"), before);
  EXPECT_EQ((*shard.store()->GetDense("w"))->step(), 1);
  // A range inside the tensor and the limit is served, with the size.
  ASSERT_TRUE(shard.RawDensePull(PullOf("w", size - 3, 0), &resp).ok());
  EXPECT_EQ(resp.size(), size);
  EXPECT_EQ(resp.step(), 1);
  std::vector<float> tail;
  UnpackF32(resp.values(), &tail);
  EXPECT_EQ(tail, std::vector<float>(before.end() - 3, before.end()));
}

TEST(PsLimitsTest, BspChunkOutOfOrderOrRepeatedIsRefused) {
  Shard shard(SmallMessages());
  DenseConfig d = Dense("w", 6);
  d.set_sync(BSP);
  d.set_num_workers(1);
  ASSERT_TRUE(shard.Create(d).ok());
  ASSERT_TRUE(shard.RawDensePush(PushOf("w", 0, 2, {1.f, 1.f})).ok());
  ExpectStatus(shard.RawDensePush(PushOf("w", 4, 2, {1.f, 1.f})),
               grpc::StatusCode::FAILED_PRECONDITION,
               "worker 0's chunks of step 0 of dense tensor w must arrive in "
               "order: expected offset 2, got 4");
  ExpectStatus(shard.RawDensePush(PushOf("w", 0, 2, {1.f, 1.f})),
               grpc::StatusCode::ALREADY_EXISTS,
               "worker 0 already pushed elements [0, 2) of step 0");
  EXPECT_EQ((*shard.store()->GetDense("w"))->step(), 0);
  ASSERT_TRUE(shard.RawDensePush(PushOf("w", 2, 0, {2.f, 2.f, 2.f, 2.f})).ok());
  EXPECT_EQ((*shard.store()->GetDense("w"))->step(), 1);
  EXPECT_EQ(shard.StoredValues("w"),
            (std::vector<float>{-1, -1, -2, -2, -2, -2}));
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
