#include "server/coordinator/job_manager.h"

#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/coordinator/state_store.h"
#include "server/coordinator/testing/state_testing.h"
#include "server/jobs/job_types.h"
#include "server/util/clock.h"

namespace strata {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

JobSpec LoadTest(uint32_t workers = 1) {
  JobSpec spec;
  spec.set_name("load");
  spec.set_num_workers(workers);
  spec.mutable_ps_load_test();
  return spec;
}

TaskReport Report(const std::string& task, const std::string& node,
                  TaskReport::Kind kind, int64_t step = 0, int64_t total = 0) {
  TaskReport r;
  r.set_task_id(task);
  r.set_node_id(node);
  r.set_kind(kind);
  r.set_step(step);
  r.set_total_steps(total);
  return r;
}

// A CTR_TRAIN job (restartable; its BSP tensors are "ctr/...").
JobSpec CtrTrain(uint32_t workers, int32_t max_task_retries = 0) {
  JobSpec spec;
  spec.set_num_workers(workers);
  spec.set_max_task_retries(max_task_retries);
  spec.mutable_ctr_train();
  return spec;
}

TaskReport WithResume(TaskReport r, const std::string& resume) {
  r.set_resume(resume);
  return r;
}

std::vector<std::string> TaskIds(const std::vector<TaskAssignment>& tasks) {
  std::vector<std::string> ids;
  for (const TaskAssignment& a : tasks) ids.push_back(a.task_id());
  return ids;
}

std::string LastMessage(JobManager& jobs, const std::string& job) {
  const absl::StatusOr<EventBatch> batch =
      jobs.WaitForEvents(job, 0, absl::InfinitePast());
  if (!batch.ok() || batch->events.empty()) return "";
  return batch->events.back().message();
}

// Spec rules themselves are tested in server/jobs; here: Submit prepares
// every spec through them and stores nothing it refuses.
TEST(JobManagerTest, SubmitRefusesInvalidSpecsAndStoresNothing) {
  FakeClock clock;
  JobManager::Options options;
  options.limits.max_workers = 4;
  JobManager jobs(options, &clock);
  absl::StatusOr<std::string> id = jobs.Submit(JobSpec());
  EXPECT_EQ(id.status().code(), absl::StatusCode::kInvalidArgument);
  id = jobs.Submit(LoadTest(5));
  EXPECT_EQ(id.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(id.status().message(), "num_workers 5 is out of range [1, 4]");
  JobSpec cnn;
  cnn.mutable_cnn_train()->set_mode(static_cast<CnnTrainSpec::Mode>(9));
  id = jobs.Submit(cnn);
  EXPECT_EQ(id.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(id.status().message(), "cnn_train.mode 9 is not a value of Mode");
  EXPECT_THAT(jobs.List(), IsEmpty());
}

TEST(JobManagerTest, StoresThePreparedSpec) {
  FakeClock clock;
  JobManager jobs({}, &clock);
  JobSpec spec = LoadTest(0);
  absl::StatusOr<std::string> id = jobs.Submit(spec);
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(*id, "job-1");
  const JobSpec s = jobs.Get(*id)->spec();
  EXPECT_EQ(s.num_workers(), 1u);
  EXPECT_EQ(s.worker_role(), "general");
  EXPECT_EQ(s.ps_load_test().table(), "loadtest");
  EXPECT_EQ(s.ps_load_test().dim(), 16u);
  EXPECT_TRUE(jobs::ValidateJobSpec({}, s).ok());
  EXPECT_EQ(*jobs.Submit(spec), "job-2");
}

TEST(JobManagerTest, PendingJobsAreBounded) {
  FakeClock clock;
  JobManager::Options options;
  options.max_pending_jobs = 2;
  JobManager jobs(options, &clock);
  const std::string first = *jobs.Submit(LoadTest());
  ASSERT_TRUE(jobs.Submit(LoadTest()).ok());
  absl::StatusOr<std::string> third = jobs.Submit(LoadTest());
  EXPECT_EQ(third.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(third.status().message(),
            "2 jobs are pending; the limit is 2 (coordinator flag "
            "--max_pending_jobs): wait for some to start");
  EXPECT_EQ(jobs.List().size(), 2u);
  // A job leaving PENDING makes room.
  ASSERT_TRUE(jobs.Start(first, {"node-1"}, {}).ok());
  EXPECT_TRUE(jobs.Submit(LoadTest()).ok());
}

TEST(JobManagerTest, OversizedReportsAreRefusedOrTruncated) {
  FakeClock clock;
  JobManager::Options options;
  options.max_report_metrics = 2;
  options.max_report_message_bytes = 8;
  JobManager jobs(options, &clock);
  const std::string id = *jobs.Submit(LoadTest());
  ASSERT_TRUE(jobs.Start(id, {"node-1"}, {}).ok());
  TaskReport r = Report("job-1/task-0", "node-1", TaskReport::PROGRESS, 1, 9);
  (*r.mutable_metrics())["a"] = 1;
  (*r.mutable_metrics())["b"] = 2;
  (*r.mutable_metrics())["c"] = 3;
  EXPECT_EQ(jobs.Report(r).status().code(),
            absl::StatusCode::kInvalidArgument);
  r.mutable_metrics()->erase("c");
  (*r.mutable_metrics())["b"] = std::numeric_limits<double>::infinity();
  EXPECT_EQ(jobs.Report(r).status().code(),
            absl::StatusCode::kInvalidArgument);
  (*r.mutable_metrics())["b"] = 2;
  r.set_step(-1);
  EXPECT_EQ(jobs.Report(r).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(jobs.Get(id)->step(), 0) << "refused reports change nothing";
  // A long failure message still ends the task, cut to the limit.
  TaskReport end = Report("job-1/task-0", "node-1", TaskReport::FAILED);
  end.set_message(std::string(100, 'x'));
  ASSERT_TRUE(jobs.Report(end).ok());
  const JobStatus status = *jobs.Get(id);
  EXPECT_EQ(status.state(), FAILED);
  EXPECT_EQ(status.reason(),
            "task job-1/task-0 on node-1 failed: xxxxxxxx... (truncated)");
}

// Found while writing coordinator_service_fuzz (its corpus keeps the input,
// utf8_cut): a cut inside a multi-byte character left invalid UTF-8 in the
// event and the reason, which no client can parse.
TEST(JobManagerTest, TruncatedMessagesStayValidUtf8) {
  FakeClock clock;
  JobManager::Options options;
  options.max_report_message_bytes = 8;
  JobManager jobs(options, &clock);
  const std::string id = *jobs.Submit(LoadTest());
  ASSERT_TRUE(jobs.Start(id, {"node-1"}, {}).ok());
  TaskReport progress = Report("job-1/task-0", "node-1", TaskReport::PROGRESS);
  progress.set_message("1234567\u00e9");  // the cut falls inside the 'é'
  ASSERT_TRUE(jobs.Report(progress).ok());
  TaskReport end = Report("job-1/task-0", "node-1", TaskReport::FAILED);
  end.set_message("\u20ac\u20ac\u20ac");  // 3 x 3 bytes
  ASSERT_TRUE(jobs.Report(end).ok());
  const JobStatus status = *jobs.Get(id);
  EXPECT_EQ(status.reason(),
            "task job-1/task-0 on node-1 failed: \u20ac\u20ac... (truncated)");
  JobStatus parsed;
  EXPECT_TRUE(parsed.ParseFromString(status.SerializeAsString()));
  absl::StatusOr<EventBatch> events =
      jobs.WaitForEvents(id, 0, absl::InfinitePast());
  ASSERT_TRUE(events.ok()) << events.status();
  ASSERT_EQ(events->events.size(), 4u);
  EXPECT_EQ(events->events[2].message(),
            "job-1/task-0: 1234567... (truncated)");
  for (const JobEvent& event : events->events) {
    JobEvent back;
    EXPECT_TRUE(back.ParseFromString(event.SerializeAsString()))
        << event.message();
  }
}

// Found while writing coordinator_service_fuzz (its corpus keeps the input,
// step_overflow; UBSan reports it): the job's step is the sum of its tasks'
// steps, which overflowed int64 for tasks reporting huge steps.
TEST(JobManagerTest, StepSumsSaturate) {
  FakeClock clock;
  JobManager jobs({}, &clock);
  const std::string id = *jobs.Submit(LoadTest(2));
  ASSERT_TRUE(jobs.Start(id, {"node-1", "node-2"}, {}).ok());
  const int64_t huge = std::numeric_limits<int64_t>::max() - 1;
  ASSERT_TRUE(jobs.Report(Report("job-1/task-0", "node-1", TaskReport::PROGRESS,
                                 huge, huge))
                  .ok());
  ASSERT_TRUE(jobs.Report(Report("job-1/task-1", "node-2", TaskReport::PROGRESS,
                                 huge, huge))
                  .ok());
  const JobStatus status = *jobs.Get(id);
  EXPECT_EQ(status.step(), std::numeric_limits<int64_t>::max());
  EXPECT_EQ(status.total_steps(), std::numeric_limits<int64_t>::max());
}

TEST(JobManagerTest, UnknownJobIsNotFound) {
  FakeClock clock;
  JobManager jobs({}, &clock);
  EXPECT_EQ(jobs.Get("job-9").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(jobs.Cancel("nope").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(jobs.WaitForEvents("job-1", 0, absl::Now()).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(jobs.Report(Report("job-1/task-0", "node-1", TaskReport::PROGRESS))
                .status()
                .code(),
            absl::StatusCode::kNotFound);
}

TEST(JobManagerTest, RunsToSuccessWithSummedMetrics) {
  FakeClock clock;
  JobManager jobs({}, &clock);
  const std::string id = *jobs.Submit(LoadTest(2));
  EXPECT_EQ(jobs.Get(id)->state(), PENDING);
  ASSERT_EQ(jobs.PendingJobs().size(), 1u);

  absl::StatusOr<std::vector<TaskAssignment>> tasks =
      jobs.Start(id, {"node-3", "node-5"}, {"ps:1"});
  ASSERT_TRUE(tasks.ok()) << tasks.status();
  ASSERT_EQ(tasks->size(), 2u);
  EXPECT_EQ((*tasks)[1].task_id(), "job-1/task-1");
  EXPECT_EQ((*tasks)[1].rank(), 1u);
  EXPECT_EQ((*tasks)[1].num_tasks(), 2u);
  EXPECT_THAT((*tasks)[1].ps_addresses(), ElementsAre("ps:1"));
  EXPECT_EQ(jobs.Get(id)->state(), RUNNING);
  EXPECT_THAT(jobs.ActiveTasksByNode(),
              UnorderedElementsAre(Pair("node-3", "job-1/task-0"),
                                   Pair("node-5", "job-1/task-1")));

  TaskReport p0 = Report("job-1/task-0", "node-3", TaskReport::PROGRESS, 5, 10);
  (*p0.mutable_metrics())["keys_per_s"] = 100;
  TaskReport p1 = Report("job-1/task-1", "node-5", TaskReport::PROGRESS, 2, 10);
  (*p1.mutable_metrics())["keys_per_s"] = 50;
  (*p1.mutable_metrics())["errors"] = 1;
  EXPECT_FALSE(jobs.Report(p0)->cancel);
  EXPECT_FALSE(jobs.Report(p1)->cancel);
  JobStatus mid = *jobs.Get(id);
  EXPECT_EQ(mid.step(), 7);
  EXPECT_EQ(mid.total_steps(), 20);
  EXPECT_EQ(mid.metrics().at("keys_per_s"), 150);

  TaskReport s0 = Report("job-1/task-0", "node-3", TaskReport::SUCCEEDED, 10);
  (*s0.mutable_metrics())["keys_per_s"] = 120;
  ASSERT_TRUE(jobs.Report(s0).ok());
  EXPECT_EQ(jobs.Get(id)->state(), RUNNING) << "one task still running";
  ASSERT_TRUE(
      jobs.Report(Report("job-1/task-1", "node-5", TaskReport::SUCCEEDED, 10))
          .ok());
  JobStatus done = *jobs.Get(id);
  EXPECT_EQ(done.state(), SUCCEEDED);
  EXPECT_EQ(done.step(), 20);
  // Latest metrics per task (task-1 kept its progress metrics), summed.
  EXPECT_EQ(done.metrics().at("keys_per_s"), 170);
  EXPECT_EQ(done.metrics().at("errors"), 1);
  EXPECT_THAT(done.assigned_nodes(), ElementsAre("node-3", "node-5"));
  EXPECT_THAT(jobs.ActiveTasksByNode(), IsEmpty());
}

TEST(JobManagerTest, EveryTaskOfAJobGetsTheJobsSecretAndNoOneElse) {
  FakeClock clock;
  JobManager jobs({}, &clock);
  const std::string a = *jobs.Submit(LoadTest(2));
  const std::string b = *jobs.Submit(LoadTest(1));
  std::vector<TaskAssignment> ta = *jobs.Start(a, {"node-1", "node-2"}, {});
  std::vector<TaskAssignment> tb = *jobs.Start(b, {"node-3"}, {});
  const std::string secret = ta[0].job_secret();
  EXPECT_EQ(secret.size(), 16u);  // 128 bits
  EXPECT_EQ(ta[1].job_secret(), secret);
  EXPECT_EQ(tb[0].job_secret().size(), 16u);
  EXPECT_NE(tb[0].job_secret(), secret);
  // What clients see of the job never carries it.
  const std::string status = jobs.Get(a)->SerializeAsString();
  EXPECT_EQ(status.find(secret), std::string::npos);
}

TEST(JobManagerTest, TaskFailureFailsJobAndCancelsTheOtherTasks) {
  FakeClock clock;
  JobManager jobs({}, &clock);
  const std::string id = *jobs.Submit(LoadTest(2));
  ASSERT_TRUE(jobs.Start(id, {"node-1", "node-2"}, {}).ok());
  TaskReport failed = Report("job-1/task-0", "node-1", TaskReport::FAILED);
  failed.set_message("out of memory");
  absl::StatusOr<JobManager::ReportResult> r = jobs.Report(failed);
  ASSERT_TRUE(r.ok());
  EXPECT_THAT(r->to_cancel, ElementsAre(TaskRef{"node-2", "job-1/task-1"}));
  JobStatus status = *jobs.Get(id);
  EXPECT_EQ(status.state(), FAILED);
  EXPECT_EQ(status.reason(),
            "task job-1/task-0 on node-1 failed: out of memory");
  // The surviving task learns it should stop from its next report.
  EXPECT_TRUE(
      jobs.Report(Report("job-1/task-1", "node-2", TaskReport::PROGRESS, 3))
          ->cancel);
}

TEST(JobManagerTest, ReportFromWrongNodeIsFailedPrecondition) {
  FakeClock clock;
  JobManager jobs({}, &clock);
  const std::string id = *jobs.Submit(LoadTest());
  ASSERT_TRUE(jobs.Start(id, {"node-1"}, {}).ok());
  absl::StatusOr<JobManager::ReportResult> r =
      jobs.Report(Report("job-1/task-0", "node-2", TaskReport::PROGRESS));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(r.status().message(),
            "task job-1/task-0 is assigned to node-1, not node-2");
  EXPECT_EQ(jobs.Report(Report("job-1/task-0", "", TaskReport::PROGRESS))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(jobs.Report(Report("job-1/task-1", "node-1", TaskReport::PROGRESS))
                .status()
                .code(),
            absl::StatusCode::kNotFound);
}

TEST(JobManagerTest, CancelPendingAndRunningJobs) {
  FakeClock clock;
  JobManager jobs({}, &clock);
  const std::string pending = *jobs.Submit(LoadTest());
  absl::StatusOr<JobTransition> t = jobs.Cancel(pending);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->state, CANCELLED);
  EXPECT_THAT(t->to_cancel, IsEmpty());

  const std::string running = *jobs.Submit(LoadTest());
  ASSERT_TRUE(jobs.Start(running, {"node-1"}, {}).ok());
  t = jobs.Cancel(running);
  ASSERT_TRUE(t.ok());
  EXPECT_THAT(t->to_cancel, ElementsAre(TaskRef{"node-1", "job-2/task-0"}));
  EXPECT_EQ(jobs.Get(running)->state(), CANCELLED);
  EXPECT_TRUE(
      jobs.Report(Report("job-2/task-0", "node-1", TaskReport::PROGRESS))
          ->cancel);
}

TEST(JobManagerTest, CancelOfTerminalJobIsFailedPrecondition) {
  FakeClock clock;
  JobManager jobs({}, &clock);
  const std::string id = *jobs.Submit(LoadTest());
  ASSERT_TRUE(jobs.Start(id, {"node-1"}, {}).ok());
  ASSERT_TRUE(
      jobs.Report(Report("job-1/task-0", "node-1", TaskReport::SUCCEEDED))
          .ok());
  absl::StatusOr<JobTransition> t = jobs.Cancel(id);
  EXPECT_EQ(t.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(t.status().message(), "job job-1 is already SUCCEEDED");
  EXPECT_EQ(jobs.Get(id)->state(), SUCCEEDED);
  EXPECT_EQ(jobs.Fail(id, "x").status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(JobManagerTest, CancelledTaskKeepsNodeBusyUntilConfirmedOrGraceEnds) {
  FakeClock clock;
  JobManager::Options options;
  options.task_release_grace = absl::Seconds(10);
  JobManager jobs(options, &clock);
  const std::string a = *jobs.Submit(LoadTest());
  const std::string b = *jobs.Submit(LoadTest());
  ASSERT_TRUE(jobs.Start(a, {"node-1"}, {}).ok());
  ASSERT_TRUE(jobs.Start(b, {"node-2"}, {}).ok());
  ASSERT_TRUE(jobs.Cancel(a).ok());
  ASSERT_TRUE(jobs.Cancel(b).ok());
  EXPECT_EQ(jobs.ActiveTasksByNode().size(), 2u);
  // node-1's worker confirms; node-2's never does.
  ASSERT_TRUE(
      jobs.Report(Report("job-1/task-0", "node-1", TaskReport::CANCELLED))
          .ok());
  EXPECT_THAT(jobs.ActiveTasksByNode(),
              UnorderedElementsAre(Pair("node-2", "job-2/task-0")));
  EXPECT_EQ(
      jobs.Start(*jobs.Submit(LoadTest()), {"node-2"}, {}).status().code(),
      absl::StatusCode::kFailedPrecondition);
  clock.Advance(absl::Seconds(11));
  EXPECT_THAT(jobs.ActiveTasksByNode(), IsEmpty());
}

TEST(JobManagerTest, ByDefaultANodeStaysBusyLongerThanAWorkerTakesToKill) {
  // Issue 12: a failed job's surviving task was still running when its node
  // got the next job. A worker kills a cancelled task's process within 10 s
  // (--task_cancel_grace) and reports it; the default grace outlasts that.
  FakeClock clock;
  JobManager jobs({}, &clock);
  const std::string a = *jobs.Submit(LoadTest());
  ASSERT_TRUE(jobs.Start(a, {"node-1"}, {}).ok());
  ASSERT_TRUE(jobs.Fail(a, "another task's node died").ok());
  clock.Advance(absl::Seconds(40));
  EXPECT_THAT(jobs.ActiveTasksByNode(),
              UnorderedElementsAre(Pair("node-1", "job-1/task-0")));
  clock.Advance(absl::Seconds(21));
  EXPECT_THAT(jobs.ActiveTasksByNode(), IsEmpty());
}

TEST(JobManagerTest, EndedJobsAreReapedOnceTheirTasksStoppedUnlessKept) {
  FakeClock clock;
  JobManager jobs({}, &clock);
  const std::string done = *jobs.Submit(LoadTest());
  JobSpec kept_spec = LoadTest();
  kept_spec.set_keep_tensors(true);
  const std::string kept = *jobs.Submit(kept_spec);
  const std::string failed = *jobs.Submit(LoadTest());
  ASSERT_TRUE(jobs.Start(done, {"node-1"}, {}).ok());
  ASSERT_TRUE(jobs.Start(kept, {"node-2"}, {}).ok());
  ASSERT_TRUE(jobs.Start(failed, {"node-3"}, {}).ok());
  EXPECT_THAT(jobs.TakeJobsToReap(), IsEmpty());  // all running
  ASSERT_TRUE(
      jobs.Report(Report(done + "/task-0", "node-1", TaskReport::SUCCEEDED))
          .ok());
  ASSERT_TRUE(
      jobs.Report(Report(kept + "/task-0", "node-2", TaskReport::SUCCEEDED))
          .ok());
  ASSERT_TRUE(jobs.Fail(failed, "a node died").ok());
  // The failed job's task has not confirmed it stopped: not yet.
  EXPECT_THAT(jobs.TakeJobsToReap(), ElementsAre(done));
  EXPECT_THAT(jobs.TakeJobsToReap(), IsEmpty());  // each job once
  ASSERT_TRUE(
      jobs.Report(Report(failed + "/task-0", "node-3", TaskReport::CANCELLED))
          .ok());
  EXPECT_THAT(jobs.TakeJobsToReap(), ElementsAre(failed));
}

TEST(JobManagerTest, WorkerCancellingARunningTaskFailsTheJob) {
  FakeClock clock;
  JobManager jobs({}, &clock);
  const std::string id = *jobs.Submit(LoadTest());
  ASSERT_TRUE(jobs.Start(id, {"node-1"}, {}).ok());
  TaskReport r = Report("job-1/task-0", "node-1", TaskReport::CANCELLED);
  r.set_message("worker shutting down");
  ASSERT_TRUE(jobs.Report(r).ok());
  EXPECT_EQ(jobs.Get(id)->state(), FAILED);
  EXPECT_EQ(jobs.Get(id)->reason(),
            "task job-1/task-0 on node-1 was cancelled by its worker: worker "
            "shutting down");
}

TEST(JobManagerTest, NodeDeathFailsItsJobsWithTheGivenReason) {
  FakeClock clock;
  JobManager jobs({}, &clock);
  const std::string id = *jobs.Submit(LoadTest(2));
  const std::string other = *jobs.Submit(LoadTest());
  ASSERT_TRUE(jobs.Start(id, {"node-1", "node-2"}, {}).ok());
  ASSERT_TRUE(jobs.Start(other, {"node-3"}, {}).ok());
  std::vector<TaskRef> cancel =
      jobs.NodeDied("node-2", "node node-2 (h) died: no heartbeat for 6s");
  EXPECT_THAT(cancel, ElementsAre(TaskRef{"node-1", "job-1/task-0"}));
  EXPECT_EQ(jobs.Get(id)->state(), FAILED);
  EXPECT_EQ(jobs.Get(id)->reason(),
            "node node-2 (h) died: no heartbeat for 6s");
  EXPECT_EQ(jobs.Get(other)->state(), RUNNING);
  EXPECT_FALSE(jobs.ActiveTasksByNode().contains("node-2"));
}

TEST(JobManagerTest, LostTaskRestartsTheJobWithEveryRanksResume) {
  FakeClock clock;
  JobManager jobs({}, &clock);
  const std::string id = *jobs.Submit(CtrTrain(3));
  ASSERT_TRUE(jobs.Start(id, {"node-1", "node-2", "node-3"}, {"ps:1"}).ok());
  ASSERT_TRUE(jobs.Report(WithResume(Report(id + "/task-0", "node-1",
                                            TaskReport::PROGRESS, 5, 10),
                                     "rank0@5"))
                  .ok());
  ASSERT_TRUE(jobs.Report(WithResume(Report(id + "/task-2", "node-3",
                                            TaskReport::PROGRESS, 5, 10),
                                     "rank2@5"))
                  .ok());
  EXPECT_THAT(jobs.NodeDied("node-2", "node node-2 (h) died"),
              UnorderedElementsAre(TaskRef{"node-1", id + "/task-0"},
                                   TaskRef{"node-3", id + "/task-2"}));
  JobStatus status = *jobs.Get(id);
  EXPECT_EQ(status.state(), RUNNING);
  EXPECT_EQ(status.restarts(), 1u);
  EXPECT_EQ(LastMessage(jobs, id),
            "task job-1/task-1 lost: node node-2 (h) died; restarting the job "
            "(restart 1 of 3) from its last progress checkpoint");
  std::vector<PendingJob> pending = jobs.PendingJobs();
  ASSERT_EQ(pending.size(), 1u);
  EXPECT_EQ(pending[0].restart, 1u);
  EXPECT_FALSE(pending[0].old_tasks_stopped);
  // The old attempt's tasks keep their nodes until they stop.
  EXPECT_EQ(jobs.Start(id, {"node-4", "node-5", "node-6"}, {}).status().code(),
            absl::StatusCode::kFailedPrecondition);
  absl::StatusOr<JobManager::ReportResult> r = jobs.Report(WithResume(
      Report(id + "/task-0", "node-1", TaskReport::CANCELLED), "rank0@6"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->cancel);
  ASSERT_TRUE(
      jobs.Report(Report(id + "/task-2", "node-3", TaskReport::CANCELLED))
          .ok());
  EXPECT_TRUE(jobs.PendingJobs()[0].old_tasks_stopped);
  absl::StatusOr<std::vector<TaskAssignment>> started =
      jobs.Start(id, {"node-1", "node-3", "node-4"}, {"ps:1"});
  ASSERT_TRUE(started.ok()) << started.status();
  EXPECT_THAT(TaskIds(*started),
              ElementsAre(id + "/task-0.r1", id + "/task-1.r1",
                          id + "/task-2.r1"));
  for (const TaskAssignment& a : *started) {
    EXPECT_EQ(a.attempt(), 1u);
    EXPECT_THAT(a.resume(), ElementsAre("rank0@6", "", "rank2@5"));
  }
  EXPECT_THAT(jobs.PendingJobs(), IsEmpty());
  EXPECT_EQ(LastMessage(jobs, id),
            "restart 1: assigned to node-1, node-3, node-4");
  // A late report of the old attempt is ignored and told to stop.
  r = jobs.Report(Report(id + "/task-0", "node-1", TaskReport::PROGRESS, 9));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->cancel);
  for (const auto& [task, node] :
       {std::pair<std::string, std::string>{"/task-0.r1", "node-1"},
        {"/task-1.r1", "node-3"},
        {"/task-2.r1", "node-4"}}) {
    ASSERT_TRUE(jobs.Report(Report(id + task, node, TaskReport::SUCCEEDED))
                    .ok());
  }
  EXPECT_EQ(jobs.Get(id)->state(), SUCCEEDED);
}

TEST(JobManagerTest, OnlyATransientFailureRestartsTheJob) {
  FakeClock clock;
  JobManager jobs({}, &clock);
  const std::string transient = *jobs.Submit(CtrTrain(2));
  ASSERT_TRUE(jobs.Start(transient, {"node-1", "node-2"}, {}).ok());
  TaskReport failed =
      Report(transient + "/task-1", "node-2", TaskReport::FAILED);
  failed.set_message("shard unreachable");
  failed.set_code(static_cast<int>(absl::StatusCode::kUnavailable));
  absl::StatusOr<JobManager::ReportResult> r = jobs.Report(failed);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(r->to_cancel, ElementsAre(TaskRef{"node-1", "job-1/task-0"}));
  EXPECT_EQ(jobs.Get(transient)->state(), RUNNING);
  EXPECT_EQ(jobs.Get(transient)->restarts(), 1u);
  EXPECT_EQ(LastMessage(jobs, transient),
            "task job-1/task-1 on node-2 failed: shard unreachable; "
            "restarting the job (restart 1 of 3) from its last progress "
            "checkpoint");
  for (absl::StatusCode code :
       {absl::StatusCode::kInvalidArgument, absl::StatusCode::kOk}) {
    const std::string id = *jobs.Submit(CtrTrain(1));
    ASSERT_TRUE(jobs.Start(id, {"node-9"}, {}).ok());
    failed = Report(id + "/task-0", "node-9", TaskReport::FAILED);
    failed.set_message("bad data");
    failed.set_code(static_cast<int>(code));
    ASSERT_TRUE(jobs.Report(failed).ok());
    const JobStatus status = *jobs.Get(id);
    EXPECT_EQ(status.state(), FAILED) << code;
    EXPECT_EQ(status.restarts(), 0u);
    EXPECT_EQ(status.reason(),
              absl::StrCat("task ", id, "/task-0 on node-9 failed: bad data"));
  }
}

TEST(JobManagerTest, JobsThatMayNotRestartFailAsBefore) {
  FakeClock clock;
  JobManager jobs({}, &clock);
  const std::string load = *jobs.Submit(LoadTest(1));  // not restartable
  const std::string none = *jobs.Submit(CtrTrain(1, -1));  // no restarts
  ASSERT_TRUE(jobs.Start(load, {"node-1"}, {}).ok());
  ASSERT_TRUE(jobs.Start(none, {"node-2"}, {}).ok());
  jobs.NodeDied("node-1", "node node-1 (h) died");
  jobs.NodeDied("node-2", "node node-2 (h) died");
  EXPECT_EQ(jobs.Get(load)->state(), FAILED);
  EXPECT_EQ(jobs.Get(load)->reason(), "node node-1 (h) died");
  EXPECT_EQ(jobs.Get(none)->state(), FAILED);
  EXPECT_EQ(jobs.Get(none)->reason(), "node node-2 (h) died");
  EXPECT_THAT(jobs.PendingJobs(), IsEmpty());
}

TEST(JobManagerTest, ExhaustedRestartsFailWithTheOriginalReason) {
  FakeClock clock;
  JobManager jobs({}, &clock);
  const std::string id = *jobs.Submit(CtrTrain(1, 1));
  ASSERT_TRUE(jobs.Start(id, {"node-1"}, {}).ok());
  EXPECT_THAT(jobs.NodeDied("node-1", "node node-1 (h) died"), IsEmpty());
  EXPECT_EQ(jobs.Get(id)->state(), RUNNING);
  ASSERT_TRUE(jobs.Start(id, {"node-2"}, {}).ok());
  jobs.NodeDied("node-2", "node node-2 (h) died");
  const JobStatus status = *jobs.Get(id);
  EXPECT_EQ(status.state(), FAILED);
  EXPECT_EQ(status.restarts(), 1u);
  EXPECT_EQ(status.reason(), "node node-2 (h) died (after 1 restart)");
}

TEST(JobManagerTest, CancelWhileRestartingEndsTheJobAndResetsItsSteps) {
  FakeClock clock;
  JobManager jobs({}, &clock);
  const std::string id = *jobs.Submit(CtrTrain(2));
  ASSERT_TRUE(jobs.Start(id, {"node-1", "node-2"}, {}).ok());
  jobs.NodeDied("node-2", "node node-2 (h) died");
  absl::StatusOr<JobTransition> cancelled = jobs.Cancel(id);
  ASSERT_TRUE(cancelled.ok()) << cancelled.status();
  EXPECT_EQ(cancelled->state, CANCELLED);
  EXPECT_THAT(cancelled->to_cancel, IsEmpty()) << "already told to stop";
  EXPECT_EQ(jobs.Get(id)->reason(), "cancelled by request");
  EXPECT_THAT(jobs.PendingJobs(), IsEmpty());
  EXPECT_EQ(jobs.Start(id, {"node-3", "node-4"}, {}).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(jobs.TakeStepResets(), IsEmpty()) << "node-1 still runs";
  ASSERT_TRUE(
      jobs.Report(Report(id + "/task-0", "node-1", TaskReport::CANCELLED))
          .ok());
  EXPECT_THAT(jobs.TakeStepResets(), ElementsAre("ctr/"));
  EXPECT_THAT(jobs.TakeStepResets(), IsEmpty()) << "once";
}

TEST(JobManagerTest, ResumeRecordsAreBounded) {
  FakeClock clock;
  JobManager::Options options;
  options.max_resume_bytes = 8;
  JobManager jobs(options, &clock);
  const std::string id = *jobs.Submit(CtrTrain(1));
  ASSERT_TRUE(jobs.Start(id, {"node-1"}, {}).ok());
  absl::StatusOr<JobManager::ReportResult> r = jobs.Report(WithResume(
      Report(id + "/task-0", "node-1", TaskReport::PROGRESS), "123456789"));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(),
            "report for task 'job-1/task-0' has a resume record of 9 bytes; "
            "the limit is 8 (coordinator flag --max_resume_bytes)");
  EXPECT_TRUE(jobs.Report(WithResume(Report(id + "/task-0", "node-1",
                                            TaskReport::PROGRESS),
                                     "12345678"))
                  .ok());
}

std::vector<JobState> States(const std::vector<JobEvent>& events) {
  std::vector<JobState> states;
  for (const JobEvent& e : events) states.push_back(e.state());
  return states;
}

TEST(JobManagerTest, EventsReplayFromAnyIndex) {
  FakeClock clock;
  JobManager jobs({}, &clock);
  const std::string id = *jobs.Submit(LoadTest());
  ASSERT_TRUE(jobs.Start(id, {"node-1"}, {}).ok());
  ASSERT_TRUE(
      jobs.Report(Report("job-1/task-0", "node-1", TaskReport::PROGRESS, 4, 8))
          .ok());
  absl::StatusOr<EventBatch> all = jobs.WaitForEvents(id, 0, absl::Now());
  ASSERT_TRUE(all.ok());
  EXPECT_THAT(States(all->events), ElementsAre(PENDING, RUNNING, RUNNING));
  EXPECT_EQ(all->events[2].step(), 4);
  EXPECT_EQ(all->events[2].job_id(), "job-1");
  EXPECT_EQ(all->next_index, 3u);
  EXPECT_FALSE(all->done);

  // Nothing new: returns empty at the deadline.
  absl::StatusOr<EventBatch> none = jobs.WaitForEvents(id, 3, absl::Now());
  ASSERT_TRUE(none.ok());
  EXPECT_THAT(none->events, IsEmpty());
  EXPECT_EQ(none->next_index, 3u);

  ASSERT_TRUE(jobs.Cancel(id).ok());
  absl::StatusOr<EventBatch> rest =
      jobs.WaitForEvents(id, 2, absl::InfiniteFuture());
  ASSERT_TRUE(rest.ok());
  EXPECT_THAT(States(rest->events), ElementsAre(RUNNING, CANCELLED));
  EXPECT_TRUE(rest->done);
  // A terminal job never blocks.
  EXPECT_TRUE(jobs.WaitForEvents(id, 4, absl::InfiniteFuture())->done);
}

TEST(JobManagerTest, WaitForEventsWakesOnNewEvent) {
  FakeClock clock;
  JobManager jobs({}, &clock);
  const std::string id = *jobs.Submit(LoadTest());
  std::thread starter([&] { ASSERT_TRUE(jobs.Start(id, {"n"}, {}).ok()); });
  // Blocks (no deadline) until Start() appends the RUNNING event.
  absl::StatusOr<EventBatch> batch =
      jobs.WaitForEvents(id, 1, absl::InfiniteFuture());
  starter.join();
  ASSERT_TRUE(batch.ok());
  ASSERT_EQ(batch->events.size(), 1u);
  EXPECT_EQ(batch->events[0].state(), RUNNING);
}

TEST(JobManagerTest, EventHistoryIsBoundedAndKeepsStateChanges) {
  FakeClock clock;
  JobManager::Options options;
  options.max_events_per_job = 20;
  JobManager jobs(options, &clock);
  const std::string id = *jobs.Submit(LoadTest());
  ASSERT_TRUE(jobs.Start(id, {"node-1"}, {}).ok());
  for (int step = 1; step <= 1000; ++step) {
    ASSERT_TRUE(jobs.Report(Report("job-1/task-0", "node-1",
                                   TaskReport::PROGRESS, step, 1000))
                    .ok());
  }
  ASSERT_TRUE(
      jobs.Report(Report("job-1/task-0", "node-1", TaskReport::SUCCEEDED))
          .ok());
  absl::StatusOr<EventBatch> all = jobs.WaitForEvents(id, 0, absl::Now());
  ASSERT_TRUE(all.ok());
  EXPECT_LE(all->events.size(), 20u);
  EXPECT_EQ(all->next_index, 1003u) << "indices count every event";
  EXPECT_EQ(all->events.front().state(), PENDING);
  EXPECT_EQ(all->events[1].message(), "assigned to node-1");
  EXPECT_EQ(all->events.back().state(), SUCCEEDED);
  EXPECT_EQ(all->events.back().step(), 1000);
  int64_t last_step = -1;
  for (const JobEvent& e : all->events) {
    EXPECT_GE(e.step(), last_step) << "progress stays in order";
    last_step = e.step();
  }
}

TEST(JobManagerTest, ForgetsOldestFinishedJobsBeyondTheLimit) {
  FakeClock clock;
  JobManager::Options options;
  options.max_finished_jobs = 2;
  JobManager jobs(options, &clock);
  const std::string running = *jobs.Submit(LoadTest());
  for (int i = 0; i < 3; ++i)
    ASSERT_TRUE(jobs.Cancel(*jobs.Submit(LoadTest())).ok());
  EXPECT_EQ(jobs.Get("job-2").status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(jobs.Get("job-3").ok());
  EXPECT_TRUE(jobs.Get(running).ok()) << "unfinished jobs are never dropped";
  EXPECT_EQ(jobs.List().size(), 3u);
}


// A JobManager over a state store, restarted: a new manager over the same
// directory (with the same clock).
class JobManagerRestartTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::FreshTestDir("job_manager_restart");
    Reopen();
  }
  void Reopen() {
    jobs_.reset();
    store_.reset();
    CoordinatorState state;
    store_ = testing::OpenStore(dir_, &state);
    ASSERT_NE(store_, nullptr);
    jobs_ = std::make_unique<JobManager>(options_, &clock_, store_.get());
    jobs_->Restore(state.next_job_seq, std::move(state.jobs));
  }
  // A RUNNING 2-task job on node-a, node-b.
  std::string StartedJob() {
    const std::string job = *jobs_->Submit(LoadTest(2));
    EXPECT_TRUE(jobs_->Start(job, {"node-a", "node-b"}, {"ps:1"}).ok());
    return job;
  }
  std::vector<std::string> Messages(const std::string& job) {
    std::vector<std::string> out;
    const absl::StatusOr<EventBatch> batch =
        jobs_->WaitForEvents(job, 0, absl::InfinitePast());
    EXPECT_TRUE(batch.ok()) << batch.status();
    if (!batch.ok()) return out;
    for (const JobEvent& e : batch->events) out.push_back(e.message());
    return out;
  }

  FakeClock clock_;
  JobManager::Options options_;
  std::string dir_;
  std::unique_ptr<StateStore> store_;
  std::unique_ptr<JobManager> jobs_;
};

TEST_F(JobManagerRestartTest, JobsTheirEventsAndTheIdCounterSurvive) {
  const std::string pending = *jobs_->Submit(LoadTest(1));
  const std::string running = StartedJob();
  const std::string cancelled = *jobs_->Submit(LoadTest(1));
  ASSERT_TRUE(jobs_->Cancel(cancelled).ok());
  const JobStatus before = *jobs_->Get(running);
  Reopen();
  EXPECT_EQ(jobs_->Get(pending)->state(), PENDING);
  EXPECT_EQ(jobs_->Get(cancelled)->state(), CANCELLED);
  EXPECT_EQ(jobs_->Get(cancelled)->reason(), "cancelled by request");
  const JobStatus after = *jobs_->Get(running);
  EXPECT_EQ(after.SerializeAsString(), before.SerializeAsString());
  EXPECT_THAT(Messages(running),
              ElementsAre("submitted", "assigned to node-a, node-b"));
  EXPECT_THAT(jobs_->ActiveTasksByNode(),
              UnorderedElementsAre(Pair("node-a", running + "/task-0"),
                                   Pair("node-b", running + "/task-1")));
  EXPECT_EQ(*jobs_->Submit(LoadTest(1)), "job-4") << "ids are never reused";
  // The restored job runs on to its end.
  for (const char* node : {"node-a", "node-b"}) {
    const int rank = node[5] == 'a' ? 0 : 1;
    ASSERT_TRUE(jobs_
                    ->Report(Report(absl::StrCat(running, "/task-", rank), node,
                                    TaskReport::SUCCEEDED))
                    .ok());
  }
  EXPECT_EQ(jobs_->Get(running)->state(), SUCCEEDED);
  Reopen();
  EXPECT_EQ(jobs_->Get(running)->state(), SUCCEEDED);
}

TEST_F(JobManagerRestartTest, AJobsOwnerIsShownAndSurvives) {
  const std::string owned =
      *jobs_->Submit(LoadTest(1), "spiffe://strata/operator/alice");
  const std::string plain = *jobs_->Submit(LoadTest(1));
  EXPECT_EQ(jobs_->Get(owned)->owner(), "spiffe://strata/operator/alice");
  EXPECT_EQ(jobs_->Get(plain)->owner(), "");
  Reopen();
  EXPECT_EQ(jobs_->Get(owned)->owner(), "spiffe://strata/operator/alice");
  EXPECT_EQ(jobs_->List()[0].owner(), "spiffe://strata/operator/alice");
  EXPECT_EQ(jobs_->Get(plain)->owner(), "");
}

TEST_F(JobManagerRestartTest, ProgressIsWrittenAtMostEveryInterval) {
  const std::string job = StartedJob();
  const std::string task = job + "/task-0";
  clock_.Advance(absl::Seconds(2));
  ASSERT_TRUE(jobs_->Report(Report(task, "node-a", TaskReport::PROGRESS, 5, 9))
                  .ok());  // written: the last write is 2s old
  ASSERT_TRUE(jobs_->Report(Report(task, "node-a", TaskReport::PROGRESS, 6, 9))
                  .ok());  // within the interval: kept for later
  Reopen();
  EXPECT_EQ(jobs_->Get(job)->step(), 5);
  ASSERT_TRUE(
      jobs_->Report(Report(task, "node-a", TaskReport::PROGRESS, 7, 9)).ok());
  jobs_->FlushProgress(/*all=*/false);
  Reopen();
  EXPECT_EQ(jobs_->Get(job)->step(), 5) << "flushed only once due";
  ASSERT_TRUE(
      jobs_->Report(Report(task, "node-a", TaskReport::PROGRESS, 8, 9)).ok());
  jobs_->FlushProgress(/*all=*/true);  // as the coordinator's destructor
  Reopen();
  EXPECT_EQ(jobs_->Get(job)->step(), 8);
  EXPECT_EQ(Messages(job).size(), 4u) << "submitted, assigned, 5, 8";
}

TEST_F(JobManagerRestartTest, ThinnedAndForgottenJobsLeaveTheStore) {
  options_.max_events_per_job = 10;
  options_.max_finished_jobs = 1;
  Reopen();
  const std::string job = StartedJob();
  for (int step = 1; step <= 40; ++step) {
    clock_.Advance(absl::Seconds(2));  // every report is written
    ASSERT_TRUE(jobs_
                    ->Report(Report(job + "/task-0", "node-a",
                                    TaskReport::PROGRESS, step, 40))
                    .ok());
  }
  const std::vector<std::string> before = Messages(job);
  Reopen();
  EXPECT_EQ(Messages(job), before);
  ASSERT_TRUE(jobs_->Cancel(job).ok());
  const std::string second = *jobs_->Submit(LoadTest(1));
  ASSERT_TRUE(jobs_->Cancel(second).ok());  // job is pruned
  Reopen();
  EXPECT_EQ(jobs_->Get(job).status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(store_->Load().ok());
  EXPECT_EQ(store_->Load()->jobs.size(), 1u) << "its events went with it";
}

TEST_F(JobManagerRestartTest, ReattachKeepsListedTasksAndLosesTheOthers) {
  const std::string job = StartedJob();
  Reopen();
  // node-a re-attaches its task: nothing to do.
  EXPECT_THAT(jobs_->Reattach("node-a", {job + "/task-0"}, {}), IsEmpty());
  EXPECT_EQ(jobs_->Get(job)->state(), RUNNING);
  // node-b comes back without its task: lost, the job fails, node-a's task
  // is stopped.
  EXPECT_THAT(jobs_->Reattach("node-b", {}, {}),
              ElementsAre(TaskRef{"node-a", job + "/task-0"}));
  const JobStatus failed = *jobs_->Get(job);
  EXPECT_EQ(failed.state(), FAILED);
  EXPECT_THAT(failed.reason(), HasSubstr(job + "/task-1 on node-b was lost"));
  Reopen();
  EXPECT_EQ(jobs_->Get(job)->state(), FAILED) << "written at once";
}

TEST_F(JobManagerRestartTest, ReattachStopsTasksItDoesNotHaveOnTheNode) {
  const std::string job = StartedJob();
  const std::string done = *jobs_->Submit(LoadTest(1));
  ASSERT_TRUE(jobs_->Cancel(done).ok());
  EXPECT_THAT(jobs_->Reattach(
                  "node-a", {job + "/task-0", job + "/task-1", "job-9/x"}, {}),
              UnorderedElementsAre(TaskRef{"node-a", job + "/task-1"},
                                   TaskRef{"node-a", "job-9/x"}));
  EXPECT_EQ(jobs_->Get(job)->state(), RUNNING);
}

TEST_F(JobManagerRestartTest, AssignmentsOnTheirWayAreNotLost) {
  const std::string job = StartedJob();
  EXPECT_THAT(jobs_->Reattach("node-a", {}, {job + "/task-0"}), IsEmpty());
  EXPECT_EQ(jobs_->Get(job)->state(), RUNNING);
}

TEST_F(JobManagerRestartTest, ATaskOfAnEndedJobNotListedIsReleased) {
  const std::string job = StartedJob();
  ASSERT_TRUE(jobs_->Cancel(job).ok());
  EXPECT_EQ(jobs_->ActiveTasksByNode().size(), 2u) << "in the release grace";
  EXPECT_THAT(jobs_->Reattach("node-a", {}, {}), IsEmpty());
  EXPECT_THAT(jobs_->ActiveTasksByNode(),
              ElementsAre(Pair("node-b", job + "/task-1")));
  EXPECT_EQ(jobs_->Get(job)->state(), CANCELLED);
}

TEST_F(JobManagerRestartTest, ARestartingJobSurvivesACoordinatorRestart) {
  const std::string job = *jobs_->Submit(CtrTrain(2));
  ASSERT_TRUE(jobs_->Start(job, {"node-a", "node-b"}, {"ps:1"}).ok());
  ASSERT_TRUE(jobs_->Report(WithResume(Report(job + "/task-1", "node-b",
                                              TaskReport::PROGRESS, 3, 9),
                                       "b@3"))
                  .ok());
  clock_.Advance(absl::Seconds(5));
  jobs_->NodeDied("node-a", "node node-a (h) died");
  const absl::Time wait_start = clock_.Now();
  Reopen();
  EXPECT_EQ(jobs_->Get(job)->state(), RUNNING);
  EXPECT_EQ(jobs_->Get(job)->restarts(), 1u);
  std::vector<PendingJob> pending = jobs_->PendingJobs();
  ASSERT_EQ(pending.size(), 1u);
  EXPECT_EQ(pending[0].restart, 1u);
  EXPECT_EQ(pending[0].restart_wait_start, wait_start);
  EXPECT_FALSE(pending[0].old_tasks_stopped);
  EXPECT_THAT(jobs_->ActiveTasksByNode(),
              ElementsAre(Pair("node-b", job + "/task-1")));
  // node-b re-attaches still running the old task: it is told to stop.
  EXPECT_THAT(jobs_->Reattach("node-b", {job + "/task-1"}, {}),
              ElementsAre(TaskRef{"node-b", job + "/task-1"}));
  ASSERT_TRUE(
      jobs_->Report(Report(job + "/task-1", "node-b", TaskReport::CANCELLED))
          .ok());
  absl::StatusOr<std::vector<TaskAssignment>> started =
      jobs_->Start(job, {"node-b", "node-c"}, {"ps:1"});
  ASSERT_TRUE(started.ok()) << started.status();
  EXPECT_EQ((*started)[0].task_id(), job + "/task-0.r1");
  EXPECT_EQ((*started)[0].attempt(), 1u);
  EXPECT_THAT((*started)[0].resume(), ElementsAre("", "b@3"));
  Reopen();
  EXPECT_THAT(jobs_->ActiveTasksByNode(),
              UnorderedElementsAre(Pair("node-b", job + "/task-0.r1"),
                                   Pair("node-c", job + "/task-1.r1")));
  EXPECT_THAT(jobs_->PendingJobs(), IsEmpty());
}

}  // namespace
}  // namespace strata
