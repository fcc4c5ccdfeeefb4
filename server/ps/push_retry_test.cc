// Pushes survive failures (docs/protocol.md, "Request ids" and "Retries"),
// through real gRPC on loopback: a push whose response is lost after the
// apply is retried and applied once (sparse, ASYNC and BSP dense, and across
// a shard restart from a checkpoint holding it); concurrent duplicates apply
// once; requests without ids behave as before; the shard's bounds on
// clients and sequences hold; a shard restarted during a stream of pushes
// costs the client no error; BSP workers carry on across a shard restarted
// from an older checkpoint (the tensor resynchronises).
#include <atomic>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/support/server_interceptor.h"
#include "gtest/gtest.h"
#include "proto/ps.grpc.pb.h"
#include "proto/rpc_util.h"
#include "server/client/ps_client.h"
#include "server/ps/ps_server.h"
#include "server/ps/ps_service.h"
#include "server/ps/testing/local_shards.h"
#include "server/storage/table_store.h"

namespace strata {
namespace {

namespace gx = grpc::experimental;

// A data directory no test used (a shard creates it at its first
// checkpoint).
std::string DataDir() {
  return absl::StrCat(
      ::testing::TempDir(), "push_retry_",
      ::testing::UnitTest::GetInstance()->current_test_info()->name());
}

// Loses the responses of one method: while armed, a call's handler runs (a
// push is applied) and its OK status is replaced by UNAVAILABLE, as when the
// connection breaks after the apply. Thread-safe; must outlive the servers
// it is installed in.
class ResponseLoss {
 public:
  explicit ResponseLoss(std::string method) : method_(std::move(method)) {}

  // Loses the next `calls` OK responses; `on_loss` runs at each, on the
  // handler's thread, before the answer leaves.
  void Arm(int calls, std::function<void()> on_loss = nullptr) {
    absl::MutexLock lock(&mu_);
    armed_ = calls;
    on_loss_ = std::move(on_loss);
  }
  int lost() const {
    absl::MutexLock lock(&mu_);
    return lost_;
  }
  std::unique_ptr<gx::ServerInterceptorFactoryInterface> Factory() {
    return std::make_unique<Factory_>(this);
  }

 private:
  class Interceptor final : public gx::Interceptor {
   public:
    explicit Interceptor(ResponseLoss* loss) : loss_(loss) {}
    void Intercept(gx::InterceptorBatchMethods* m) override {
      if (m->QueryInterceptionHookPoint(
              gx::InterceptionHookPoints::PRE_SEND_STATUS) &&
          m->GetSendStatus().ok() && loss_->Take()) {
        m->ModifySendStatus(grpc::Status(
            grpc::StatusCode::UNAVAILABLE,
            "Socket closed (injected: the response was lost after the apply)"));
      }
      m->Proceed();
    }

   private:
    ResponseLoss* const loss_;
  };
  class Factory_ final : public gx::ServerInterceptorFactoryInterface {
   public:
    explicit Factory_(ResponseLoss* loss) : loss_(loss) {}
    gx::Interceptor* CreateServerInterceptor(gx::ServerRpcInfo* info) override {
      if (loss_->method_ != info->method()) return nullptr;
      return new Interceptor(loss_);
    }

   private:
    ResponseLoss* const loss_;
  };

  // Whether to lose this response (and counts it).
  bool Take() {
    std::function<void()> on_loss;
    {
      absl::MutexLock lock(&mu_);
      if (armed_ == 0) return false;
      --armed_;
      ++lost_;
      on_loss = on_loss_;
    }
    if (on_loss) on_loss();
    return true;
  }

  const std::string method_;
  mutable absl::Mutex mu_;
  int armed_ ABSL_GUARDED_BY(mu_) = 0;
  int lost_ ABSL_GUARDED_BY(mu_) = 0;
  std::function<void()> on_loss_ ABSL_GUARDED_BY(mu_);
};

// One shard served in-process over its own store on `listen`, with `loss`'s
// interceptor; it loads the newest checkpoint of `data_dir` (when given) as
// ps_server does, so a second one on the same port and directory is the
// shard restarted.
class LossyShard {
 public:
  LossyShard(const std::string& listen, const std::string& data_dir,
             ResponseLoss* loss) {
    store_ = *TableStore::Create(TableStore::Options());
    if (!data_dir.empty()) {
      EXPECT_TRUE(store_->LoadNewestLoadable(data_dir).ok());
    }
    PsServiceOptions so;
    so.checkpoint_dir = data_dir;
    embedding_ = std::make_unique<EmbeddingServiceImpl>(store_.get(), so);
    dense_ = std::make_unique<DenseServiceImpl>(store_.get(), so);
    admin_ = std::make_unique<AdminServiceImpl>(store_.get(), so);
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(embedding_.get());
    builder.RegisterService(dense_.get());
    builder.RegisterService(admin_.get());
    std::vector<std::unique_ptr<gx::ServerInterceptorFactoryInterface>> f;
    f.push_back(loss->Factory());
    builder.experimental().SetInterceptorCreators(std::move(f));
    server_ = builder.BuildAndStart();
    EXPECT_NE(port, 0) << listen;
    address_ = absl::StrCat("127.0.0.1:", port);
  }
  ~LossyShard() {
    server_->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
  }

  const std::string& address() const { return address_; }
  TableStore* store() const { return store_.get(); }

 private:
  std::unique_ptr<TableStore> store_;
  std::unique_ptr<EmbeddingServiceImpl> embedding_;
  std::unique_ptr<DenseServiceImpl> dense_;
  std::unique_ptr<AdminServiceImpl> admin_;
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
};

// Quick retries, so the tests do not wait.
PsClientOptions FastRetries() {
  PsClientOptions o;
  o.retry_backoff = absl::Milliseconds(10);
  o.max_retry_backoff = absl::Milliseconds(100);
  o.retry_for = absl::Seconds(30);
  return o;
}

std::unique_ptr<PsClient> Connect(const std::string& address,
                                  PsClientOptions o = FastRetries()) {
  auto client = PsClient::Connect({address}, o);
  EXPECT_TRUE(client.ok()) << client.status();
  return client.ok() ? *std::move(client) : nullptr;
}

// SGD, learning rate 1, zeros: a row pushed gradient g once reads -g.
TableConfig Sgd(const std::string& name, uint32_t dim = 1) {
  TableConfig t;
  t.set_name(name);
  t.set_dim(dim);
  t.mutable_optimizer()->set_learning_rate(1.0f);
  return t;
}

DenseConfig Dense(const std::string& name, SyncMode sync, uint32_t workers) {
  DenseConfig d;
  d.set_name(name);
  d.set_size(2);
  d.set_sync(sync);
  d.set_num_workers(workers);
  d.mutable_optimizer()->set_learning_rate(1.0f);
  return d;
}

float Row(PsClient* client, uint64_t key) {
  float v = 0;
  const std::vector<uint64_t> keys = {key};
  EXPECT_TRUE(client->Pull("emb", keys, 1, &v).ok());
  return v;
}

constexpr char kPush[] = "/strata.EmbeddingService/Push";
constexpr char kDensePush[] = "/strata.DenseService/Push";

TEST(PushRetryTest, APushWhoseResponseIsLostIsRetriedAndAppliedOnce) {
  ResponseLoss loss(kPush);
  LossyShard shard("127.0.0.1:0", "", &loss);
  auto client = Connect(shard.address());
  ASSERT_TRUE(AllOk(client->admin().CreateTable(Sgd("emb"), false)).ok());
  loss.Arm(1);
  const std::vector<uint64_t> keys = {7};
  const absl::Status s = client->Push("emb", keys, std::vector<float>{1}, 1);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(loss.lost(), 1);
  EXPECT_EQ(Row(client.get(), 7), -1.0f);  // -2 if applied twice
  EXPECT_EQ(shard.store()->push_dedup().counters().duplicates, 1u);
}

// Pushes gradient {1, 2} to a new 2-element tensor of `sync` (one worker)
// whose first push answer is lost; returns the tensor's values and step.
void PushDenseLosingTheAnswer(SyncMode sync, std::vector<float>* values,
                              int64_t* step) {
  ResponseLoss loss(kDensePush);
  LossyShard shard("127.0.0.1:0", "", &loss);
  auto client = Connect(shard.address());
  ASSERT_TRUE(client->admin().CreateDense(Dense("w", sync, 1), false).ok());
  loss.Arm(1);
  auto pushed = client->PushDense("w", std::vector<float>{1, 2}, 0, 0);
  ASSERT_TRUE(pushed.ok()) << pushed.status();
  EXPECT_EQ(*pushed, 1);
  EXPECT_EQ(loss.lost(), 1);
  auto pulled = client->PullDense("w", 1, values);
  ASSERT_TRUE(pulled.ok()) << pulled.status();
  *step = *pulled;
}

TEST(PushRetryTest, AnAsyncDensePushWhoseResponseIsLostIsAppliedOnce) {
  std::vector<float> w;
  int64_t step = 0;
  PushDenseLosingTheAnswer(ASYNC, &w, &step);
  EXPECT_EQ(step, 1);  // one update
  EXPECT_EQ(w, (std::vector<float>{-1, -2}));
}

TEST(PushRetryTest, ABspPushWhoseResponseIsLostIsAnsweredNotRefused) {
  // The retry of a push that completed step 0 would be FAILED_PRECONDITION
  // (the tensor is at step 1) without request ids.
  std::vector<float> w;
  int64_t step = 0;
  PushDenseLosingTheAnswer(BSP, &w, &step);
  EXPECT_EQ(step, 1);
  EXPECT_EQ(w, (std::vector<float>{-1, -2}));
}

TEST(PushRetryTest,
     ARetryAfterARestartFromACheckpointHoldingThePushIsNotApplied) {
  const std::string dir = DataDir();
  ResponseLoss loss(kPush);
  auto shard = std::make_unique<LossyShard>("127.0.0.1:0", dir, &loss);
  const std::string address = shard->address();
  PsClientOptions o = FastRetries();
  o.retry_backoff = absl::Milliseconds(200);  // time to restart the shard
  auto client = Connect(address, o);
  ASSERT_TRUE(AllOk(client->admin().CreateTable(Sgd("emb"), false)).ok());
  // The push is applied, the shard checkpoints before its answer leaves,
  // the answer is lost and the shard restarts from that checkpoint.
  TableStore* store = shard->store();
  loss.Arm(1, [&] { ASSERT_TRUE(store->Checkpoint(dir, 1).ok()); });
  absl::Notification pushed;
  absl::Status push_status;
  std::thread pusher([&] {
    push_status =
        client->Push("emb", std::vector<uint64_t>{7}, std::vector<float>{1}, 1);
    pushed.Notify();
  });
  while (loss.lost() == 0) absl::SleepFor(absl::Milliseconds(1));
  shard.reset();
  EXPECT_FALSE(pushed.HasBeenNotified());  // still retrying
  shard = std::make_unique<LossyShard>(address, dir, &loss);
  pusher.join();
  ASSERT_TRUE(push_status.ok()) << push_status;
  EXPECT_EQ(Row(client.get(), 7), -1.0f);
  EXPECT_EQ(shard->store()->push_dedup().counters().duplicates, 1u);
}

// In-process shards (PsServer) with raw stubs, for requests the client
// would not send.
class RawPushTest : public ::testing::Test {
 protected:
  void Start(size_t max_push_clients = kDefaultMaxPushClients) {
    PsServerOptions o;
    o.max_push_clients = max_push_clients;
    auto started = testing::LocalShards::Start(1, o, FastRetries());
    ASSERT_TRUE(started.ok()) << started.status();
    shards_ = std::move(*started);
    ASSERT_TRUE(AllOk(client()->admin().CreateTable(Sgd("emb"), false)).ok());
    stub_ = EmbeddingService::NewStub(grpc::CreateChannel(
        shards_->addresses()[0], grpc::InsecureChannelCredentials()));
  }
  PsClient* client() const { return shards_->client(); }

  // Gradient 1 to key 7, with the given id.
  grpc::Status Push(uint64_t client_id, uint64_t sequence, PushResponse* resp) {
    PushRequest req;
    req.set_table("emb");
    const std::vector<uint64_t> keys = {7};
    const std::vector<float> grads = {1};
    PackU64(keys, req.mutable_keys());
    PackF32(grads, req.mutable_gradients());
    req.set_client_id(client_id);
    req.set_sequence(sequence);
    grpc::ClientContext ctx;
    return stub_->Push(&ctx, req, resp);
  }

  std::unique_ptr<testing::LocalShards> shards_;
  std::unique_ptr<EmbeddingService::Stub> stub_;
};

TEST_F(RawPushTest, ConcurrentDuplicatesApplyOnce) {
  Start();
  std::atomic<int> fresh{0}, duplicates{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      PushResponse resp;
      const grpc::Status s = Push(42, 1, &resp);
      ASSERT_TRUE(s.ok()) << s.error_message();
      EXPECT_EQ(resp.applied(), 1u);
      ++(resp.duplicate() ? duplicates : fresh);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(fresh.load(), 1);
  EXPECT_EQ(duplicates.load(), 7);
  EXPECT_EQ(Row(client(), 7), -1.0f);
}

TEST_F(RawPushTest, RequestsWithoutIdsApplyEveryTimeAsBefore) {
  Start();
  PushResponse resp;
  ASSERT_TRUE(Push(0, 0, &resp).ok());
  ASSERT_TRUE(Push(0, 0, &resp).ok());
  EXPECT_FALSE(resp.duplicate());
  EXPECT_EQ(Row(client(), 7), -2.0f);
  const grpc::Status s = Push(0, 5, &resp);  // a sequence needs a client
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
      << s.error_message();
  EXPECT_EQ(Push(9, 0, &resp).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Row(client(), 7), -2.0f);
}

TEST_F(RawPushTest, ASequenceBehindTheWindowIsAbortedAndNotApplied) {
  Start();
  PushResponse resp;
  ASSERT_TRUE(Push(42, 1, &resp).ok());
  ASSERT_TRUE(Push(42, 1 + kPushWindow, &resp).ok());
  const grpc::Status s = Push(42, 1, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ABORTED) << s.error_message();
  EXPECT_NE(s.error_message().find("older than the shard remembers"),
            std::string::npos)
      << s.error_message();
  EXPECT_EQ(Row(client(), 7), -2.0f);
}

TEST_F(RawPushTest, PastMaxPushClientsTheOldestClientIsForgotten) {
  Start(/*max_push_clients=*/2);
  PushResponse resp;
  ASSERT_TRUE(Push(1, 1, &resp).ok());
  ASSERT_TRUE(Push(2, 1, &resp).ok());
  ASSERT_TRUE(Push(2, 1, &resp).ok());
  EXPECT_TRUE(resp.duplicate());
  ASSERT_TRUE(Push(3, 1, &resp).ok());  // forgets client 1
  EXPECT_EQ(shards_->server(0)->store()->push_dedup().counters().clients, 2u);
  ASSERT_TRUE(Push(1, 1, &resp).ok());
  EXPECT_FALSE(resp.duplicate());  // applied again: the documented cost
  EXPECT_EQ(Row(client(), 7), -4.0f);
}

TEST(PushRetryTest, AShardRestartedDuringAStreamOfPushesCostsNoError) {
  const std::string dir = DataDir();
  PsServerOptions so;
  so.data_dir = dir;
  auto server = PsServer::Start(so);
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string address = (*server)->address();
  so.listen = address;  // the restarted shard takes the same port
  auto client = Connect(address, PsClientOptions());  // default retries
  ASSERT_TRUE(AllOk(client->admin().CreateTable(Sgd("emb"), false)).ok());
  // Push i sends gradient 1 to key i, one at a time, until `stop`.
  std::atomic<uint64_t> done{0};
  std::atomic<bool> stop{false};
  absl::Duration slowest;  // read after join
  absl::Status failed;     // read after join
  std::thread pusher([&] {
    for (uint64_t i = 1; !stop; ++i) {
      const absl::Time start = absl::Now();
      failed = client->Push("emb", std::vector<uint64_t>{i},
                            std::vector<float>{1}, 1);
      slowest = std::max(slowest, absl::Now() - start);
      if (!failed.ok()) break;
      done = i;
    }
    stop = true;
  });
  // Until `n` pushes are done or the pusher failed.
  const auto wait_for = [&](uint64_t n) {
    while (done < n && !stop) absl::SleepFor(absl::Milliseconds(1));
  };
  wait_for(50);
  const uint64_t before_checkpoint = done;
  ASSERT_TRUE(AllOk(client->admin().Checkpoint(1)).ok());
  wait_for(before_checkpoint + 50);
  const absl::Time down = absl::Now();
  server->reset();  // down: the pusher retries
  absl::SleepFor(absl::Milliseconds(500));
  server = PsServer::Start(so);
  ASSERT_TRUE(server.ok()) << server.status();
  const absl::Duration restart = absl::Now() - down;
  const uint64_t after_restart = done + 1;  // pushed wholly to the new shard
  wait_for(after_restart + 50);
  stop = true;
  pusher.join();
  ASSERT_TRUE(failed.ok()) << failed;
  EXPECT_GE(slowest, absl::Milliseconds(400)) << "no push waited out the gap";
  // With the default backoff (100 ms doubling to 2 s) a push waits for the
  // shard to come back plus at most one backoff.
  EXPECT_LT(slowest, restart + absl::Seconds(3));
  std::printf("shard down and back in %s; the slowest push took %s\n",
              absl::FormatDuration(restart).c_str(),
              absl::FormatDuration(slowest).c_str());
  const uint64_t kPushes = done;
  // Never applied twice; what the checkpoint held and what came after the
  // restart is there; only pushes between the checkpoint and the crash may
  // be lost.
  std::vector<uint64_t> keys(kPushes);
  for (uint64_t i = 0; i < kPushes; ++i) keys[i] = i + 1;
  std::vector<float> rows(kPushes);
  ASSERT_TRUE(client->Pull("emb", keys, 1, rows.data()).ok());
  for (uint64_t key = 1; key <= kPushes; ++key) {
    const float v = rows[key - 1];
    if (key <= before_checkpoint || key >= after_restart) {
      EXPECT_EQ(v, -1.0f) << "key " << key;
    } else {
      EXPECT_TRUE(v == 0.0f || v == -1.0f) << "key " << key << ": " << v;
    }
  }
}

// Two BSP workers train one tensor step by step (pull min_step t, push
// step t); the shard is checkpointed, trained on, killed and restarted from
// that checkpoint, older than the workers. The restored tensor catches up
// with them (DenseTable's resync): both finish every step, no call fails,
// nothing waits out a deadline, and the shard reports what it lost.
TEST(PushRetryTest, BspWorkersCarryOnAcrossAShardRestartedFromACheckpoint) {
  const std::string dir = DataDir();
  PsServerOptions so;
  so.data_dir = dir;
  auto server = PsServer::Start(so);
  ASSERT_TRUE(server.ok()) << server.status();
  so.listen = (*server)->address();  // the restarted shard takes the port
  constexpr uint32_t kWorkers = 2;
  constexpr int64_t kSteps = 80;
  PsClientOptions o = FastRetries();
  o.dense_wait_timeout = absl::Seconds(20);  // a deadlock fails the test
  std::vector<std::unique_ptr<PsClient>> clients;
  for (uint32_t w = 0; w < kWorkers; ++w) {
    clients.push_back(Connect(so.listen, o));
  }
  ASSERT_TRUE(
      clients[0]->admin().CreateDense(Dense("bsp", BSP, 2), false).ok());
  std::atomic<int64_t> steps[kWorkers] = {};  // steps each worker finished
  absl::Status failed[kWorkers];              // read after join
  std::vector<std::thread> workers;
  for (uint32_t w = 0; w < kWorkers; ++w) {
    workers.emplace_back([&, w] {
      for (int64_t t = 0; t < kSteps; ++t) {
        std::vector<float> values;
        absl::StatusOr<int64_t> pulled =
            clients[w]->PullDense("bsp", t, &values);
        absl::StatusOr<int64_t> pushed =
            pulled.ok() ? clients[w]->PushDense("bsp", {1, 1}, t, w)
                        : pulled.status();
        if (!pushed.ok()) {
          failed[w] = absl::Status(
              pushed.status().code(),
              absl::StrCat("step ", t, ": ", pushed.status().message()));
          return;
        }
        steps[w] = t + 1;
        absl::SleepFor(absl::Milliseconds(2));
      }
    });
  }
  const auto wait_for = [&](int64_t n) {
    while (std::min(steps[0].load(), steps[1].load()) < n) {
      absl::SleepFor(absl::Milliseconds(1));
    }
  };
  wait_for(10);
  ASSERT_TRUE(AllOk(clients[0]->admin().Checkpoint(1)).ok());
  wait_for(25);
  server->reset();  // killed mid-step; the workers retry
  absl::SleepFor(absl::Milliseconds(300));
  server = PsServer::Start(so);
  ASSERT_TRUE(server.ok()) << server.status();
  for (std::thread& t : workers) t.join();
  for (uint32_t w = 0; w < kWorkers; ++w) {
    ASSERT_TRUE(failed[w].ok()) << "worker " << w << ": " << failed[w];
    EXPECT_EQ(steps[w].load(), kSteps);
  }
  // The last step completed normally after the catch-up.
  std::vector<float> values;
  EXPECT_EQ(*clients[0]->PullDense("bsp", kSteps, &values), kSteps);
  const PerShard<ListTablesResponse> list = clients[0]->admin().ListTables();
  ASSERT_TRUE(AllOk(list).ok());
  const UpdatesLost& lost = list[0].response->updates_lost();
  EXPECT_EQ(lost.loaded_checkpoint_id(), 1u);
  EXPECT_GT(lost.bsp_steps_skipped(), 0u);
  ASSERT_TRUE(lost.has_at_start());
  EXPECT_GT(lost.at_start(), 0u) << "pushes after the checkpoint were lost";
  std::printf("the restored tensor skipped %llu steps; %llu updates lost\n",
              static_cast<unsigned long long>(lost.bsp_steps_skipped()),
              static_cast<unsigned long long>(lost.at_start()));
}

}  // namespace
}  // namespace strata
