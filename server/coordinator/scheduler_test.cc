#include "server/coordinator/scheduler.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/coordinator/testing/state_testing.h"
#include "server/util/clock.h"

namespace strata {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

class SchedulerTest : public ::testing::Test {
 protected:
  SchedulerTest()
      : registry_(NodeRegistry::Options{}, &clock_),
        jobs_(JobManager::Options{}, &clock_),
        scheduler_(WithRecordedResets(), &registry_, &jobs_, &clock_) {}

  // Records each BSP reset and answers reset_status_.
  Scheduler::Options WithRecordedResets() {
    Scheduler::Options options;
    options.reset_dense_steps = [this](const std::string& prefix) {
      resets_.push_back(prefix);
      return reset_status_;
    };
    options.can_take_tasks = [this](const std::string& node_id) {
      return !detached_.contains(node_id);
    };
    return options;
  }

  std::string Track(absl::StatusOr<NodeCredentials> r) {
    return secrets_.Track(r);
  }
  absl::Status Beat(const std::string& id) {
    return secrets_.Beat(registry_, id);
  }
  std::string AddWorker(const std::string& role = "general",
                        uint32_t gpus = 0) {
    NodeInfo node;
    node.set_role(role);
    node.set_hostname("host");
    node.set_gpus(gpus);
    return Track(registry_.Register(node));
  }
  std::string AddPs(uint32_t shard, uint32_t num_shards) {
    NodeInfo node;
    node.set_role("ps");
    node.set_address("ps" + std::to_string(shard) + ":9000");
    node.set_shard_id(shard);
    node.set_num_shards(num_shards);
    return Track(registry_.Register(node));
  }
  std::string Submit(uint32_t workers, const std::string& role = "",
                     uint32_t gpus = 0) {
    JobSpec spec;
    spec.set_num_workers(workers);
    spec.set_worker_role(role);
    spec.set_gpus_per_worker(gpus);
    spec.mutable_ps_load_test();
    return *jobs_.Submit(spec);
  }
  // Keeps every registered node alive across a clock advance.
  void AdvanceWithHeartbeats(absl::Duration d) {
    while (d > absl::ZeroDuration()) {
      const absl::Duration step = std::min(d, absl::Seconds(1));
      clock_.Advance(step);
      d -= step;
      for (const NodeInfo& n : registry_.List()) {
        if (n.alive()) (void)Beat(n.node_id());
      }
    }
  }

  FakeClock clock_;
  NodeRegistry registry_;
  JobManager jobs_;
  Scheduler scheduler_;
  testing::NodeSecrets secrets_;
  std::vector<std::string> resets_;
  absl::Status reset_status_;
  absl::flat_hash_set<std::string> detached_;  // can_take_tasks is false
};

TEST_F(SchedulerTest, AssignsLowestIdleNodeIdsFirst) {
  AddPs(0, 1);
  std::vector<std::string> workers;
  for (int i = 0; i < 11; ++i) workers.push_back(AddWorker());
  const std::string job = Submit(2);
  Scheduler::Pass pass = scheduler_.RunOnce();
  EXPECT_THAT(pass.assignment_nodes, ElementsAre("node-2", "node-3"));
  ASSERT_EQ(pass.assignments.size(), 2u);
  EXPECT_EQ(pass.assignments[0].task_id(), job + "/task-0");
  EXPECT_THAT(pass.assignments[0].ps_addresses(), ElementsAre("ps0:9000"));
  EXPECT_EQ(jobs_.Get(job)->state(), RUNNING);

  // The next job gets the next idle nodes; busy ones are skipped.
  Submit(1);
  pass = scheduler_.RunOnce();
  EXPECT_THAT(pass.assignment_nodes, ElementsAre("node-4"));
}

TEST_F(SchedulerTest, NodesThatCannotTakeTasksAreSkippedUntilTheyCan) {
  AddPs(0, 1);
  const std::string a = AddWorker(), b = AddWorker(), c = AddWorker();
  detached_.insert(a);  // its task stream closed: the process died
  Submit(2);
  Scheduler::Pass pass = scheduler_.RunOnce();
  EXPECT_THAT(pass.assignment_nodes, ElementsAre(b, c));
  Submit(1);
  EXPECT_THAT(scheduler_.RunOnce().assignment_nodes, IsEmpty());
  detached_.erase(a);  // it reconnected
  EXPECT_THAT(scheduler_.RunOnce().assignment_nodes, ElementsAre(a));
}

TEST_F(SchedulerTest, RespectsRoleAndGpus) {
  AddPs(0, 1);
  AddWorker("general", 0);  // node-2
  AddWorker("conv", 0);     // node-3
  AddWorker("conv", 4);     // node-4
  const std::string job = Submit(1, "conv", 2);
  Scheduler::Pass pass = scheduler_.RunOnce();
  EXPECT_THAT(pass.assignment_nodes, ElementsAre("node-4"));
  EXPECT_EQ(jobs_.Get(job)->spec().worker_role(), "conv");
}

TEST_F(SchedulerTest, NeverAssignsToPsNodesOrTwoTasksToOneNode) {
  AddPs(0, 1);
  AddWorker();
  const std::string first = Submit(1);
  const std::string second = Submit(1);
  Scheduler::Pass pass = scheduler_.RunOnce();
  EXPECT_THAT(pass.assignment_nodes, ElementsAre("node-2"));
  EXPECT_EQ(jobs_.Get(first)->state(), RUNNING);
  EXPECT_EQ(jobs_.Get(second)->state(), PENDING);
  // When the first job ends, the node is free for the second.
  ASSERT_TRUE(jobs_
                  .Report([&] {
                    TaskReport r;
                    r.set_task_id(first + "/task-0");
                    r.set_node_id("node-2");
                    r.set_kind(TaskReport::SUCCEEDED);
                    return r;
                  }())
                  .ok());
  pass = scheduler_.RunOnce();
  EXPECT_THAT(pass.assignment_nodes, ElementsAre("node-2"));
  EXPECT_EQ(jobs_.Get(second)->state(), RUNNING);
}

TEST_F(SchedulerTest, SmallJobsBackfillPastAJobThatDoesNotFit) {
  AddPs(0, 1);
  AddWorker();
  const std::string big = Submit(3);
  const std::string small = Submit(1);
  scheduler_.RunOnce();
  EXPECT_EQ(jobs_.Get(big)->state(), PENDING);
  EXPECT_EQ(jobs_.Get(small)->state(), RUNNING);
}

TEST_F(SchedulerTest, FailsWithExactReasonAfterTheTimeout) {
  AddPs(0, 1);
  AddWorker();
  const std::string job = Submit(2);
  AdvanceWithHeartbeats(absl::Seconds(29));
  EXPECT_THAT(scheduler_.RunOnce().timed_out_jobs, IsEmpty());
  EXPECT_EQ(jobs_.Get(job)->state(), PENDING);
  AdvanceWithHeartbeats(absl::Seconds(1));
  EXPECT_THAT(scheduler_.RunOnce().timed_out_jobs, ElementsAre(job));
  JobStatus status = *jobs_.Get(job);
  EXPECT_EQ(status.state(), FAILED);
  EXPECT_EQ(status.reason(),
            "not scheduled within 30s: needs 2 workers with role 'general' "
            "and >= 0 GPUs; 1 registered and idle");
}

TEST_F(SchedulerTest, ReasonCountsBusyWorkersSeparately) {
  AddPs(0, 1);
  AddWorker();
  AddWorker();
  Submit(1);
  JobSpec spec;
  spec.set_num_workers(2);
  spec.set_schedule_timeout_s(5);
  spec.mutable_ps_load_test();
  const std::string job = *jobs_.Submit(spec);
  scheduler_.RunOnce();
  AdvanceWithHeartbeats(absl::Seconds(5));
  scheduler_.RunOnce();
  EXPECT_EQ(jobs_.Get(job)->reason(),
            "not scheduled within 5s: needs 2 workers with role 'general' "
            "and >= 0 GPUs; 1 registered and idle (1 more busy)");
}

TEST_F(SchedulerTest, WaitsForAllPsShardsAndSaysWhichIsMissing) {
  AddPs(0, 2);
  AddWorker();
  const std::string job = Submit(1);
  EXPECT_THAT(scheduler_.RunOnce().assignments, IsEmpty());
  AdvanceWithHeartbeats(absl::Seconds(30));
  scheduler_.RunOnce();
  EXPECT_EQ(jobs_.Get(job)->reason(),
            "not scheduled within 30s: parameter-server shards incomplete: "
            "shard 1 of 2 is not registered");
}

TEST_F(SchedulerTest, StartsOnceTheMissingShardRegisters) {
  AddPs(0, 2);
  AddWorker();
  const std::string job = Submit(1);
  scheduler_.RunOnce();
  AddPs(1, 2);
  Scheduler::Pass pass = scheduler_.RunOnce();
  ASSERT_EQ(pass.assignments.size(), 1u);
  EXPECT_THAT(pass.assignments[0].ps_addresses(),
              ElementsAre("ps0:9000", "ps1:9000"));
}

TEST_F(SchedulerTest, NodeDeathFailsTheRunningJobAndCancelsItsOtherTasks) {
  AddPs(0, 1);
  const std::string a = AddWorker();
  const std::string b = AddWorker();
  const std::string job = Submit(2);
  ASSERT_EQ(scheduler_.RunOnce().assignments.size(), 2u);
  // Everyone but `b` keeps heartbeating.
  for (int i = 0; i < 7; ++i) {
    clock_.Advance(absl::Seconds(1));
    ASSERT_TRUE(Beat("node-1").ok());
    ASSERT_TRUE(Beat(a).ok());
  }
  Scheduler::Pass pass = scheduler_.RunOnce();
  ASSERT_EQ(pass.dead_nodes.size(), 1u);
  EXPECT_EQ(pass.dead_nodes[0].node_id(), b);
  EXPECT_THAT(pass.to_cancel, ElementsAre(TaskRef{a, job + "/task-0"}));
  JobStatus status = *jobs_.Get(job);
  EXPECT_EQ(status.state(), FAILED);
  EXPECT_EQ(status.reason(), "node node-3 (host) died: no heartbeat for 6s");
}

TEST_F(SchedulerTest, RestartIsPlacedOnASpareOfTheSameRoleAfterTheReset) {
  AddPs(0, 1);
  const std::string a = AddWorker();
  const std::string b = AddWorker();
  AddWorker("other");  // node-4: wrong role
  JobSpec spec;
  spec.set_num_workers(2);
  spec.mutable_ctr_train();
  const std::string job = *jobs_.Submit(spec);
  ASSERT_EQ(scheduler_.RunOnce().assignments.size(), 2u);
  const std::string spare = AddWorker();  // node-5
  for (int i = 0; i < 7; ++i) {  // b stops heartbeating
    clock_.Advance(absl::Seconds(1));
    for (const std::string& n : {std::string("node-1"), a, spare,
                                 std::string("node-4")}) {
      ASSERT_TRUE(Beat(n).ok());
    }
  }
  Scheduler::Pass pass = scheduler_.RunOnce();
  EXPECT_THAT(pass.to_cancel, ElementsAre(TaskRef{a, job + "/task-0"}));
  EXPECT_THAT(pass.assignments, IsEmpty()) << "a's old task still runs";
  EXPECT_THAT(resets_, IsEmpty());
  EXPECT_EQ(jobs_.Get(job)->state(), RUNNING);
  TaskReport stopped;
  stopped.set_task_id(job + "/task-0");
  stopped.set_node_id(a);
  stopped.set_kind(TaskReport::CANCELLED);
  ASSERT_TRUE(jobs_.Report(stopped).ok());
  reset_status_ = absl::UnavailableError("shard 0 unreachable");
  EXPECT_THAT(scheduler_.RunOnce().assignments, IsEmpty());
  EXPECT_THAT(resets_, ElementsAre("ctr/"));
  reset_status_ = absl::OkStatus();
  pass = scheduler_.RunOnce();
  EXPECT_THAT(resets_, ElementsAre("ctr/", "ctr/"));
  EXPECT_THAT(pass.assignment_nodes, ElementsAre(a, spare));
  ASSERT_EQ(pass.assignments.size(), 2u);
  EXPECT_EQ(pass.assignments[1].task_id(), job + "/task-1.r1");
  EXPECT_EQ(pass.assignments[1].attempt(), 1u);
  EXPECT_THAT(pass.assignments[1].ps_addresses(), ElementsAre("ps0:9000"));
  EXPECT_EQ(jobs_.Get(job)->restarts(), 1u);
}

TEST_F(SchedulerTest, RestartNotPlacedWithinTheSpareWaitFailsNamingTheRole) {
  AddPs(0, 1);
  const std::string a = AddWorker();
  JobSpec spec;
  spec.set_num_workers(1);
  spec.set_spare_wait_s(10);
  spec.mutable_ctr_train();
  const std::string job = *jobs_.Submit(spec);
  ASSERT_EQ(scheduler_.RunOnce().assignments.size(), 1u);
  for (int i = 0; i < 7; ++i) {  // a stops heartbeating
    clock_.Advance(absl::Seconds(1));
    ASSERT_TRUE(Beat("node-1").ok());
  }
  EXPECT_THAT(scheduler_.RunOnce().timed_out_jobs, IsEmpty());
  EXPECT_EQ(jobs_.Get(job)->state(), RUNNING);
  AdvanceWithHeartbeats(absl::Seconds(9));
  EXPECT_THAT(scheduler_.RunOnce().timed_out_jobs, IsEmpty());
  AdvanceWithHeartbeats(absl::Seconds(1));
  EXPECT_THAT(scheduler_.RunOnce().timed_out_jobs, ElementsAre(job));
  const JobStatus status = *jobs_.Get(job);
  EXPECT_EQ(status.state(), FAILED);
  EXPECT_EQ(status.reason(),
            "restart 1 not placed within 10s: needs 1 workers with role "
            "'general' and >= 0 GPUs; 0 registered and idle (after 1 "
            "restart)");
  (void)a;
}

}  // namespace
}  // namespace strata

namespace strata {
namespace {

// CNN_TRAIN in STANZA mode: conv tasks (ranks 0..C-1) on role "conv", FC
// tasks (ranks C..) on role "fc" nodes that serve an address; every task
// learns its role and the FC addresses.
TEST_F(SchedulerTest, StanzaJobsTakeConvAndFcNodesAndTellThemTheirRoles) {
  AddPs(0, 1);
  const std::string fc_no_address = AddWorker("fc");
  const std::string conv0 = AddWorker("conv");
  const std::string conv1 = AddWorker("conv");
  NodeInfo fc;
  fc.set_role("fc");
  fc.set_address("fc:7000");
  const std::string fc_node = Track(registry_.Register(fc));
  JobSpec spec;
  spec.mutable_cnn_train()->set_num_conv_workers(2);
  spec.mutable_cnn_train()->set_num_fc_nodes(1);
  ASSERT_TRUE(jobs_.Submit(spec).ok());
  Scheduler::Pass pass = scheduler_.RunOnce();
  ASSERT_EQ(pass.assignments.size(), 3u);
  EXPECT_THAT(pass.assignment_nodes, ElementsAre(conv0, conv1, fc_node));
  EXPECT_EQ(pass.assignments[0].role(), "conv");
  EXPECT_EQ(pass.assignments[1].role(), "conv");
  EXPECT_EQ(pass.assignments[2].role(), "fc");
  EXPECT_EQ(pass.assignments[2].rank(), 2u);
  for (const TaskAssignment& a : pass.assignments) {
    EXPECT_THAT(a.fc_addresses(), ElementsAre("fc:7000"));
  }
  (void)fc_no_address;
}

TEST_F(SchedulerTest, StanzaJobWaitsForAnFcNodeWithAnAddress) {
  AddPs(0, 1);
  AddWorker("conv");
  AddWorker("fc");  // registered without --listen
  JobSpec spec;
  spec.mutable_cnn_train();
  ASSERT_TRUE(jobs_.Submit(spec).ok());
  EXPECT_THAT(scheduler_.RunOnce().assignments, IsEmpty());
  AdvanceWithHeartbeats(absl::Seconds(31));
  Scheduler::Pass pass = scheduler_.RunOnce();
  ASSERT_EQ(pass.timed_out_jobs.size(), 1u);
  const JobStatus st = *jobs_.Get(pass.timed_out_jobs[0]);
  EXPECT_NE(st.reason().find("needs 1 workers with role 'fc' serving an "
                             "address (--listen)"),
            std::string::npos)
      << st.reason();
}

}  // namespace
}  // namespace strata
