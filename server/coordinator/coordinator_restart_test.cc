// A coordinator restarted over its state store: in process (a Coordinator
// destroyed and created again over the same directory), and over gRPC with
// 50 NodeSessions heartbeating through repeated restarts.
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/coordinator/coordinator.h"
#include "server/coordinator/coordinator_server.h"
#include "server/coordinator/testing/state_testing.h"
#include "server/node/node_session.h"
#include "server/ps/testing/local_shards.h"
#include "server/util/clock.h"

namespace strata {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// In process: the test drives Tick() and the nodes' calls by hand.
class CoordinatorRestartTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_.state_dir = testing::FreshTestDir("coordinator_restart_in_process");
    options_.background_thread = false;
    Restart();
  }
  void Restart() {
    coord_.reset();  // closes the store
    absl::StatusOr<std::unique_ptr<Coordinator>> c =
        Coordinator::Create(options_, &clock_);
    ASSERT_TRUE(c.ok()) << c.status();
    coord_ = *std::move(c);
  }
  NodeCredentials Add(const std::string& role) {
    NodeInfo node;
    node.set_role(role);
    if (role == "ps") {
      node.set_address("ps:1");
      node.set_num_shards(1);
    }
    absl::StatusOr<RegisterNodeResponse> r = coord_->RegisterNode(node);
    EXPECT_TRUE(r.ok()) << r.status();
    return {r->node_id(), r->node_secret()};
  }
  // Opens the node's stream listing `running` and takes its commands.
  std::vector<TaskCommand> Attach(const NodeCredentials& node,
                                  const std::vector<std::string>& running) {
    absl::StatusOr<uint64_t> stream =
        coord_->OpenTaskStream(node.node_id, node.secret, running);
    EXPECT_TRUE(stream.ok()) << stream.status();
    if (!stream.ok()) return {};
    absl::StatusOr<std::vector<TaskCommand>> c =
        coord_->NextCommands(node.node_id, *stream, absl::Now());
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? *c : std::vector<TaskCommand>{};
  }
  absl::Status Report(const NodeCredentials& node, const std::string& task,
                      TaskReport::Kind kind) {
    TaskReport report;
    report.set_task_id(task);
    report.set_node_id(node.node_id);
    report.set_node_secret(node.secret);
    report.set_kind(kind);
    return coord_->ReportTask(report).status();
  }
  std::string Submit(uint32_t workers) {
    JobSpec spec;
    spec.set_num_workers(workers);
    spec.mutable_ps_load_test();
    return *coord_->jobs().Submit(spec);
  }

  FakeClock clock_;
  Coordinator::Options options_;
  std::unique_ptr<Coordinator> coord_;
};

TEST_F(CoordinatorRestartTest, ARunningJobFinishesAcrossARestart) {
  const NodeCredentials ps = Add("ps");
  const NodeCredentials a = Add("general");
  const NodeCredentials b = Add("general");
  const std::string job = Submit(2);
  coord_->Tick();
  ASSERT_EQ(Attach(a, {}).size(), 1u);
  ASSERT_EQ(Attach(b, {}).size(), 1u);
  ASSERT_EQ(coord_->jobs().Get(job)->state(), RUNNING);

  clock_.Advance(absl::Seconds(3));
  Restart();
  EXPECT_EQ(coord_->jobs().Get(job)->state(), RUNNING);
  // The nodes come back with their ids: heartbeats, streams and reports.
  ASSERT_TRUE(coord_->registry().Heartbeat(ps.node_id, ps.secret).ok());
  EXPECT_THAT(Attach(a, {job + "/task-0"}), IsEmpty()) << "not sent again";
  EXPECT_THAT(Attach(b, {job + "/task-1"}), IsEmpty());
  coord_->Tick();
  ASSERT_TRUE(Report(a, job + "/task-0", TaskReport::SUCCEEDED).ok());
  ASSERT_TRUE(Report(b, job + "/task-1", TaskReport::SUCCEEDED).ok());
  EXPECT_EQ(coord_->jobs().Get(job)->state(), SUCCEEDED);

  // A job submitted after the restart gets a new id and runs on them.
  const std::string next = Submit(2);
  EXPECT_EQ(next, "job-2");
  coord_->Tick();
  EXPECT_EQ(Attach(a, {}).size(), 1u);
  EXPECT_EQ(coord_->jobs().Get(next)->state(), RUNNING);
  EXPECT_EQ(Add("general").node_id, "node-4") << "node ids are not reused";
}

TEST_F(CoordinatorRestartTest, CheckpointIdsAreNeverReusedAcrossARestart) {
  PsServerOptions so;
  so.data_dir = testing::FreshTestDir("coordinator_restart_checkpoints");
  auto shards = testing::LocalShards::Start(1, so);
  ASSERT_TRUE(shards.ok()) << shards.status();
  NodeInfo ps;
  ps.set_role("ps");
  ps.set_address((*shards)->addresses()[0]);
  ps.set_num_shards(1);
  absl::StatusOr<RegisterNodeResponse> r = coord_->RegisterNode(ps);
  ASSERT_TRUE(r.ok()) << r.status();
  absl::StatusOr<CheckpointPolicy::Written> first = coord_->Checkpoint();
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->checkpoint_id,
            static_cast<uint64_t>(absl::ToUnixMillis(clock_.Now())));
  // The clock has not moved: the restarted coordinator still picks a new id.
  Restart();
  ASSERT_TRUE(
      coord_->registry().Heartbeat(r->node_id(), r->node_secret()).ok());
  absl::StatusOr<CheckpointPolicy::Written> second = coord_->Checkpoint();
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->checkpoint_id, first->checkpoint_id + 1);
  ASSERT_EQ(second->shards.size(), 1u);
  EXPECT_EQ(second->shards[0].checkpoint_id(), second->checkpoint_id);
}

TEST_F(CoordinatorRestartTest, ATaskItsNodeNoLongerRunsIsLost) {
  Add("ps");
  const NodeCredentials a = Add("general");
  const std::string job = Submit(1);
  coord_->Tick();
  ASSERT_EQ(Attach(a, {}).size(), 1u);
  Restart();
  // The worker restarted too: it runs nothing.
  Attach(a, {});
  const JobStatus status = *coord_->jobs().Get(job);
  EXPECT_EQ(status.state(), FAILED);
  EXPECT_THAT(status.reason(),
              HasSubstr(job + "/task-0 on " + a.node_id + " was lost"));
}

TEST_F(CoordinatorRestartTest, AWorkerThatDoesNotComeBackFailsItsJob) {
  const NodeCredentials ps = Add("ps");
  const NodeCredentials a = Add("general");
  const std::string job = Submit(1);
  coord_->Tick();
  ASSERT_EQ(Attach(a, {}).size(), 1u);
  Restart();
  coord_->Tick();
  EXPECT_EQ(coord_->jobs().Get(job)->state(), RUNNING) << "a timeout to return";
  clock_.Advance(absl::Seconds(7));
  coord_->Tick();
  const JobStatus status = *coord_->jobs().Get(job);
  EXPECT_EQ(status.state(), FAILED);
  EXPECT_THAT(status.reason(), HasSubstr("died: no heartbeat"));
}

TEST_F(CoordinatorRestartTest, ATaskItDoesNotKnowIsCancelledOnTheNode) {
  Add("ps");
  const NodeCredentials a = Add("general");
  std::vector<TaskCommand> commands = Attach(a, {"job-7/task-0"});
  ASSERT_EQ(commands.size(), 1u);
  EXPECT_EQ(commands[0].cancel_task_id(), "job-7/task-0");
}

TEST_F(CoordinatorRestartTest, WrongSecretsArePermissionDenied) {
  Add("ps");
  const NodeCredentials a = Add("general");
  const NodeCredentials b = Add("general");
  const std::string job = Submit(1);
  coord_->Tick();
  EXPECT_EQ(coord_->OpenTaskStream(a.node_id, b.secret).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(Report({a.node_id, ""}, job + "/task-0", TaskReport::FAILED).code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(coord_->jobs().Get(job)->state(), RUNNING);
  EXPECT_EQ(
      coord_->RegisterNode(NodeInfo(), {a.node_id, b.secret}).status().code(),
      absl::StatusCode::kPermissionDenied);
  // Listings never carry a secret.
  const std::string cluster = coord_->Cluster().SerializeAsString();
  EXPECT_EQ(cluster.find(a.secret), std::string::npos);
  EXPECT_EQ(cluster.find(b.secret), std::string::npos);
}

TEST_F(CoordinatorRestartTest, ASecondCoordinatorOnTheSameDirectoryIsRefused) {
  absl::StatusOr<std::unique_ptr<Coordinator>> second =
      Coordinator::Create(options_, &clock_);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition)
      << second.status();
  EXPECT_THAT(std::string(second.status().message()),
              HasSubstr(options_.state_dir));
}

// Over gRPC: nodes heartbeat through NodeSession while the coordinator is
// restarted under them.
class CoordinatorRestartRaceTest : public ::testing::Test {
 protected:
  static constexpr int kNodes = 50;
  static constexpr int kLateNodes = 10;  // register while it is down

  void TearDown() override {
    sessions_.clear();
    server_.reset();
  }
  void StartServer(const std::string& state_dir) {
    CoordinatorServer::Options o;
    o.listen = address_.empty() ? "127.0.0.1:0" : address_;
    o.coordinator.state_dir = state_dir;
    o.coordinator.registry.heartbeat_interval = absl::Milliseconds(50);
    o.coordinator.registry.node_timeout = absl::Seconds(10);
    absl::StatusOr<std::unique_ptr<CoordinatorServer>> server;
    // The port is free again once the old server's socket is closed.
    for (int i = 0; i < 100; ++i) {
      server = CoordinatorServer::Start(o);
      if (server.ok()) break;
      absl::SleepFor(absl::Milliseconds(50));
    }
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    address_ = server_->address();
  }
  NodeSession& AddSession(int i) {
    NodeSessionOptions o;
    o.coordinator = address_;
    o.node.set_role(i % 5 == 0 ? "ps" : "general");
    if (i % 5 == 0) {
      o.node.set_shard_id(i / 5);
      o.node.set_num_shards(100);
      o.node.set_address(absl::StrCat("127.0.0.1:", 20000 + i));
    }
    o.node.set_hostname(absl::StrCat("host-", i));
    o.rpc_timeout = absl::Seconds(5);
    o.backoff = absl::Milliseconds(10);
    o.max_backoff = absl::Milliseconds(100);
    sessions_.push_back(std::make_unique<NodeSession>(o));
    return *sessions_.back();
  }
  // Waits until every session is registered and the coordinator has heard
  // from every node since it started; returns the live nodes' ids.
  std::vector<std::string> AwaitWhole(size_t sessions) {
    const absl::Time deadline = absl::Now() + absl::Seconds(60);
    std::vector<std::string> ids;
    while (absl::Now() < deadline) {
      ids.clear();
      for (const NodeInfo& n :
           server_->coordinator().registry().Schedulable()) {
        ids.push_back(n.node_id());
      }
      // Whole when the coordinator has every session and each session has
      // learnt the id the coordinator holds for it (a session re-registering
      // after a restart is live there a moment before it knows its new id).
      const std::vector<std::string> mine = SessionIds();
      if (ids.size() == sessions &&
          std::set<std::string>(mine.begin(), mine.end()) ==
              std::set<std::string>(ids.begin(), ids.end())) {
        break;
      }
      absl::SleepFor(absl::Milliseconds(20));
    }
    return ids;
  }
  std::vector<std::string> SessionIds() {
    std::vector<std::string> ids;
    for (const auto& s : sessions_) ids.push_back(s->node_id());
    return ids;
  }

  std::string address_;
  std::unique_ptr<CoordinatorServer> server_;
  std::vector<std::unique_ptr<NodeSession>> sessions_;
};

TEST_F(CoordinatorRestartRaceTest, NodesKeepTheirIdsThroughRestarts) {
  const std::string dir = testing::FreshTestDir("coordinator_restart_race");
  StartServer(dir);
  for (int i = 0; i < kNodes; ++i) {
    NodeSession& s = AddSession(i);
    ASSERT_TRUE(s.Register().ok());
    s.StartHeartbeats(nullptr, nullptr);
  }
  const std::vector<std::string> before = SessionIds();
  ASSERT_EQ(std::set<std::string>(before.begin(), before.end()).size(),
            static_cast<size_t>(kNodes));
  for (int restart = 0; restart < 3; ++restart) {
    absl::SleepFor(absl::Milliseconds(200));  // heartbeats flow
    server_.reset();  // stops serving and closes the store
    std::vector<std::thread> late;
    if (restart == 1) {
      // New nodes register while the coordinator is down (they retry).
      for (int i = 0; i < kLateNodes; ++i) {
        NodeSession& s = AddSession(kNodes + i);
        late.emplace_back([&s] {
          ASSERT_TRUE(s.Register().ok());
          s.StartHeartbeats(nullptr, nullptr);
        });
      }
    }
    absl::SleepFor(absl::Milliseconds(300));
    StartServer(dir);
    for (std::thread& t : late) t.join();
    const size_t expected = sessions_.size();
    const std::vector<std::string> live = AwaitWhole(expected);
    ASSERT_EQ(live.size(), expected) << "restart " << restart;
    // No node lost, no id collision, every node has its old id.
    const std::vector<std::string> now = SessionIds();
    EXPECT_EQ(std::set<std::string>(now.begin(), now.end()),
              std::set<std::string>(live.begin(), live.end()));
    EXPECT_EQ(std::vector<std::string>(now.begin(), now.begin() + kNodes),
              before);
  }
  // The late nodes got fresh ids after the first 50.
  for (int i = kNodes; i < kNodes + kLateNodes; ++i) {
    int number = 0;
    ASSERT_TRUE(absl::SimpleAtoi(sessions_[i]->node_id().substr(5), &number));
    EXPECT_GT(number, kNodes);
  }
}

TEST_F(CoordinatorRestartRaceTest, WithoutAStateDirNodesReRegisterApart) {
  StartServer("");
  for (int i = 0; i < kNodes; ++i) {
    NodeSession& s = AddSession(i);
    ASSERT_TRUE(s.Register().ok());
    s.StartHeartbeats(nullptr, nullptr);
  }
  server_.reset();
  absl::SleepFor(absl::Milliseconds(200));
  StartServer("");
  // The new coordinator hands out node-1... again; a node that heartbeats
  // with an id another node took gets PERMISSION_DENIED and registers anew,
  // so in the end every node has an id of its own.
  const std::vector<std::string> live = AwaitWhole(kNodes);
  ASSERT_EQ(live.size(), static_cast<size_t>(kNodes));
  const std::vector<std::string> now = SessionIds();
  EXPECT_EQ(std::set<std::string>(now.begin(), now.end()),
            std::set<std::string>(live.begin(), live.end()));
}

}  // namespace
}  // namespace strata
