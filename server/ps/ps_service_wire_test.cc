// The shard's zero-copy Pull (PullToWire, what gRPC calls) against the
// proto path (Pull): the same bytes for every request and the same exact
// error codes for malformed ones. The in-place Push (PushFromWire, what
// gRPC calls) against the proto path (Push): the same rows, responses and
// exact error codes.
#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "gtest/gtest.h"
#include "proto/ps.pb.h"
#include "proto/rpc_util.h"
#include "server/ps/payload_wire.h"
#include "server/ps/ps_service.h"
#include "server/storage/table_store.h"

namespace strata {
namespace {

TableConfig Sparse(const std::string& name, uint32_t dim) {
  TableConfig c;
  c.set_name(name);
  c.set_dim(dim);
  c.mutable_initializer()->set_type(InitializerConfig::UNIFORM);
  c.mutable_initializer()->set_low(-0.1f);
  c.mutable_initializer()->set_high(0.1f);
  c.mutable_initializer()->set_seed(5);
  c.mutable_optimizer()->set_type(OptimizerConfig::SGD);
  c.mutable_optimizer()->set_learning_rate(0.05f);
  return c;
}

class PullToWireTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = *TableStore::Create(TableStore::Options());
    ASSERT_TRUE(store_->CreateSparse(Sparse("emb", 16), false).ok());
    ASSERT_TRUE(store_->CreateSparse(Sparse("wide", 300), false).ok());
    PsServiceOptions so;
    so.max_batch_keys = 5000;
    so.max_response_bytes = 4000 * 16 * sizeof(float);
    service_ = std::make_unique<EmbeddingServiceImpl>(store_.get(), so);
  }

  PullRequest Request(const std::string& table, size_t n) {
    std::vector<uint64_t> keys(n);
    for (size_t i = 0; i < n; ++i) keys[i] = (i * 7919) % (n / 2 + 1);
    PullRequest req;
    req.set_table(table);
    req.set_keys(PackU64(keys));
    req.set_count_frequency(true);
    return req;
  }

  std::unique_ptr<TableStore> store_;
  std::unique_ptr<EmbeddingServiceImpl> service_;
  grpc::ServerContext ctx_;
};

TEST_F(PullToWireTest, AnswersTheBytesOfTheProtoPath) {
  for (const auto& [table, n] : std::vector<std::pair<std::string, size_t>>{
           {"emb", 1}, {"emb", 3}, {"emb", 4000}, {"wide", 1}, {"wide", 77}}) {
    const PullRequest req = Request(table, n);
    PullResponse proto;
    ASSERT_TRUE(service_->Pull(&ctx_, &req, &proto).ok());
    grpc::ByteBuffer wire;
    ASSERT_TRUE(service_->PullToWire(&ctx_, &req, &wire).ok());
    EXPECT_EQ(WireBytes(wire), proto.SerializeAsString()) << table << " " << n;
    EXPECT_EQ(proto.values().size(), n * proto.dim() * sizeof(float));
  }
}

TEST_F(PullToWireTest, RefusesWhatTheProtoPathRefusesWithTheSameCode) {
  std::vector<std::pair<PullRequest, grpc::StatusCode>> cases;
  PullRequest r = Request("emb", 3);
  r.set_table("missing");
  cases.push_back({r, grpc::NOT_FOUND});
  r = Request("emb", 3);
  r.mutable_keys()->pop_back();  // not a multiple of 8 bytes
  cases.push_back({r, grpc::INVALID_ARGUMENT});
  r.clear_keys();  // empty batch
  cases.push_back({r, grpc::INVALID_ARGUMENT});
  cases.push_back({Request("emb", 5001), grpc::INVALID_ARGUMENT});    // keys
  cases.push_back({Request("emb", 4001), grpc::RESOURCE_EXHAUSTED});  // bytes
  for (const auto& [req, code] : cases) {
    PullResponse proto;
    const grpc::Status p = service_->Pull(&ctx_, &req, &proto);
    grpc::ByteBuffer wire;
    const grpc::Status w = service_->PullToWire(&ctx_, &req, &wire);
    EXPECT_EQ(p.error_code(), code) << p.error_message();
    EXPECT_EQ(w.error_code(), code) << w.error_message();
    EXPECT_EQ(w.error_message(), p.error_message());
    EXPECT_FALSE(wire.Valid());
  }
}

// `bytes` cut into slices of `piece` bytes, as gRPC may receive them.
grpc::ByteBuffer Sliced(const std::string& bytes, size_t piece) {
  std::vector<grpc::Slice> slices;
  for (size_t i = 0; i < bytes.size(); i += piece) {
    slices.emplace_back(bytes.data() + i, std::min(piece, bytes.size() - i));
  }
  return grpc::ByteBuffer(slices.data(), slices.size());
}

// Two shards with the same tables: one pushed to through Push, the other
// through PushFromWire.
class PushFromWireTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (auto& shard : shards_) {
      TableStore::Options o;
      o.max_memory_bytes = uint64_t{64} << 20;
      shard.store = *TableStore::Create(o);
      ASSERT_TRUE(shard.store->CreateSparse(Sparse("emb", 16), false).ok());
      ASSERT_TRUE(shard.store->CreateSparse(Sparse("wide", 300), false).ok());
      PsServiceOptions so;
      so.max_batch_keys = 5000;
      shard.service =
          std::make_unique<EmbeddingServiceImpl>(shard.store.get(), so);
    }
  }

  static PushRequest Request(const std::string& table, size_t n, uint32_t dim,
                             uint64_t client, uint64_t seq) {
    std::vector<uint64_t> keys(n);
    std::vector<float> grads(n * dim);
    for (size_t i = 0; i < n; ++i) keys[i] = (i * 7919) % (n / 2 + 1);
    for (size_t i = 0; i < grads.size(); ++i) grads[i] = 0.01f * (i % 17);
    PushRequest req;
    req.set_table(table);
    req.set_keys(PackU64(keys));
    req.set_gradients(PackF32(grads));
    req.set_client_id(client);
    req.set_sequence(seq);
    return req;
  }

  // Pushes `req` both ways (the wire one in slices of `piece` bytes); the
  // two codes and messages must agree; returns the code.
  grpc::StatusCode PushBoth(const PushRequest& req, size_t piece,
                            PushResponse* proto_resp = nullptr) {
    PushResponse p_resp;
    const grpc::Status p = shards_[0].service->Push(&ctx_, &req, &p_resp);
    return Compare(p, p_resp, Sliced(req.SerializeAsString(), piece),
                   proto_resp);
  }
  grpc::StatusCode Compare(const grpc::Status& p, const PushResponse& p_resp,
                           const grpc::ByteBuffer& wire,
                           PushResponse* proto_resp) {
    PushResponse w_resp;
    const grpc::Status w =
        shards_[1].service->PushFromWire(&ctx_, &wire, &w_resp);
    EXPECT_EQ(w.error_code(), p.error_code()) << w.error_message();
    EXPECT_EQ(w.error_message(), p.error_message());
    EXPECT_EQ(w_resp.SerializeAsString(), p_resp.SerializeAsString());
    if (proto_resp != nullptr) *proto_resp = p_resp;
    return p.error_code();
  }

  // Every row of `table` on shard i, by key.
  std::map<uint64_t, std::vector<float>> Rows(int i, const std::string& t) {
    std::map<uint64_t, std::vector<float>> rows;
    auto table = shards_[i].store->GetSparse(t);
    EXPECT_TRUE(table.ok());
    const size_t dim = (*table)->dim();
    (*table)->ForEachRow([&](uint64_t key, const float* v, const float*,
                             int64_t,
                             uint64_t) { rows[key].assign(v, v + dim); });
    return rows;
  }

  struct Shard {
    std::unique_ptr<TableStore> store;
    std::unique_ptr<EmbeddingServiceImpl> service;
  };
  Shard shards_[2];
  grpc::ServerContext ctx_;
};

TEST_F(PushFromWireTest, AppliesWhatTheProtoPathApplies) {
  uint64_t seq = 0;
  for (size_t piece : {size_t{7}, size_t{4096}, size_t{1} << 30}) {
    for (const auto& [table, n, dim] :
         std::vector<std::tuple<std::string, size_t, uint32_t>>{
             {"emb", 1, 16}, {"emb", 4000, 16}, {"wide", 77, 300}}) {
      PushResponse resp;
      ASSERT_EQ(PushBoth(Request(table, n, dim, 42, ++seq), piece, &resp),
                grpc::OK);
      EXPECT_EQ(resp.applied(), n);
      EXPECT_FALSE(resp.duplicate());
    }
  }
  EXPECT_EQ(Rows(0, "emb"), Rows(1, "emb"));
  EXPECT_EQ(Rows(0, "wide"), Rows(1, "wide"));
  EXPECT_EQ(shards_[0].store->updates().applied(),
            shards_[1].store->updates().applied());
  // The same request id again: a duplicate both ways, nothing applied.
  PushResponse resp;
  ASSERT_EQ(PushBoth(Request("emb", 10, 16, 42, seq - 1), 64, &resp), grpc::OK);
  EXPECT_TRUE(resp.duplicate());
  EXPECT_EQ(Rows(0, "wide"), Rows(1, "wide"));
}

TEST_F(PushFromWireTest, RefusesWhatTheProtoPathRefusesWithTheSameCode) {
  std::vector<std::pair<PushRequest, grpc::StatusCode>> cases;
  PushRequest r = Request("emb", 3, 16, 0, 0);
  r.set_table("missing");
  cases.push_back({r, grpc::NOT_FOUND});
  r = Request("emb", 3, 16, 0, 0);
  r.mutable_keys()->pop_back();  // not a multiple of 8 bytes
  cases.push_back({r, grpc::INVALID_ARGUMENT});
  r = Request("emb", 3, 16, 0, 0);
  r.mutable_gradients()->pop_back();  // not a multiple of 4 bytes
  cases.push_back({r, grpc::INVALID_ARGUMENT});
  r = Request("emb", 3, 16, 0, 0);
  r.mutable_gradients()->resize(r.gradients().size() - 4);  // one float short
  cases.push_back({r, grpc::INVALID_ARGUMENT});
  r.clear_keys();  // empty batch
  cases.push_back({r, grpc::INVALID_ARGUMENT});
  cases.push_back({Request("emb", 5001, 16, 0, 0), grpc::INVALID_ARGUMENT});
  for (float bad : {std::nanf(""), INFINITY, -1e30f}) {
    r = Request("emb", 3, 16, 0, 0);
    std::memcpy(r.mutable_gradients()->data() + 4 * 20, &bad, 4);
    cases.push_back({r, grpc::INVALID_ARGUMENT});
  }
  r = Request("emb", 3, 16, 0, 7);  // a sequence without a client id
  cases.push_back({r, grpc::INVALID_ARGUMENT});
  for (const auto& [req, code] : cases) {
    for (size_t piece : {size_t{5}, size_t{1} << 30}) {
      EXPECT_EQ(PushBoth(req, piece), code) << req.table() << " " << piece;
    }
  }
  EXPECT_TRUE(Rows(0, "emb").empty());
  EXPECT_TRUE(Rows(1, "emb").empty());
}

// Bytes protobuf cannot parse: gRPC answers INTERNAL before calling Push;
// PushFromWire answers the same code.
TEST_F(PushFromWireTest, MalformedBytesAreInternalAsGrpcAnswers) {
  const std::string good = Request("emb", 4, 16, 0, 0).SerializeAsString();
  for (const std::string& wire :
       {good.substr(0, good.size() - 1), std::string("\x0a\x01\xff", 3),
        std::string("\x0f", 1)}) {
    PushRequest proto;
    ASSERT_FALSE(proto.ParseFromString(wire));
    const grpc::ByteBuffer message = Sliced(wire, 3);
    PushResponse resp;
    const grpc::Status w =
        shards_[1].service->PushFromWire(&ctx_, &message, &resp);
    EXPECT_EQ(w.error_code(), grpc::StatusCode::INTERNAL) << w.error_message();
  }
  EXPECT_TRUE(Rows(1, "emb").empty());
}

}  // namespace
}  // namespace strata
