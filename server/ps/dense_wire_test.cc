// The shard's dense data plane as gRPC calls it (DenseServiceImpl's
// PullToWire and PushFromWire, payloads in gRPC slices) against the proto
// path (Pull, Push): the same response bytes, the same tensor values and
// steps, and the same exact codes and messages, for good requests, refused
// ones (lengths, NaN/Inf, |gradient| bounds, ranges, steps, request ids) and
// malformed bytes, at any slicing.
#include <cmath>
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

DenseConfig Dense(const std::string& name, uint64_t size,
                  OptimizerConfig::Type opt, SyncMode sync = ASYNC) {
  DenseConfig c;
  c.set_name(name);
  c.set_size(size);
  c.set_sync(sync);
  if (sync == BSP) c.set_num_workers(2);
  c.mutable_initializer()->set_type(InitializerConfig::UNIFORM);
  c.mutable_initializer()->set_low(-0.1f);
  c.mutable_initializer()->set_high(0.1f);
  c.mutable_initializer()->set_seed(3);
  c.mutable_optimizer()->set_type(opt);
  c.mutable_optimizer()->set_learning_rate(0.05f);
  return c;
}

// `bytes` cut into slices of `piece` bytes, as gRPC may receive them.
grpc::ByteBuffer Sliced(const std::string& bytes, size_t piece) {
  std::vector<grpc::Slice> slices;
  for (size_t i = 0; i < bytes.size(); i += piece) {
    slices.emplace_back(bytes.data() + i, std::min(piece, bytes.size() - i));
  }
  return grpc::ByteBuffer(slices.data(), slices.size());
}

// Two shards with the same tensors: shard 0 is called through the proto
// methods, shard 1 through the ones gRPC calls.
class DenseWireTest : public ::testing::Test {
 protected:
  // Larger than the block DenseTable reads (16,384 floats) at a time.
  static constexpr uint64_t kBig = 40000;

  void SetUp() override {
    for (auto& shard : shards_) {
      TableStore::Options o;
      o.max_memory_bytes = uint64_t{64} << 20;
      shard.store = *TableStore::Create(o);
      for (const DenseConfig& c :
           {Dense("sgd", kBig, OptimizerConfig::SGD),
            Dense("adagrad", kBig, OptimizerConfig::ADAGRAD),
            Dense("adam", 3000, OptimizerConfig::ADAM),
            Dense("bsp", 1000, OptimizerConfig::SGD, BSP)}) {
        ASSERT_TRUE(shard.store->CreateDense(c, false).ok()) << c.name();
      }
      PsServiceOptions so;
      so.max_response_bytes = kBig * sizeof(float);
      shard.service = std::make_unique<DenseServiceImpl>(shard.store.get(), so);
    }
  }

  static DensePushRequest Push(const std::string& name, size_t n,
                               uint64_t offset = 0, uint64_t count = 0) {
    std::vector<float> grads(n);
    for (size_t i = 0; i < n; ++i) grads[i] = 0.01f * (i % 17) - 0.05f;
    DensePushRequest req;
    req.set_name(name);
    req.set_gradients(PackF32(grads));
    req.set_offset(offset);
    req.set_count(count);
    return req;
  }

  // Pushes `req` both ways (the wire one in slices of `piece` bytes); the
  // codes, messages and responses must agree; returns the code.
  grpc::StatusCode PushBoth(const DensePushRequest& req, size_t piece,
                            DensePushResponse* resp = nullptr) {
    DensePushResponse p_resp;
    const grpc::Status p = shards_[0].service->Push(&ctx_, &req, &p_resp);
    const grpc::ByteBuffer wire = Sliced(req.SerializeAsString(), piece);
    DensePushResponse w_resp;
    const grpc::Status w =
        shards_[1].service->PushFromWire(&ctx_, &wire, &w_resp);
    EXPECT_EQ(w.error_code(), p.error_code()) << w.error_message();
    EXPECT_EQ(w.error_message(), p.error_message());
    EXPECT_EQ(w_resp.SerializeAsString(), p_resp.SerializeAsString());
    if (resp != nullptr) *resp = p_resp;
    return p.error_code();
  }

  // Values, optimizer state and step of tensor `name` on shard i.
  std::vector<float> Tensor(int i, const std::string& name) {
    auto t = shards_[i].store->GetDense(name);
    EXPECT_TRUE(t.ok());
    std::vector<float> out;
    (*t)->Visit([&](absl::Span<const float> v, absl::Span<const float> s,
                    int64_t step) {
      out.assign(v.begin(), v.end());
      out.insert(out.end(), s.begin(), s.end());
      out.push_back(static_cast<float>(step));
    });
    return out;
  }
  void ExpectSameTensors() {
    for (const char* name : {"sgd", "adagrad", "adam", "bsp"}) {
      EXPECT_EQ(Tensor(0, name), Tensor(1, name)) << name;
    }
    EXPECT_EQ(shards_[0].store->updates().applied(),
              shards_[1].store->updates().applied());
  }

  struct Shard {
    std::unique_ptr<TableStore> store;
    std::unique_ptr<DenseServiceImpl> service;
  };
  Shard shards_[2];
  grpc::ServerContext ctx_;
};

TEST_F(DenseWireTest, PushAppliesWhatTheProtoPathApplies) {
  uint64_t seq = 0;
  int64_t bsp_step = 0;
  for (size_t piece : {size_t{7}, size_t{4096}, size_t{65536}, size_t{1} << 30}) {
    for (const char* name : {"sgd", "adagrad"}) {
      DensePushRequest whole = Push(name, kBig);
      whole.set_client_id(42);
      whole.set_sequence(++seq);
      DensePushResponse resp;
      ASSERT_EQ(PushBoth(whole, piece, &resp), grpc::OK) << name;
      EXPECT_FALSE(resp.duplicate());
      // Chunks: the step advances with the last one.
      ASSERT_EQ(PushBoth(Push(name, 20000, 0, 20000), piece), grpc::OK);
      ASSERT_EQ(PushBoth(Push(name, kBig - 20000, 20000), piece), grpc::OK);
      ASSERT_EQ(PushBoth(Push(name, 1, 123, 1), piece), grpc::OK);
    }
    ASSERT_EQ(PushBoth(Push("adam", 3000), piece), grpc::OK);
    ASSERT_EQ(PushBoth(Push("adam", 1000, 500, 1000), piece), grpc::OK);
    DensePushResponse resp;
    DensePushRequest b = Push("bsp", 1000);
    b.set_step(bsp_step++);  // both workers' pushes complete the step
    b.set_worker(0);
    ASSERT_EQ(PushBoth(b, piece), grpc::OK);
    b.set_worker(1);
    ASSERT_EQ(PushBoth(b, piece, &resp), grpc::OK);
    EXPECT_EQ(resp.step(), bsp_step);
    ExpectSameTensors();
  }
  // The same request id again: a duplicate both ways, nothing applied.
  DensePushRequest again = Push("sgd", kBig);
  again.set_client_id(42);
  again.set_sequence(seq);
  DensePushResponse resp;
  ASSERT_EQ(PushBoth(again, 4096, &resp), grpc::OK);
  EXPECT_TRUE(resp.duplicate());
  ExpectSameTensors();
}

TEST_F(DenseWireTest, PushRefusesWhatTheProtoPathRefusesWithTheSameMessage) {
  std::vector<std::pair<DensePushRequest, grpc::StatusCode>> cases;
  DensePushRequest r = Push("sgd", kBig);
  r.set_name("missing");
  cases.push_back({r, grpc::NOT_FOUND});
  r = Push("sgd", kBig);
  r.mutable_gradients()->pop_back();  // not a multiple of 4 bytes
  cases.push_back({r, grpc::INVALID_ARGUMENT});
  cases.push_back({Push("sgd", kBig - 1), grpc::INVALID_ARGUMENT});  // short
  cases.push_back({Push("sgd", kBig + 1), grpc::INVALID_ARGUMENT});  // long
  cases.push_back({Push("sgd", 0), grpc::INVALID_ARGUMENT});         // empty
  cases.push_back({Push("sgd", 10, 5, 11), grpc::INVALID_ARGUMENT});
  cases.push_back({Push("sgd", 10, kBig, 10), grpc::OUT_OF_RANGE});
  cases.push_back({Push("sgd", 10, kBig - 5, 10), grpc::OUT_OF_RANGE});
  // Bad values at the start, in the middle of a block, at a block's first
  // and last float, at the end; whole tensors and chunks, every optimizer.
  for (const char* name : {"sgd", "adagrad", "adam"}) {
    const size_t n = std::string(name) == "adam" ? 3000 : kBig;
    for (size_t at : {size_t{0}, size_t{777}, size_t{16383}, size_t{16384},
                      n - 1}) {
      if (at >= n) continue;
      for (float bad : {std::nanf(""), INFINITY, -INFINITY, 1e30f}) {
        r = Push(name, n);
        std::memcpy(r.mutable_gradients()->data() + 4 * at, &bad, 4);
        cases.push_back({r, grpc::INVALID_ARGUMENT});
        if (at < n - 10) {
          r = Push(name, 10, at, 10);
          std::memcpy(r.mutable_gradients()->data() + 4 * 3, &bad, 4);
          cases.push_back({r, grpc::INVALID_ARGUMENT});
        }
      }
    }
  }
  r = Push("sgd", kBig);
  r.set_sequence(7);  // a sequence without a client id
  cases.push_back({r, grpc::INVALID_ARGUMENT});
  r = Push("bsp", 1000);
  r.set_step(5);  // not the tensor's step
  cases.push_back({r, grpc::FAILED_PRECONDITION});
  r = Push("bsp", 1000);
  r.set_worker(2);  // outside [0, num_workers)
  cases.push_back({r, grpc::INVALID_ARGUMENT});
  r = Push("bsp", 10, 10, 10);  // out of chunk order
  cases.push_back({r, grpc::FAILED_PRECONDITION});
  for (const auto& [req, code] : cases) {
    for (size_t piece : {size_t{5}, size_t{1} << 30}) {
      EXPECT_EQ(PushBoth(req, piece), code)
          << req.name() << " " << req.gradients().size() << " " << piece;
    }
  }
  ExpectSameTensors();
  EXPECT_EQ(shards_[1].store->updates().applied(), 0);
}

// Bytes protobuf cannot parse: gRPC answers INTERNAL before calling Push;
// PushFromWire answers the same code and applies nothing.
TEST_F(DenseWireTest, MalformedPushBytesAreInternalAsGrpcAnswers) {
  const std::string good = Push("sgd", kBig).SerializeAsString();
  for (const std::string& wire :
       {good.substr(0, good.size() - 1), std::string("\x0a\x01\xff", 3),
        std::string("\x0f", 1), std::string("\x12\x05" "abcd", 6)}) {
    DensePushRequest proto;
    ASSERT_FALSE(proto.ParseFromString(wire));
    const grpc::ByteBuffer message = Sliced(wire, 3);
    DensePushResponse resp;
    const grpc::Status w =
        shards_[1].service->PushFromWire(&ctx_, &message, &resp);
    EXPECT_EQ(w.error_code(), grpc::StatusCode::INTERNAL) << w.error_message();
  }
  ExpectSameTensors();
}

TEST_F(DenseWireTest, PullAnswersTheBytesOfTheProtoPath) {
  ASSERT_EQ(PushBoth(Push("sgd", kBig), 4096), grpc::OK);  // step 1
  for (const auto& [name, offset, count] :
       std::vector<std::tuple<std::string, uint64_t, uint64_t>>{
           {"sgd", 0, 0}, {"sgd", 5, 0}, {"sgd", 100, 1}, {"adam", 0, 0},
           {"bsp", 999, 1}}) {
    DensePullRequest req;
    req.set_name(name);
    req.set_offset(offset);
    req.set_count(count);
    DensePullResponse p_resp;
    ASSERT_TRUE(shards_[0].service->Pull(&ctx_, &req, &p_resp).ok());
    grpc::ByteBuffer w_resp;
    ASSERT_TRUE(shards_[0].service->PullToWire(&ctx_, &req, &w_resp).ok());
    EXPECT_EQ(WireBytes(w_resp), p_resp.SerializeAsString()) << name;
    DensePullResponseView view;
    ASSERT_TRUE(view.Parse(w_resp).ok());
    EXPECT_EQ(view.step(), p_resp.step());
  }
}

TEST_F(DenseWireTest, PullRefusesWhatTheProtoPathRefusesWithTheSameMessage) {
  TableStore::Options o;
  auto small_store = *TableStore::Create(o);
  ASSERT_TRUE(
      small_store->CreateDense(Dense("big", kBig + 1, OptimizerConfig::SGD),
                               false)
          .ok());
  PsServiceOptions so;
  so.max_response_bytes = kBig * sizeof(float);
  DenseServiceImpl small(small_store.get(), so);
  std::vector<std::pair<DensePullRequest, grpc::StatusCode>> cases;
  DensePullRequest r;
  r.set_name("missing");
  cases.push_back({r, grpc::NOT_FOUND});
  r.set_name("big");  // over the response limit
  cases.push_back({r, grpc::RESOURCE_EXHAUSTED});
  r.set_offset(kBig + 1);
  cases.push_back({r, grpc::OUT_OF_RANGE});
  r.set_offset(1);
  r.set_count(kBig + 1);
  cases.push_back({r, grpc::OUT_OF_RANGE});
  for (const auto& [req, code] : cases) {
    DensePullResponse p_resp;
    const grpc::Status p = small.Pull(&ctx_, &req, &p_resp);
    grpc::ByteBuffer w_resp;
    const grpc::Status w = small.PullToWire(&ctx_, &req, &w_resp);
    EXPECT_EQ(p.error_code(), code) << p.error_message();
    EXPECT_EQ(w.error_code(), code) << w.error_message();
    EXPECT_EQ(w.error_message(), p.error_message());
    EXPECT_EQ(p_resp.ByteSizeLong(), 0u);
  }
}

}  // namespace
}  // namespace strata
