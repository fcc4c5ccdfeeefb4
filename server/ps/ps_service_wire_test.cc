// The shard's zero-copy Pull (PullToWire, what gRPC calls) against the
// proto path (Pull): the same bytes for every request and the same exact
// error codes for malformed ones.
#include <cstring>
#include <memory>
#include <string>
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

}  // namespace
}  // namespace strata
