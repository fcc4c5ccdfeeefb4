// Drives NodeSession against a fake coordinator (server/node/testing) over
// real gRPC on 127.0.0.1: registration and its retries, heartbeats at the
// coordinator's interval, re-registration when the coordinator forgets the
// node, and Stop.
#include "server/node/node_session.h"

#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/node/testing/fake_coordinator.h"

namespace strata {
namespace {

using ::testing::ElementsAre;
using testing::FakeCoordinator;

// Bounds every wait so that a bug fails the test instead of hanging it.
constexpr absl::Duration kWait = absl::Seconds(30);

// True when `f` finished within kWait.
template <typename T>
bool Finishes(std::future<T>& f) {
  return f.wait_for(absl::ToChronoSeconds(kWait)) == std::future_status::ready;
}

class NodeSessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto fake = FakeCoordinator::Start();
    ASSERT_TRUE(fake.ok()) << fake.status();
    fake_ = std::move(*fake);
  }
  NodeSessionOptions Options() const {
    NodeSessionOptions o;
    o.coordinator = fake_->address();
    o.node.set_role("conv");
    o.node.set_address("10.0.0.7:7100");
    o.node.set_hostname("host-7");
    o.node.set_cpus(3);
    o.node.set_gpus(1);
    o.rpc_timeout = absl::Seconds(10);
    o.heartbeat_interval = absl::Hours(1);  // the coordinator names 20 ms
    o.backoff = absl::Milliseconds(1);
    o.max_backoff = absl::Milliseconds(5);
    return o;
  }
  std::unique_ptr<FakeCoordinator> fake_;
};

TEST_F(NodeSessionTest, RegisterAnnouncesTheNodeAndKeepsTheAssignedId) {
  NodeSession session(Options());
  EXPECT_EQ(session.node_id(), "");
  ASSERT_TRUE(session.Register().ok());
  EXPECT_EQ(session.node_id(), "node-1");
  const std::vector<NodeInfo> nodes = fake_->registered();
  ASSERT_EQ(nodes.size(), 1u);
  EXPECT_EQ(nodes[0].role(), "conv");
  EXPECT_EQ(nodes[0].address(), "10.0.0.7:7100");
  EXPECT_EQ(nodes[0].hostname(), "host-7");
  EXPECT_EQ(nodes[0].cpus(), 3u);
  EXPECT_EQ(nodes[0].gpus(), 1u);
}

TEST_F(NodeSessionTest, RegisterKeepsTheSecretBoundToTheId) {
  NodeSession session(Options());
  EXPECT_EQ(session.credentials().secret, "");
  ASSERT_TRUE(session.Register().ok());
  const NodeSession::Credentials who = session.credentials();
  EXPECT_EQ(who.node_id, "node-1");
  EXPECT_EQ(who.secret, "secret-of-node-1");
  // A first registration claims nothing.
  ASSERT_EQ(fake_->registration_requests().size(), 1u);
  EXPECT_EQ(fake_->registration_requests()[0].node_id(), "");
  EXPECT_EQ(fake_->registration_requests()[0].node_secret(), "");
}

TEST_F(NodeSessionTest, RegisteringAgainReassertsTheIdAndKeepsIt) {
  NodeSession session(Options());
  ASSERT_TRUE(session.Register().ok());
  ASSERT_TRUE(session.Register().ok());
  EXPECT_EQ(session.node_id(), "node-1");
  const std::vector<RegisterNodeRequest> requests =
      fake_->registration_requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[1].node_id(), "node-1");
  EXPECT_EQ(requests[1].node_secret(), "secret-of-node-1");
  EXPECT_EQ(fake_->registered().size(), 1u) << "no second node";
}

TEST_F(NodeSessionTest, HeartbeatsCarryTheSecret) {
  NodeSession session(Options());
  ASSERT_TRUE(session.Register().ok());
  session.StartHeartbeats(nullptr, nullptr);
  // The fake counts only heartbeats with the right secret.
  EXPECT_TRUE(fake_->AwaitHeartbeats("node-1", 2, kWait));
}

TEST_F(NodeSessionTest, RegisterRetriesUnavailableAndDeadlineExceeded) {
  fake_->FailNextRegistrations({absl::UnavailableError("starting"),
                                absl::DeadlineExceededError("slow")});
  NodeSession session(Options());
  ASSERT_TRUE(session.Register().ok());
  EXPECT_EQ(fake_->registration_attempts(), 3);
  EXPECT_EQ(session.node_id(), "node-1");
}

TEST_F(NodeSessionTest, RegisterRetriesAShardHeldByANodeNotYetDeclaredDead) {
  fake_->FailNextRegistrations({absl::AlreadyExistsError("shard 0 is held"),
                                absl::AlreadyExistsError("shard 0 is held")});
  NodeSession session(Options());
  ASSERT_TRUE(session.Register().ok());
  EXPECT_EQ(fake_->registration_attempts(), 3);
  EXPECT_EQ(session.node_id(), "node-1");
}

TEST_F(NodeSessionTest, RegisterReturnsOtherErrorsAtOnce) {
  fake_->FailNextRegistrations({absl::InvalidArgumentError("bad role")});
  NodeSession session(Options());
  const absl::Status s = session.Register();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_EQ(fake_->registration_attempts(), 1);
  EXPECT_EQ(session.node_id(), "");
}

TEST_F(NodeSessionTest, AnIdentityFileLetsTheNextProcessReassertTheId) {
  NodeSessionOptions o = Options();
  o.identity_file = std::string(std::getenv("TEST_TMPDIR")) + "/identity.txt";
  std::remove(o.identity_file.c_str());
  {
    NodeSession first(o);
    ASSERT_TRUE(first.Register().ok());
    EXPECT_EQ(first.node_id(), "node-1");
  }
  struct stat st;
  ASSERT_EQ(stat(o.identity_file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u) << "the secret is private";
  NodeSession second(o);  // a restarted process
  EXPECT_EQ(second.node_id(), "node-1") << "read before registering";
  ASSERT_TRUE(second.Register().ok());
  const std::vector<RegisterNodeRequest> requests =
      fake_->registration_requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[1].node_id(), "node-1");
  EXPECT_EQ(requests[1].node_secret(), "secret-of-node-1");
  EXPECT_EQ(fake_->registered().size(), 1u) << "no second node";
}

TEST_F(NodeSessionTest, AGarbledIdentityFileIsIgnored) {
  NodeSessionOptions o = Options();
  o.identity_file = std::string(std::getenv("TEST_TMPDIR")) + "/garbled.txt";
  std::ofstream(o.identity_file) << "node_id node-9\nsecret zz\n";
  NodeSession session(o);
  EXPECT_EQ(session.node_id(), "");
  ASSERT_TRUE(session.Register().ok());
  EXPECT_EQ(fake_->registration_requests()[0].node_id(), "");
}

TEST_F(NodeSessionTest, StopEndsARetryingRegisterWithCancelled) {
  fake_->FailNextRegistrations(
      std::vector<absl::Status>(100000, absl::UnavailableError("down")));
  NodeSession session(Options());
  auto registered =
      std::async(std::launch::async, [&] { return session.Register(); });
  ASSERT_TRUE(fake_->AwaitRegistrationAttempts(2, kWait));
  session.Stop();
  ASSERT_TRUE(Finishes(registered));
  EXPECT_EQ(registered.get().code(), absl::StatusCode::kCancelled);
  EXPECT_TRUE(session.stopped());
}

TEST_F(NodeSessionTest, RegisterAfterStopIsCancelledWithoutACall) {
  NodeSession session(Options());
  session.Stop();
  EXPECT_EQ(session.Register().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(fake_->registration_attempts(), 0);
}

TEST_F(NodeSessionTest, HeartbeatsAtTheIntervalTheCoordinatorNames) {
  // Options() asks for one heartbeat an hour; the fake names 20 ms.
  NodeSession session(Options());
  ASSERT_TRUE(session.Register().ok());
  session.StartHeartbeats(nullptr, nullptr);
  EXPECT_TRUE(fake_->AwaitHeartbeats("node-1", 3, kWait));
}

// Records the callbacks of StartHeartbeats in order. Thread-safe.
class Callbacks {
 public:
  std::function<void()> OnLost(NodeSession* session) {
    return [this, session] { Add("lost " + session->node_id()); };
  }
  std::function<void(const std::string&)> OnRegistered() {
    return [this](const std::string& id) {
      Add("registered " + id);
      registered_.Notify();
    };
  }
  bool AwaitRegistered() {
    return registered_.WaitForNotificationWithTimeout(kWait);
  }
  std::vector<std::string> events() const {
    absl::MutexLock lock(&mu_);
    return events_;
  }

 private:
  void Add(std::string event) {
    absl::MutexLock lock(&mu_);
    events_.push_back(std::move(event));
  }
  mutable absl::Mutex mu_;
  std::vector<std::string> events_ ABSL_GUARDED_BY(mu_);
  absl::Notification registered_;
};

class NodeSessionLostTest
    : public NodeSessionTest,
      public ::testing::WithParamInterface<absl::StatusCode> {};

TEST_P(NodeSessionLostTest, ReRegistersUnderANewIdWhenTheCoordinatorForgets) {
  NodeSession session(Options());
  ASSERT_TRUE(session.Register().ok());
  Callbacks callbacks;
  session.StartHeartbeats(callbacks.OnLost(&session), callbacks.OnRegistered());
  ASSERT_TRUE(fake_->AwaitHeartbeats("node-1", 1, kWait));
  fake_->Forget("node-1", GetParam());
  ASSERT_TRUE(callbacks.AwaitRegistered());
  EXPECT_THAT(callbacks.events(),
              ElementsAre("lost node-1", "registered node-2"));
  EXPECT_EQ(session.node_id(), "node-2");
  EXPECT_TRUE(fake_->AwaitHeartbeats("node-2", 2, kWait));
  ASSERT_EQ(fake_->registered().size(), 2u);
  EXPECT_EQ(fake_->registered()[1].role(), "conv");
  // It asked to keep its id; the coordinator no longer had it alive.
  const std::vector<RegisterNodeRequest> requests =
      fake_->registration_requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[1].node_id(), "node-1");
  EXPECT_EQ(requests[1].node_secret(), "secret-of-node-1");
}

TEST_F(NodeSessionTest, ARefusedSecretMakesTheSessionRegisterAnew) {
  NodeSession session(Options());
  ASSERT_TRUE(session.Register().ok());
  Callbacks callbacks;
  session.StartHeartbeats(callbacks.OnLost(&session), callbacks.OnRegistered());
  ASSERT_TRUE(fake_->AwaitHeartbeats("node-1", 1, kWait));
  fake_->RevokeSecret("node-1");  // heartbeats and claims: PERMISSION_DENIED
  ASSERT_TRUE(callbacks.AwaitRegistered());
  EXPECT_THAT(callbacks.events(),
              ElementsAre("lost node-1", "registered node-2"));
  EXPECT_EQ(session.credentials().secret, "secret-of-node-2");
  const std::vector<RegisterNodeRequest> requests =
      fake_->registration_requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(requests[1].node_id(), "node-1") << "claimed first";
  EXPECT_EQ(requests[2].node_id(), "") << "then registered anew";
  EXPECT_TRUE(fake_->AwaitHeartbeats("node-2", 1, kWait));
}

INSTANTIATE_TEST_SUITE_P(
    NotFoundOrDeclaredDead, NodeSessionLostTest,
    ::testing::Values(absl::StatusCode::kNotFound,
                      absl::StatusCode::kFailedPrecondition));

TEST_F(NodeSessionTest, ReRegistersWithoutCallbacks) {
  NodeSession session(Options());
  ASSERT_TRUE(session.Register().ok());
  session.StartHeartbeats(nullptr, nullptr);
  fake_->Forget("node-1", absl::StatusCode::kNotFound);
  EXPECT_TRUE(fake_->AwaitHeartbeats("node-2", 1, kWait));
  EXPECT_EQ(session.node_id(), "node-2");
}

TEST_F(NodeSessionTest, OtherHeartbeatErrorsKeepTheRegistration) {
  NodeSession session(Options());
  ASSERT_TRUE(session.Register().ok());
  Callbacks callbacks;
  session.StartHeartbeats(callbacks.OnLost(&session), callbacks.OnRegistered());
  ASSERT_TRUE(fake_->AwaitHeartbeats("node-1", 1, kWait));
  fake_->FailHeartbeats(absl::UnavailableError("overloaded"));
  // The heartbeat thread handles one response before it sends the next, so
  // after three more attempts at least two failures were handled.
  ASSERT_TRUE(
      fake_->AwaitHeartbeatAttempts(fake_->heartbeat_attempts() + 3, kWait));
  EXPECT_EQ(fake_->registration_attempts(), 1);
  EXPECT_TRUE(callbacks.events().empty());
  fake_->FailHeartbeats(absl::OkStatus());
  EXPECT_TRUE(fake_->AwaitHeartbeats("node-1", 2, kWait));
  EXPECT_EQ(session.node_id(), "node-1");
}

TEST_F(NodeSessionTest, StopWakesSleepersAndEndsTheHeartbeatThread) {
  auto session = std::make_unique<NodeSession>(Options());
  ASSERT_TRUE(session->Register().ok());
  session->StartHeartbeats(nullptr, nullptr);
  auto sleeper = std::async(
      std::launch::async, [&] { session->SleepUnlessStopped(absl::Hours(1)); });
  session->Stop();
  EXPECT_TRUE(session->stopped());
  ASSERT_TRUE(Finishes(sleeper));
  // The destructor joins the heartbeat thread.
  auto destroyed = std::async(std::launch::async, [&] { session.reset(); });
  EXPECT_TRUE(Finishes(destroyed));
}

}  // namespace
}  // namespace strata
