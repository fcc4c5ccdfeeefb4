#include "worker/cnn/fc_proxy.h"

#include <unistd.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "worker/cnn/fc_service.h"

namespace strata {
namespace cnn {
namespace {

// Stands in for an FC task's process: answers each batch with a gradient
// naming its step, refuses step 13 with FAILED_PRECONDITION, and averages
// by echoing the round.
class ScriptedFc final : public StanzaFc::Service {
 public:
  grpc::Status Train(
      grpc::ServerContext* ctx,
      grpc::ServerReaderWriter<GradientBatch, ActivationBatch>* stream)
      override {
    ActivationBatch in;
    while (stream->Read(&in)) {
      ++batches;
      if (in.step() == 13) {
        return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                            "step 13 refused");
      }
      GradientBatch out;
      out.set_loss(static_cast<double>(in.step()));
      if (!stream->Write(out)) break;
    }
    return grpc::Status::OK;
  }
  grpc::Status AverageFc(grpc::ServerContext*, const AverageFcRequest* req,
                         AverageFcResponse* resp) override {
    resp->set_weights(absl::StrCat("round ", req->round()));
    return grpc::Status::OK;
  }
  std::atomic<int> batches{0};
};

class FcProxyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    FcProxy::Options o;
    o.session_wait = absl::Milliseconds(300);
    proxy_ = std::make_unique<FcProxy>(o);
    auto served = ServeStanzaFc("127.0.0.1:0", 4 << 20, proxy_.get());
    ASSERT_TRUE(served.ok()) << served.status();
    front_ = std::move(*served);
    stub_ = StanzaFc::NewStub(grpc::CreateChannel(
        front_.address, grpc::InsecureChannelCredentials()));
    socket_ = absl::StrCat("unix:/tmp/strata-fc-proxy-test-", getpid(),
                           ".sock");
  }
  void TearDown() override {
    front_.server->Shutdown();
    if (child_.server) child_.server->Shutdown();
    unlink(socket_.substr(5).c_str());
  }
  void StartChild() {
    auto served = ServeStanzaFc(socket_, 4 << 20, &child_service_);
    ASSERT_TRUE(served.ok()) << served.status();
    child_ = std::move(*served);
  }
  static ActivationBatch Batch(int64_t step) {
    ActivationBatch b;
    b.set_job_id("job-1");
    b.set_step(step);
    return b;
  }

  std::unique_ptr<FcProxy> proxy_;
  StanzaServer front_;
  std::unique_ptr<StanzaFc::Stub> stub_;
  std::string socket_;
  ScriptedFc child_service_;
  StanzaServer child_;
};

TEST_F(FcProxyTest, RelaysAStreamBatchByBatch) {
  StartChild();
  ASSERT_TRUE(proxy_->AddRoute("job-1", socket_).ok());
  grpc::ClientContext ctx;
  auto stream = stub_->Train(&ctx);
  for (int64_t step = 1; step <= 5; ++step) {
    ASSERT_TRUE(stream->Write(Batch(step)));
    GradientBatch g;
    ASSERT_TRUE(stream->Read(&g));
    EXPECT_EQ(g.loss(), step);
  }
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
  EXPECT_EQ(child_service_.batches.load(), 5);
}

TEST_F(FcProxyTest, TheChildsRefusalReachesTheCallerWithItsCode) {
  StartChild();
  ASSERT_TRUE(proxy_->AddRoute("job-1", socket_).ok());
  grpc::ClientContext ctx;
  auto stream = stub_->Train(&ctx);
  ASSERT_TRUE(stream->Write(Batch(13)));
  GradientBatch g;
  EXPECT_FALSE(stream->Read(&g));
  grpc::Status s = stream->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(s.error_message(), "step 13 refused");
}

TEST_F(FcProxyTest, AStreamWaitsForItsJobsRouteAndTheChildsSocket) {
  // The conv worker connects before the FC task has even started.
  grpc::ClientContext ctx;
  auto stream = stub_->Train(&ctx);
  ASSERT_TRUE(stream->Write(Batch(1)));
  absl::SleepFor(absl::Milliseconds(100));
  ASSERT_TRUE(proxy_->AddRoute("job-1", socket_).ok());
  absl::SleepFor(absl::Milliseconds(100));  // the route, but no socket yet
  StartChild();
  GradientBatch g;
  ASSERT_TRUE(stream->Read(&g));
  EXPECT_EQ(g.loss(), 1);
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
}

TEST_F(FcProxyTest, AJobWithoutAnFcTaskHereIsNotFoundAfterTheWait) {
  grpc::ClientContext ctx;
  auto stream = stub_->Train(&ctx);
  ASSERT_TRUE(stream->Write(Batch(1)));
  GradientBatch g;
  EXPECT_FALSE(stream->Read(&g));
  grpc::Status s = stream->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_NE(s.error_message().find("no FC task of job 'job-1'"),
            std::string::npos)
      << s.error_message();
}

TEST_F(FcProxyTest, ACrashedChildFailsTheStreamNotTheProxy) {
  StartChild();
  ASSERT_TRUE(proxy_->AddRoute("job-1", socket_).ok());
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(3));
  auto stream = stub_->Train(&ctx);
  ASSERT_TRUE(stream->Write(Batch(1)));
  GradientBatch g;
  ASSERT_TRUE(stream->Read(&g));
  child_.server->Shutdown(std::chrono::system_clock::now());  // "dies"
  stream->Write(Batch(2));
  EXPECT_FALSE(stream->Read(&g));
  EXPECT_FALSE(stream->Finish().ok());
  // The proxy still serves: a new job's route works.
  proxy_->RemoveRoute("job-1");
  child_.server->Wait();
  child_.server.reset();
  unlink(socket_.substr(5).c_str());
  StartChild();
  ASSERT_TRUE(proxy_->AddRoute("job-2", socket_).ok());
  grpc::ClientContext ctx2;
  AverageFcRequest req;
  req.set_job_id("job-2");
  req.set_round(7);
  AverageFcResponse resp;
  ASSERT_TRUE(stub_->AverageFc(&ctx2, req, &resp).ok());
  EXPECT_EQ(resp.weights(), "round 7");
}

TEST_F(FcProxyTest, ASecondRouteForAJobIsAlreadyExists) {
  ASSERT_TRUE(proxy_->AddRoute("job-1", socket_).ok());
  EXPECT_EQ(proxy_->AddRoute("job-1", socket_).code(),
            absl::StatusCode::kAlreadyExists);
  proxy_->RemoveRoute("job-1");
  EXPECT_TRUE(proxy_->AddRoute("job-1", socket_).ok());
}

}  // namespace
}  // namespace cnn
}  // namespace strata
