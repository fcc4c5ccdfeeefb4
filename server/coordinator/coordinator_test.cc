#include "server/coordinator/coordinator.h"

#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "glog/logging.h"
#include "gtest/gtest.h"
#include "server/util/clock.h"

namespace strata {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

class CoordinatorTest : public ::testing::Test {
 protected:
  static Coordinator::Options Opts() {
    Coordinator::Options o;
    o.background_thread = false;  // the test calls Tick()
    return o;
  }

  std::string AddNode(const std::string& role) {
    NodeInfo node;
    node.set_role(role);
    node.set_hostname("h");
    if (role == "ps") {
      node.set_address("ps:1");
      node.set_num_shards(1);
    }
    absl::StatusOr<RegisterNodeResponse> r = coord_.RegisterNode(node);
    EXPECT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->heartbeat_interval_ms(), 1000u);
    EXPECT_EQ(r->node_secret().size(), 16u);
    secrets_[r->node_id()] = r->node_secret();
    return r->node_id();
  }
  std::string Submit(uint32_t workers) {
    JobSpec spec;
    spec.set_num_workers(workers);
    spec.mutable_ps_load_test();
    return *coord_.jobs().Submit(spec);
  }
  // Commands queued for `node` right now (does not block).
  std::vector<TaskCommand> Poll(const std::string& node, uint64_t stream) {
    absl::StatusOr<std::vector<TaskCommand>> c =
        coord_.NextCommands(node, stream, absl::Now());
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? *c : std::vector<TaskCommand>{};
  }
  void HeartbeatAllBut(const std::string& skip) {
    for (const NodeInfo& n : coord_.registry().List()) {
      if (n.alive() && n.node_id() != skip) {
        ASSERT_TRUE(coord_.registry()
                        .Heartbeat(n.node_id(), secrets_[n.node_id()])
                        .ok());
      }
    }
  }

  FakeClock clock_;
  Coordinator coord_{Opts(), &clock_};
  std::map<std::string, std::string> secrets_;  // node id -> secret
};

TEST_F(CoordinatorTest, DeliversAssignmentsOnTheNodesStream) {
  AddNode("ps");
  const std::string w = AddNode("general");
  const uint64_t stream = *coord_.OpenTaskStream(w, secrets_[w]);
  const std::string job = Submit(1);
  EXPECT_THAT(Poll(w, stream), IsEmpty());
  coord_.Tick();
  std::vector<TaskCommand> cmds = Poll(w, stream);
  ASSERT_EQ(cmds.size(), 1u);
  EXPECT_EQ(cmds[0].assign().task_id(), job + "/task-0");
  EXPECT_THAT(cmds[0].assign().ps_addresses(), ElementsAre("ps:1"));
  EXPECT_THAT(Poll(w, stream), IsEmpty()) << "delivered once";

  ClusterResponse cluster = coord_.Cluster();
  ASSERT_EQ(cluster.nodes_size(), 2);
  EXPECT_EQ(cluster.nodes(1).current_task(), job + "/task-0");
  EXPECT_THAT(cluster.ps_addresses(), ElementsAre("ps:1"));
}

TEST_F(CoordinatorTest, ANodeWhoseStreamWentAwayGetsNoTaskUntilItReconnects) {
  AddNode("ps");
  const std::string w = AddNode("general");
  const uint64_t first = *coord_.OpenTaskStream(w, secrets_[w]);
  coord_.TaskStreamGone(w, first);  // the worker process died
  EXPECT_TRUE(coord_.TaskStreamDetached(w));
  const std::string job = Submit(1);
  coord_.Tick();
  EXPECT_EQ(coord_.jobs().Get(job)->state(), PENDING)
      << "not placed on a node that is still alive but gone";
  const uint64_t second = *coord_.OpenTaskStream(w, secrets_[w]);
  EXPECT_FALSE(coord_.TaskStreamDetached(w));
  coord_.TaskStreamGone(w, first);  // a superseded stream changes nothing
  EXPECT_FALSE(coord_.TaskStreamDetached(w));
  coord_.Tick();
  EXPECT_EQ(coord_.jobs().Get(job)->state(), RUNNING);
  ASSERT_EQ(Poll(w, second).size(), 1u);
}

TEST_F(CoordinatorTest, CancelSendsCancelCommandForDeliveredTask) {
  AddNode("ps");
  const std::string w = AddNode("general");
  const uint64_t stream = *coord_.OpenTaskStream(w, secrets_[w]);
  const std::string job = Submit(1);
  coord_.Tick();
  ASSERT_EQ(Poll(w, stream).size(), 1u);
  EXPECT_EQ(*coord_.CancelJob(job), CANCELLED);
  std::vector<TaskCommand> cmds = Poll(w, stream);
  ASSERT_EQ(cmds.size(), 1u);
  EXPECT_EQ(cmds[0].cancel_task_id(), job + "/task-0");
  EXPECT_EQ(coord_.CancelJob(job).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(CoordinatorTest, CancelBeforeDeliveryDropsTheAssignmentAndFreesTheNode) {
  AddNode("ps");
  const std::string w = AddNode("general");
  const std::string job = Submit(1);
  coord_.Tick();
  ASSERT_TRUE(coord_.CancelJob(job).ok());
  const uint64_t stream = *coord_.OpenTaskStream(w, secrets_[w]);
  EXPECT_THAT(Poll(w, stream), IsEmpty()) << "neither assign nor cancel";
  EXPECT_THAT(coord_.jobs().ActiveTasksByNode(), IsEmpty());
}

TEST_F(CoordinatorTest, FailedTaskCancelsTheJobsOtherTasks) {
  AddNode("ps");
  const std::string a = AddNode("general");
  const std::string b = AddNode("general");
  const uint64_t sb = *coord_.OpenTaskStream(b, secrets_[b]);
  const std::string job = Submit(2);
  coord_.Tick();
  ASSERT_EQ(Poll(b, sb).size(), 1u);
  TaskReport report;
  report.set_task_id(job + "/task-0");
  report.set_node_id(a);
  report.set_node_secret(secrets_[a]);
  report.set_kind(TaskReport::FAILED);
  report.set_message("boom");
  ASSERT_TRUE(coord_.ReportTask(report).ok());
  std::vector<TaskCommand> cmds = Poll(b, sb);
  ASSERT_EQ(cmds.size(), 1u);
  EXPECT_EQ(cmds[0].cancel_task_id(), job + "/task-1");
  EXPECT_EQ(coord_.jobs().Get(job)->reason(),
            "task " + job + "/task-0 on " + a + " failed: boom");
}

// Collects the messages glog writes while it is registered.
class CapturedLog : public google::LogSink {
 public:
  CapturedLog() { google::AddLogSink(this); }
  ~CapturedLog() override { google::RemoveLogSink(this); }
  void send(google::LogSeverity, const char*, const char*, int,
            const struct ::tm*, const char* message,
            size_t length) override {
    absl::MutexLock lock(&mu_);
    text_.append(message, length).append("\n");
  }
  std::string text() {
    absl::MutexLock lock(&mu_);
    return text_;
  }

 private:
  absl::Mutex mu_;
  std::string text_ ABSL_GUARDED_BY(mu_);
};

TEST_F(CoordinatorTest, AReportsMessageIsEscapedInTheLog) {
  AddNode("ps");
  const std::string a = AddNode("general");
  const std::string job = Submit(1);
  coord_.Tick();
  TaskReport report;
  report.set_task_id(job + "/task-0");
  report.set_node_id(a);
  report.set_node_secret(secrets_[a]);
  report.set_kind(TaskReport::FAILED);
  report.set_message("boom\nE1130 00:00:00 forged.cc:1] coordinator hacked");
  CapturedLog log;
  ASSERT_TRUE(coord_.ReportTask(report).ok());
  EXPECT_THAT(log.text(), HasSubstr("boom\\nE1130 00:00:00 forged.cc:1]"));
  EXPECT_THAT(log.text(), Not(HasSubstr("\nE1130 00:00:00 forged")));
}

TEST_F(CoordinatorTest, StreamOfDeadNodeEndsWithFailedPrecondition) {
  const std::string w = AddNode("general");
  const uint64_t stream = *coord_.OpenTaskStream(w, secrets_[w]);
  clock_.Advance(absl::Seconds(7));
  coord_.Tick();
  absl::StatusOr<std::vector<TaskCommand>> c =
      coord_.NextCommands(w, stream, absl::InfiniteFuture());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(coord_.OpenTaskStream(w, secrets_[w]).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(coord_.OpenTaskStream("node-99", "").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(CoordinatorTest, NodeDeathWakesAWaitingStream) {
  const std::string w = AddNode("general");
  const uint64_t stream = *coord_.OpenTaskStream(w, secrets_[w]);
  std::thread killer([&] {
    clock_.Advance(absl::Seconds(7));
    coord_.Tick();
  });
  // No deadline: only the death can end this wait.
  absl::StatusOr<std::vector<TaskCommand>> c =
      coord_.NextCommands(w, stream, absl::InfiniteFuture());
  killer.join();
  EXPECT_EQ(c.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(CoordinatorTest, NewerStreamSupersedesOlderOne) {
  const std::string w = AddNode("general");
  const uint64_t old_stream = *coord_.OpenTaskStream(w, secrets_[w]);
  const uint64_t new_stream = *coord_.OpenTaskStream(w, secrets_[w]);
  absl::StatusOr<std::vector<TaskCommand>> c =
      coord_.NextCommands(w, old_stream, absl::InfiniteFuture());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kAborted);
  EXPECT_TRUE(coord_.NextCommands(w, new_stream, absl::Now()).ok());
}

TEST_F(CoordinatorTest, ReturnedCommandsAreDeliveredAgainInOrder) {
  AddNode("ps");
  const std::string w = AddNode("general");
  const uint64_t stream = *coord_.OpenTaskStream(w, secrets_[w]);
  const std::string job = Submit(1);
  coord_.Tick();
  std::vector<TaskCommand> cmds = Poll(w, stream);
  ASSERT_EQ(cmds.size(), 1u);
  coord_.ReturnCommands(w, cmds);
  std::vector<TaskCommand> again =
      Poll(w, *coord_.OpenTaskStream(w, secrets_[w]));
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].assign().task_id(), job + "/task-0");
}

TEST_F(CoordinatorTest, UndeliveredAssignmentFailsTheJobAfterTimeout) {
  AddNode("ps");
  const std::string w = AddNode("general");  // never opens WatchTasks
  const std::string job = Submit(1);
  coord_.Tick();
  for (int i = 0; i < 31; ++i) {
    clock_.Advance(absl::Seconds(1));
    HeartbeatAllBut("");
  }
  coord_.Tick();
  JobStatus status = *coord_.jobs().Get(job);
  EXPECT_EQ(status.state(), FAILED);
  EXPECT_EQ(status.reason(),
            "task " + job + "/task-0 was not picked up by " + w +
                " within 30s (is its WatchTasks stream open?)");
  EXPECT_THAT(coord_.jobs().ActiveTasksByNode(), IsEmpty());
}

TEST_F(CoordinatorTest, ShutdownEndsStreamsWithUnavailable) {
  const std::string w = AddNode("general");
  const uint64_t stream = *coord_.OpenTaskStream(w, secrets_[w]);
  std::thread stopper([&] { coord_.Shutdown(); });
  absl::StatusOr<std::vector<TaskCommand>> c =
      coord_.NextCommands(w, stream, absl::InfiniteFuture());
  stopper.join();
  EXPECT_EQ(c.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("shutting down"));
}

TEST(CoordinatorThreadTest, BackgroundThreadSchedulesAndStopsCleanly) {
  Coordinator::Options options;
  options.tick_interval = absl::Milliseconds(1);
  auto coord = std::make_unique<Coordinator>(options);
  NodeInfo ps;
  ps.set_role("ps");
  ps.set_address("ps:1");
  ps.set_num_shards(1);
  ASSERT_TRUE(coord->RegisterNode(ps).ok());
  NodeInfo worker;
  const RegisterNodeResponse w_reg = *coord->RegisterNode(worker);
  const std::string w = w_reg.node_id();
  const uint64_t stream = *coord->OpenTaskStream(w, w_reg.node_secret());
  JobSpec spec;
  spec.mutable_ps_load_test();
  ASSERT_TRUE(coord->jobs().Submit(spec).ok());
  // Blocks until the background thread's pass queues the assignment.
  absl::StatusOr<std::vector<TaskCommand>> c =
      coord->NextCommands(w, stream, absl::InfiniteFuture());
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(c->size(), 1u);
  EXPECT_TRUE((*c)[0].has_assign());
  coord.reset();  // joins the thread
}

}  // namespace
}  // namespace strata

namespace strata {
namespace {

// The whole path of a restart: the node's death, the cancel sent to the
// surviving task, its confirmation, the BSP reset, the new attempt's
// assignments on the survivor's node and a spare.
TEST(CoordinatorJobRestartTest, ALostTaskRestartsTheJobOnASpare) {
  FakeClock clock;
  std::vector<std::string> resets;
  Coordinator::Options o;
  o.background_thread = false;
  o.scheduler.reset_dense_steps = [&resets](const std::string& prefix) {
    resets.push_back(prefix);
    return absl::OkStatus();
  };
  Coordinator coord(o, &clock);
  std::map<std::string, std::string> secrets;
  std::map<std::string, uint64_t> streams;
  for (const char* role : {"ps", "general", "general", "general"}) {
    NodeInfo node;
    node.set_role(role);
    node.set_hostname("h");
    if (node.role() == "ps") {
      node.set_address("ps:1");
      node.set_num_shards(1);
    }
    const RegisterNodeResponse r = *coord.RegisterNode(node);
    secrets[r.node_id()] = r.node_secret();
    if (node.role() != "ps") {
      streams[r.node_id()] =
          *coord.OpenTaskStream(r.node_id(), r.node_secret());
    }
  }
  auto poll = [&](const std::string& node) {
    return *coord.NextCommands(node, streams[node], absl::Now());
  };
  JobSpec spec;
  spec.set_num_workers(2);
  spec.mutable_ctr_train();
  const std::string job = *coord.jobs().Submit(spec);
  coord.Tick();
  ASSERT_EQ(poll("node-2").size(), 1u);
  ASSERT_EQ(poll("node-3").size(), 1u);
  for (int i = 0; i < 7; ++i) {  // node-3 stops heartbeating
    clock.Advance(absl::Seconds(1));
    for (const char* n : {"node-1", "node-2", "node-4"}) {
      ASSERT_TRUE(coord.registry().Heartbeat(n, secrets[n]).ok());
    }
  }
  coord.Tick();
  std::vector<TaskCommand> cmds = poll("node-2");
  ASSERT_EQ(cmds.size(), 1u);
  EXPECT_EQ(cmds[0].cancel_task_id(), job + "/task-0");
  EXPECT_THAT(resets, IsEmpty()) << "the old task still runs";
  TaskReport stopped;
  stopped.set_task_id(job + "/task-0");
  stopped.set_node_id("node-2");
  stopped.set_node_secret(secrets["node-2"]);
  stopped.set_kind(TaskReport::CANCELLED);
  EXPECT_TRUE(coord.ReportTask(stopped)->cancel());
  coord.Tick();
  EXPECT_THAT(resets, ElementsAre("ctr/"));
  cmds = poll("node-2");
  ASSERT_EQ(cmds.size(), 1u);
  EXPECT_EQ(cmds[0].assign().task_id(), job + "/task-0.r1");
  EXPECT_EQ(cmds[0].assign().attempt(), 1u);
  cmds = poll("node-4");
  ASSERT_EQ(cmds.size(), 1u);
  EXPECT_EQ(cmds[0].assign().task_id(), job + "/task-1.r1");
  const JobStatus status = *coord.jobs().Get(job);
  EXPECT_EQ(status.state(), RUNNING);
  EXPECT_EQ(status.restarts(), 1u);
}

}  // namespace
}  // namespace strata
