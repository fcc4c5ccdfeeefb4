// Drives WorkerAgent against a fake coordinator (server/node/testing) over
// real gRPC on 127.0.0.1, with test tasks whose behaviour each test scripts
// by task id: registration, SUCCEEDED / FAILED / CANCELLED reports, the
// worker-side check of assigned specs, re-registration and Stop.
#include "worker/worker_agent.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <fstream>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "server/jobs/job_types.h"
#include "server/node/testing/fake_coordinator.h"
#include "server/ps/testing/local_shards.h"
#include "worker/cnn/cnn_task.h"

namespace strata {
namespace {

using testing::FakeCoordinator;

// Bounds every wait so that a bug fails the test instead of hanging it.
constexpr absl::Duration kWait = absl::Seconds(30);

// What a test task does when it runs.
using Behaviour = std::function<absl::StatusOr<TaskMetrics>(
    const TaskAssignment&, TaskContext*)>;

// The behaviours of the test tasks by task id, and how often each ran.
// Thread-safe.
class Script {
 public:
  void Set(const std::string& task_id, Behaviour behaviour) {
    absl::MutexLock lock(&mu_);
    behaviours_[task_id] = std::move(behaviour);
  }
  int runs(const std::string& task_id) const {
    absl::MutexLock lock(&mu_);
    auto it = runs_.find(task_id);
    return it == runs_.end() ? 0 : it->second;
  }
  absl::StatusOr<TaskMetrics> Run(const TaskAssignment& a, TaskContext* ctx) {
    Behaviour behaviour;
    {
      absl::MutexLock lock(&mu_);
      ++runs_[a.task_id()];
      auto it = behaviours_.find(a.task_id());
      if (it == behaviours_.end()) {
        return absl::InternalError("no behaviour for " + a.task_id());
      }
      behaviour = it->second;
    }
    return behaviour(a, ctx);
  }

 private:
  mutable absl::Mutex mu_;
  std::map<std::string, Behaviour> behaviours_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int> runs_ ABSL_GUARDED_BY(mu_);
};

class ScriptedTask : public Task {
 public:
  explicit ScriptedTask(Script* script) : script_(script) {}
  absl::StatusOr<TaskMetrics> Run(const TaskAssignment& a,
                                  TaskContext* ctx) override {
    return script_->Run(a, ctx);
  }

 private:
  Script* const script_;
};

// Polls cancelled() as tasks do between batches; true once it turned true.
bool WaitUntilCancelled(TaskContext* ctx) {
  const absl::Time deadline = absl::Now() + kWait;
  while (!ctx->cancelled()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(1));
  }
  return true;
}

// A task that returns `result` at once.
Behaviour Returns(absl::StatusOr<TaskMetrics> result) {
  return [result](const TaskAssignment&, TaskContext*) { return result; };
}

// A task that signals `started`, then runs until cancelled and returns
// `on_cancel`.
Behaviour RunsUntilCancelled(absl::Notification* started,
                             absl::Status on_cancel) {
  return [started, on_cancel](const TaskAssignment&,
                              TaskContext* ctx) -> absl::StatusOr<TaskMetrics> {
    started->Notify();
    if (!WaitUntilCancelled(ctx)) return absl::InternalError("never cancelled");
    return on_cancel;
  };
}

// A valid ps_load_test spec as the coordinator assigns it (prepared).
JobSpec PreparedSpec() {
  JobSpec spec;
  spec.mutable_ps_load_test()->set_table("t");
  const absl::Status s = jobs::PrepareJobSpec({}, &spec);
  EXPECT_TRUE(s.ok()) << s;
  return spec;
}

// A valid ctr_train spec reading `data_path` (prepared).
JobSpec CtrSpecReading(const std::string& data_path) {
  JobSpec spec;
  spec.mutable_ctr_train()->set_data_path(data_path);
  spec.mutable_ctr_train()->mutable_model()->set_table("t");
  const absl::Status s = jobs::PrepareJobSpec({}, &spec);
  EXPECT_TRUE(s.ok()) << s;
  return spec;
}

// The test's temporary directory as a data root, symlinks resolved.
std::string TempRoot() {
  char* real = realpath(::testing::TempDir().c_str(), nullptr);
  std::string root = real;
  free(real);
  return root;
}

TaskAssignment Assignment(const std::string& task_id, JobSpec spec) {
  TaskAssignment a;
  a.set_task_id(task_id);
  a.set_job_id("job-1");
  a.set_num_tasks(1);
  *a.mutable_spec() = std::move(spec);
  return a;
}

class WorkerAgentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto fake = FakeCoordinator::Start();
    ASSERT_TRUE(fake.ok()) << fake.status();
    fake_ = std::move(*fake);
  }
  void TearDown() override { StopAgent(); }

  // Starts an agent whose registry runs the script for ps_load_test specs
  // (and real CnnTrainTasks for cnn_train specs) and returns once it watches
  // for tasks as node-1.
  void StartAgent(absl::Duration progress_interval = absl::ZeroDuration(),
                  DataRoots data_roots = DataRoots()) {
    WorkerOptions o;
    o.data_roots = std::move(data_roots);
    o.coordinator = fake_->address();
    o.role = "general";
    o.hostname = "host-1";
    o.cpus = 2;
    o.rpc_timeout = absl::Seconds(10);
    o.reconnect_backoff = absl::Milliseconds(5);
    o.max_reconnect_backoff = absl::Milliseconds(20);
    o.progress_interval = progress_interval;
    TaskRegistry registry;
    for (JobSpec::JobCase c : {JobSpec::kPsLoadTest, JobSpec::kCtrTrain}) {
      registry.Register(
          c, [this] { return std::make_unique<ScriptedTask>(&script_); });
    }
    registry.Register(JobSpec::kCnnTrain, [] {
      return std::make_unique<cnn::CnnTrainTask>(nullptr);
    });
    agent_ = std::make_unique<WorkerAgent>(o, std::move(registry));
    run_ = std::async(std::launch::async, [this] { return agent_->Run(); });
    ASSERT_TRUE(fake_->AwaitStream("node-1", kWait));
  }
  // Stops the agent; true when Run returned OK within kWait. Destroying the
  // agent joins its task threads.
  bool StopAgent() {
    if (agent_ == nullptr) return true;
    agent_->Stop();
    const bool stopped = run_.wait_for(absl::ToChronoSeconds(kWait)) ==
                         std::future_status::ready;
    const bool ok = stopped && run_.get().ok();
    agent_.reset();
    return ok;
  }
  // Assigns a task to node-1 and returns its report of `kind`.
  std::optional<TaskReport> RunTask(const std::string& task_id, JobSpec spec,
                                    TaskReport::Kind kind) {
    fake_->Assign("node-1", Assignment(task_id, std::move(spec)));
    return fake_->AwaitReport(task_id, kind, kWait);
  }

  std::unique_ptr<FakeCoordinator> fake_;  // outlives the agent
  Script script_;
  std::unique_ptr<WorkerAgent> agent_;
  std::future<absl::Status> run_;
};

TEST_F(WorkerAgentTest, RegistersWithItsResourcesAndWatchesForTasks) {
  StartAgent();
  EXPECT_EQ(agent_->node_id(), "node-1");
  const std::vector<NodeInfo> nodes = fake_->registered();
  ASSERT_EQ(nodes.size(), 1u);
  EXPECT_EQ(nodes[0].role(), "general");
  EXPECT_EQ(nodes[0].hostname(), "host-1");
  EXPECT_EQ(nodes[0].cpus(), 2u);
  EXPECT_TRUE(fake_->AwaitHeartbeats("node-1", 1, kWait));
}

TEST_F(WorkerAgentTest, RunsAnAssignedTaskAndReportsItsProgressAndMetrics) {
  StartAgent();
  script_.Set("t1",
              [](const TaskAssignment& a,
                 TaskContext* ctx) -> absl::StatusOr<TaskMetrics> {
                EXPECT_EQ(a.job_id(), "job-1");
                ctx->ReportProgress(3, 3, {{"examples", 30}});
                return TaskMetrics{{"examples", 42}, {"auc", 0.75}};
              });
  const auto done = RunTask("t1", PreparedSpec(), TaskReport::SUCCEEDED);
  ASSERT_TRUE(done.has_value());
  EXPECT_EQ(done->node_id(), "node-1");
  EXPECT_EQ(done->metrics().at("examples"), 42);
  EXPECT_EQ(done->metrics().at("auc"), 0.75);
  const std::vector<TaskReport> reports = fake_->reports("t1");
  ASSERT_EQ(reports.size(), 2u);
  EXPECT_EQ(reports[0].kind(), TaskReport::PROGRESS);
  EXPECT_EQ(reports[0].step(), 3);
  EXPECT_EQ(reports[0].total_steps(), 3);
  EXPECT_EQ(reports[0].metrics().at("examples"), 30);
  EXPECT_EQ(script_.runs("t1"), 1);
}

TEST_F(WorkerAgentTest, ATaskErrorIsReportedFailedWithTheStatus) {
  StartAgent();
  script_.Set("t1", Returns(absl::DataLossError("key 7 read back wrong")));
  const auto failed = RunTask("t1", PreparedSpec(), TaskReport::FAILED);
  ASSERT_TRUE(failed.has_value());
  EXPECT_EQ(failed->message(), "DATA_LOSS: key 7 read back wrong");
}

TEST_F(WorkerAgentTest, SavedProgressCheckpointsReachTheCoordinatorLatestLast) {
  StartAgent();
  script_.Set("t1",
              [](const TaskAssignment&,
                 TaskContext* ctx) -> absl::StatusOr<TaskMetrics> {
                ctx->SaveResume("first");
                ctx->ReportProgress(1, 2, {});
                ctx->SaveResume("second");
                return TaskMetrics{};
              });
  const auto done = RunTask("t1", PreparedSpec(), TaskReport::SUCCEEDED);
  ASSERT_TRUE(done.has_value());
  EXPECT_EQ(done->resume(), "second");  // the final report: the latest
  const std::vector<TaskReport> reports = fake_->reports("t1");
  ASSERT_EQ(reports.size(), 4u);
  // A record-only report leaves the task's progress alone (step 0 of 0).
  EXPECT_EQ(reports[0].resume(), "first");
  EXPECT_EQ(reports[0].total_steps(), 0);
  EXPECT_EQ(reports[1].step(), 1);
  EXPECT_EQ(reports[1].resume(), "");  // already delivered
  EXPECT_EQ(reports[2].resume(), "second");
}

TEST_F(WorkerAgentTest, ANewCheckpointIsSentWithinASecondDespiteThrottling) {
  StartAgent(absl::Hours(1));
  absl::Notification seen;
  script_.Set("t1",
              [this](const TaskAssignment&,
                     TaskContext* ctx) -> absl::StatusOr<TaskMetrics> {
                // The first report goes at once; the record waits.
                ctx->ReportProgress(1, 100, {});
                ctx->SaveResume("at-1");
                const absl::Time deadline = absl::Now() + kWait;
                for (int64_t step = 2; absl::Now() < deadline; ++step) {
                  ctx->ReportProgress(step, 100, {});
                  const std::vector<TaskReport> r = fake_->reports("t1");
                  if (r.size() >= 2) break;
                  absl::SleepFor(absl::Milliseconds(20));
                }
                return TaskMetrics{};
              });
  const absl::Time start = absl::Now();
  const auto done = RunTask("t1", PreparedSpec(), TaskReport::SUCCEEDED);
  ASSERT_TRUE(done.has_value());
  const std::vector<TaskReport> reports = fake_->reports("t1");
  ASSERT_EQ(reports.size(), 3u);
  EXPECT_EQ(reports[0].resume(), "");
  EXPECT_EQ(reports[1].kind(), TaskReport::PROGRESS);
  EXPECT_EQ(reports[1].resume(), "at-1");
  EXPECT_GT(reports[1].step(), 1);
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
}

TEST_F(WorkerAgentTest, AFailedReportCarriesTheCodeAndTheLatestCheckpoint) {
  StartAgent(absl::Hours(1));
  script_.Set("t1",
              [](const TaskAssignment&,
                 TaskContext* ctx) -> absl::StatusOr<TaskMetrics> {
                ctx->SaveResume("r1");
                ctx->SaveResume("r2");  // throttled: only the final has it
                return absl::UnavailableError("shard 1 went away");
              });
  const auto failed = RunTask("t1", PreparedSpec(), TaskReport::FAILED);
  ASSERT_TRUE(failed.has_value());
  EXPECT_EQ(failed->code(), static_cast<int>(absl::StatusCode::kUnavailable));
  EXPECT_EQ(failed->resume(), "r2");
  const std::vector<TaskReport> reports = fake_->reports("t1");
  ASSERT_EQ(reports.size(), 2u);
  EXPECT_EQ(reports[0].resume(), "r1");
}

TEST_F(WorkerAgentTest, ACancelCommandReachesTheRunningTask) {
  StartAgent();
  absl::Notification started;
  // Whatever a cancelled task returns, its outcome is CANCELLED.
  script_.Set("t1", RunsUntilCancelled(
                        &started, absl::AbortedError("stopped at step 4")));
  fake_->Assign("node-1", Assignment("t1", PreparedSpec()));
  ASSERT_TRUE(started.WaitForNotificationWithTimeout(kWait));
  fake_->Cancel("node-1", "t1");
  const auto cancelled = fake_->AwaitReport("t1", TaskReport::CANCELLED, kWait);
  ASSERT_TRUE(cancelled.has_value());
  EXPECT_EQ(cancelled->message(), "stopped at step 4");
  EXPECT_EQ(fake_->reports("t1").size(), 1u);
}

TEST_F(WorkerAgentTest, ACancelInAReportResponseCancelsTheTask) {
  StartAgent();
  fake_->CancelOnReport("t1");
  script_.Set("t1",
              [](const TaskAssignment&,
                 TaskContext* ctx) -> absl::StatusOr<TaskMetrics> {
                for (int64_t step = 1; step <= 1000000; ++step) {
                  ctx->ReportProgress(step, 1000000, {});
                  if (ctx->cancelled())
                    return absl::CancelledError("cancelled");
                }
                return TaskMetrics{};
              });
  const auto cancelled = RunTask("t1", PreparedSpec(), TaskReport::CANCELLED);
  ASSERT_TRUE(cancelled.has_value());
  // The first response already says cancel.
  ASSERT_EQ(fake_->reports("t1").size(), 2u);
  EXPECT_EQ(fake_->reports("t1")[0].step(), 1);
}

TEST_F(WorkerAgentTest, ARefusedSpecFailsItsTaskAndTheNextTaskRuns) {
  StartAgent();
  script_.Set("t2", Returns(TaskMetrics{{"ok", 1}}));
  // A spec whose dim default was never applied.
  JobSpec unprepared = PreparedSpec();
  unprepared.mutable_ps_load_test()->clear_dim();
  const auto refused = RunTask("t1", unprepared, TaskReport::FAILED);
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->message().rfind(
                "INVALID_ARGUMENT: assigned job spec refused: ps_load_test.dim "
                "0 is out of range",
                0),
            0u)
      << refused->message();
  EXPECT_EQ(script_.runs("t1"), 0);
  const auto next = RunTask("t2", PreparedSpec(), TaskReport::SUCCEEDED);
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->metrics().at("ok"), 1);
}

TEST_F(WorkerAgentTest, AFileOutsideTheDataRootsFailsTheTaskNotTheWorker) {
  absl::StatusOr<DataRoots> roots = DataRoots::Create({TempRoot()});
  ASSERT_TRUE(roots.ok()) << roots.status();
  StartAgent(absl::ZeroDuration(), *roots);
  script_.Set("t2", Returns(TaskMetrics{{"ok", 1}}));
  const auto refused =
      RunTask("t1", CtrSpecReading("/etc/passwd"), TaskReport::FAILED);
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->code(),
            static_cast<int>(absl::StatusCode::kPermissionDenied));
  EXPECT_EQ(refused->message(),
            "PERMISSION_DENIED: ctr_train.data_path: path /etc/passwd is "
            "outside this worker's --data_root");
  EXPECT_EQ(script_.runs("t1"), 0) << "no task was created";
  const auto next = RunTask("t2", PreparedSpec(), TaskReport::SUCCEEDED);
  ASSERT_TRUE(next.has_value()) << "the worker keeps serving";
  EXPECT_EQ(next->metrics().at("ok"), 1);
}

// A CIFAR-10 directory over the worker's --max_task_dataset_mb (what its
// main passes to cnn::SetTaskDatasetCap) fails the task, not the worker.
TEST_F(WorkerAgentTest, ADatasetOverTheWorkersCapFailsTheTaskNotTheWorker) {
  const std::string root = TempRoot();
  const std::string dir = root + "/cifar_over_cap";
  ASSERT_EQ(mkdir(dir.c_str(), 0700) == 0 || errno == EEXIST, true);
  const std::string records(10 * 3073, '\0');  // label 0, black pixels
  for (const char* name : {"/data_batch_1.bin", "/test_batch.bin"}) {
    std::ofstream(dir + name, std::ios::binary) << records;
  }
  absl::StatusOr<DataRoots> roots = DataRoots::Create({root});
  ASSERT_TRUE(roots.ok()) << roots.status();
  StartAgent(absl::ZeroDuration(), *roots);
  script_.Set("t2", Returns(TaskMetrics{{"ok", 1}}));
  JobSpec cnn;
  cnn.mutable_cnn_train()->set_model("alexnet");
  cnn.mutable_cnn_train()->set_mode(CnnTrainSpec::PS);
  cnn.mutable_cnn_train()->set_batch_size(2);
  cnn.mutable_cnn_train()->mutable_data()->set_cifar10_dir(dir);
  ASSERT_TRUE(jobs::PrepareJobSpec({}, &cnn).ok());
  cnn::SetTaskDatasetCap(10 * 3073 * sizeof(float) - 1);
  const auto refused = RunTask("t1", cnn, TaskReport::FAILED);
  cnn::SetTaskDatasetCap(jobs::JobLimits().max_dataset_bytes);
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->code(),
            static_cast<int>(absl::StatusCode::kResourceExhausted))
      << refused->message();
  EXPECT_NE(refused->message().find("--max_task_dataset_mb"), std::string::npos)
      << refused->message();
  const auto next = RunTask("t2", PreparedSpec(), TaskReport::SUCCEEDED);
  ASSERT_TRUE(next.has_value()) << "the worker keeps serving";
  EXPECT_EQ(next->metrics().at("ok"), 1);
}

// A task that saves a record before each progress report (the record's
// own report takes the throttled slot) still streams its metrics: every
// report carries the latest ones.
// The progress interval is an hour, so only the records' own reports (due
// kResumeFlush, 1 s, after an undelivered record) go out before the last.
TEST_F(WorkerAgentTest, MetricsOfThrottledReportsRideOnTheNextReport) {
  StartAgent(absl::Hours(1));
  script_.Set("t1",
              [](const TaskAssignment&,
                 TaskContext* ctx) -> absl::StatusOr<TaskMetrics> {
                for (int64_t step = 1; step <= 100; ++step) {
                  ctx->SaveResume(absl::StrCat("at-", step));
                  ctx->ReportProgress(step, 100, {{"accuracy", step / 100.}});
                  absl::SleepFor(absl::Milliseconds(15));  // 1.5 s in all
                }
                return TaskMetrics{};
              });
  const auto done = RunTask("t1", PreparedSpec(), TaskReport::SUCCEEDED);
  ASSERT_TRUE(done.has_value());
  int streamed = 0;
  for (const TaskReport& r : fake_->reports("t1")) {
    // Step 0: the first record, sent before any progress.
    if (r.kind() != TaskReport::PROGRESS || r.step() == 0 || r.step() >= 100) {
      continue;
    }
    ASSERT_EQ(r.metrics().count("accuracy"), 1u) << "step " << r.step();
    EXPECT_DOUBLE_EQ(r.metrics().at("accuracy"), r.step() / 100.);
    ++streamed;
  }
  EXPECT_GT(streamed, 0);
}

// A CNN_TRAIN task's test accuracy during training reaches the coordinator
// in progress reports, not only with the final one, although the agent
// throttles reports and the task also saves a progress record every step
// (SaveResume sends a report of its own when one is due).
TEST_F(WorkerAgentTest, CnnTestAccuracyIsStreamedDuringTraining) {
  absl::StatusOr<std::unique_ptr<testing::LocalShards>> shards =
      testing::LocalShards::Start(1);
  ASSERT_TRUE(shards.ok()) << shards.status();
  StartAgent(absl::Milliseconds(20));
  JobSpec cnn;
  CnnTrainSpec* c = cnn.mutable_cnn_train();
  c->set_model("lenet5");
  c->set_mode(CnnTrainSpec::PS);
  c->set_batch_size(16);
  c->set_steps(100);
  c->mutable_data()->set_synthetic_train(512);
  c->mutable_data()->set_synthetic_test(32);
  c->mutable_data()->set_eval_every_steps(5);
  ASSERT_TRUE(jobs::PrepareJobSpec({}, &cnn).ok());
  TaskAssignment a = Assignment("t1", cnn);
  for (const std::string& addr : (*shards)->addresses()) {
    a.add_ps_addresses(addr);
  }
  fake_->Assign("node-1", a);
  const auto done = fake_->AwaitReport("t1", TaskReport::SUCCEEDED, kWait);
  ASSERT_TRUE(done.has_value());
  int streamed = 0;
  for (const TaskReport& r : fake_->reports("t1")) {
    // The last step's progress report is never throttled: not counted.
    streamed += r.kind() == TaskReport::PROGRESS && r.step() < 100 &&
                r.metrics().count("test_accuracy") > 0;
  }
  EXPECT_GT(streamed, 0) << "test_accuracy came only with the last step";
}

TEST_F(WorkerAgentTest, AFileInsideTheDataRootsReachesTheTaskResolved) {
  const std::string root = TempRoot();
  absl::StatusOr<DataRoots> roots = DataRoots::Create({root});
  ASSERT_TRUE(roots.ok()) << roots.status();
  StartAgent(absl::ZeroDuration(), *roots);
  std::string seen;
  script_.Set("t1",
              [&seen](const TaskAssignment& a,
                      TaskContext*) -> absl::StatusOr<TaskMetrics> {
                seen = a.spec().ctr_train().data_path();
                return TaskMetrics{};
              });
  ASSERT_TRUE(RunTask("t1", CtrSpecReading(root + "/./x/../train.tsv"),
                      TaskReport::SUCCEEDED)
                  .has_value());
  EXPECT_EQ(seen, root + "/train.tsv");
}

TEST_F(WorkerAgentTest, WithoutDataRootsAJobNamingAFileFailsPrecondition) {
  StartAgent();
  const auto refused = RunTask("t1", CtrSpecReading(TempRoot() + "/train.tsv"),
                               TaskReport::FAILED);
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->code(),
            static_cast<int>(absl::StatusCode::kFailedPrecondition));
  EXPECT_EQ(script_.runs("t1"), 0);
}

TEST_F(WorkerAgentTest, AJobTypeWithoutATaskFailsUnimplemented) {
  StartAgent();
  JobSpec eval;
  eval.mutable_ctr_eval()->mutable_model()->set_table("t");
  ASSERT_TRUE(jobs::PrepareJobSpec({}, &eval).ok());
  const auto failed = RunTask("t1", eval, TaskReport::FAILED);
  ASSERT_TRUE(failed.has_value());
  EXPECT_EQ(
      failed->message().rfind("UNIMPLEMENTED: this worker has no task", 0), 0u)
      << failed->message();
}

TEST_F(WorkerAgentTest, ADuplicateAssignmentRunsOnce) {
  StartAgent();
  absl::Notification started;
  script_.Set("t1", RunsUntilCancelled(&started, absl::CancelledError("")));
  script_.Set("t2", Returns(TaskMetrics{}));
  fake_->Assign("node-1", Assignment("t1", PreparedSpec()));
  fake_->Assign("node-1", Assignment("t1", PreparedSpec()));
  // Commands are handled in order: once t2 ran, the duplicate was handled.
  ASSERT_TRUE(RunTask("t2", PreparedSpec(), TaskReport::SUCCEEDED).has_value());
  ASSERT_TRUE(started.WaitForNotificationWithTimeout(kWait));
  fake_->Cancel("node-1", "t1");
  ASSERT_TRUE(fake_->AwaitReport("t1", TaskReport::CANCELLED, kWait));
  ASSERT_TRUE(StopAgent());  // joins every task thread
  EXPECT_EQ(script_.runs("t1"), 1);
}

TEST_F(WorkerAgentTest, ReRegistersAndWatchesAgainWhenTheCoordinatorForgets) {
  StartAgent();
  fake_->Forget("node-1", absl::StatusCode::kNotFound);
  ASSERT_TRUE(fake_->AwaitStream("node-2", kWait));
  EXPECT_EQ(agent_->node_id(), "node-2");
  script_.Set("t1", Returns(TaskMetrics{}));
  fake_->Assign("node-2", Assignment("t1", PreparedSpec()));
  const auto done = fake_->AwaitReport("t1", TaskReport::SUCCEEDED, kWait);
  ASSERT_TRUE(done.has_value());
  EXPECT_EQ(done->node_id(), "node-2");
}

TEST_F(WorkerAgentTest, AReopenedTaskStreamReattachesTheRunningTasks) {
  StartAgent();
  absl::Notification started;
  script_.Set("t1", RunsUntilCancelled(&started, absl::CancelledError("")));
  fake_->Assign("node-1", Assignment("t1", PreparedSpec()));
  ASSERT_TRUE(started.WaitForNotificationWithTimeout(kWait));
  // As a coordinator restart does: the stream ends, the node stays known.
  fake_->EndStreams("node-1");
  const absl::Time deadline = absl::Now() + kWait;
  while (fake_->watch_requests("node-1").size() < 2 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  const std::vector<std::vector<std::string>> watches =
      fake_->watch_requests("node-1");
  ASSERT_EQ(watches.size(), 2u);
  EXPECT_TRUE(watches[0].empty());
  EXPECT_EQ(watches[1], std::vector<std::string>{"t1"});
  EXPECT_EQ(agent_->node_id(), "node-1") << "no re-registration";
  fake_->Cancel("node-1", "t1");
  const auto cancelled = fake_->AwaitReport("t1", TaskReport::CANCELLED, kWait);
  ASSERT_TRUE(cancelled.has_value());
  EXPECT_EQ(cancelled->node_id(), "node-1");
  EXPECT_EQ(cancelled->node_secret(), "secret-of-node-1");
}

TEST_F(WorkerAgentTest, StopWhileTasksRunReturnsAndTheTasksEndCancelled) {
  StartAgent();
  absl::Notification started1, started2;
  script_.Set("t1", RunsUntilCancelled(&started1, absl::CancelledError("")));
  script_.Set("t2", RunsUntilCancelled(&started2, absl::CancelledError("")));
  fake_->Assign("node-1", Assignment("t1", PreparedSpec()));
  fake_->Assign("node-1", Assignment("t2", PreparedSpec()));
  ASSERT_TRUE(started1.WaitForNotificationWithTimeout(kWait));
  ASSERT_TRUE(started2.WaitForNotificationWithTimeout(kWait));
  EXPECT_TRUE(StopAgent());
  // Destroying the agent joined the tasks after their final reports.
  EXPECT_TRUE(fake_->AwaitReport("t1", TaskReport::CANCELLED, kWait));
  EXPECT_TRUE(fake_->AwaitReport("t2", TaskReport::CANCELLED, kWait));
}

TEST_F(WorkerAgentTest, RunReturnsARegistrationTheCoordinatorRefuses) {
  fake_->FailNextRegistrations({absl::InvalidArgumentError("bad role")});
  TaskRegistry registry;
  WorkerOptions o;
  o.coordinator = fake_->address();
  WorkerAgent agent(o, std::move(registry));
  EXPECT_EQ(agent.Run().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(agent.node_id(), "");
}

TEST_F(WorkerAgentTest, StopBeforeRegistrationMakesRunReturnOk) {
  fake_->FailNextRegistrations(
      std::vector<absl::Status>(100000, absl::UnavailableError("down")));
  WorkerOptions o;
  o.coordinator = fake_->address();
  o.reconnect_backoff = absl::Milliseconds(1);
  o.max_reconnect_backoff = absl::Milliseconds(5);
  WorkerAgent agent(o, TaskRegistry());
  auto run = std::async(std::launch::async, [&] { return agent.Run(); });
  ASSERT_TRUE(fake_->AwaitRegistrationAttempts(2, kWait));
  agent.Stop();
  ASSERT_EQ(run.wait_for(absl::ToChronoSeconds(kWait)),
            std::future_status::ready);
  EXPECT_TRUE(run.get().ok());
}

}  // namespace
}  // namespace strata
