#include "tools/internal/job_commands.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tools/internal/fake_servers.h"

namespace strata {
namespace ctl {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr int64_t kNowMs = 1700000000000;  // the fake clock's "now"

std::string WriteTemp(absl::string_view name, absl::string_view content) {
  const char* dir = std::getenv("TEST_TMPDIR");
  const std::string path =
      absl::StrCat(dir != nullptr ? dir : "/tmp", "/", name);
  std::ofstream(path, std::ios::trunc) << content;
  return path;
}

JobEvent Event(JobState state, int64_t step, int64_t total, int64_t at_ms) {
  JobEvent event;
  event.set_job_id("job-1");
  event.set_state(state);
  event.set_step(step);
  event.set_total_steps(total);
  event.set_time_unix_ms(at_ms);
  return event;
}

class JobCommandsTest : public ::testing::Test {
 protected:
  JobCommandsTest()
      : clock_(absl::FromUnixMillis(kNowMs)), client_([this] {
          CtlClientOptions options;
          options.coordinator = fake_.address();
          return options;
        }()) {
    env_.client = &client_;
    env_.out = &out_;
    env_.err = &err_;
    env_.clock = &clock_;
  }

  // A job that ran from kNowMs-60s to kNowMs-50s and ended in `state`.
  void AddFinishedJob(const std::string& id, JobState state) {
    JobStatus job;
    job.set_job_id(id);
    job.mutable_spec()->set_name("load");
    job.mutable_spec()->mutable_ps_load_test()->set_dim(4);
    job.set_state(state);
    job.set_step(100);
    job.set_total_steps(100);
    job.set_submit_time_unix_ms(kNowMs - 65000);
    job.set_start_time_unix_ms(kNowMs - 60000);
    job.set_end_time_unix_ms(kNowMs - 50000);
    if (state != SUCCEEDED) job.set_reason("worker n-2 lost");
    (*job.mutable_metrics())["qps"] = 1500;
    (*job.mutable_metrics())["errors"] = 0;
    fake_.AddJob(job);
  }

  FakeCoordinator fake_;
  FakeClock clock_;
  CtlClient client_;
  std::ostringstream out_, err_;
  CommandEnv env_;
};

TEST_F(JobCommandsTest, SubmitPrintsTheJobIdOnly) {
  const std::string path = WriteTemp("ok.textproto", "ps_load_test { dim: 8 }");
  EXPECT_EQ(RunSubmit(env_, path, /*watch=*/false), kExitOk);
  EXPECT_EQ(out_.str(), "job-1\n");
  EXPECT_EQ(err_.str(), "");
  ASSERT_EQ(fake_.submitted().size(), 1u);
  EXPECT_EQ(fake_.submitted()[0].ps_load_test().dim(), 8u);
}

TEST_F(JobCommandsTest, SubmitJsonPrintsTheResponse) {
  env_.json = true;
  const std::string path = WriteTemp("ok.json", R"({"ps_load_test": {}})");
  EXPECT_EQ(RunSubmit(env_, path, false), kExitOk);
  EXPECT_EQ(out_.str(), "{\"job_id\":\"job-1\"}\n");
}

TEST_F(JobCommandsTest, InvalidSpecIsAUsageErrorAndSubmitsNothing) {
  const std::string path = WriteTemp("bad.textproto", "ps_load_tset {}\n");
  EXPECT_EQ(RunSubmit(env_, path, false), kExitUsage);
  EXPECT_THAT(err_.str(), StartsWith("INVALID_ARGUMENT: " + path + ":1:14: "));
  EXPECT_THAT(err_.str(), HasSubstr("ps_load_tset"));
  EXPECT_EQ(out_.str(), "");
  EXPECT_TRUE(fake_.submitted().empty());
}

TEST_F(JobCommandsTest, MissingSpecFileIsAUsageError) {
  EXPECT_EQ(RunSubmit(env_, "/nonexistent/spec.json", false), kExitUsage);
  EXPECT_THAT(err_.str(), StartsWith("NOT_FOUND: "));
}

TEST_F(JobCommandsTest, ModelSummaryIsOfflineAndPrintsTheByteFormula) {
  EXPECT_EQ(RunModelSummary(
                env_, "tools/examples/cnn_custom_fashion_mnist.textproto"),
            kExitOk);
  EXPECT_THAT(out_.str(), StartsWith("model custom: input 1x28x28, 14 layers"));
  EXPECT_THAT(out_.str(), HasSubstr("  ratio PS / STANZA = 19.5: STANZA moves "
                                    "fewer bytes\n"));
  EXPECT_EQ(err_.str(), "");
  EXPECT_TRUE(fake_.submitted().empty());
}

TEST_F(JobCommandsTest, ModelSummaryOfABadModelIsAUsageError) {
  const std::string path = WriteTemp(
      "bad_model.textproto",
      "cnn_train { model_spec { channels: 1 height: 28 width: 28 "
      "layers { type: CONV out: 6 kernel: 5 } layers { type: RELU } "
      "layers { type: LINEAR out: 10 } } }");
  EXPECT_EQ(RunModelSummary(env_, path), kExitUsage);
  EXPECT_EQ(err_.str(),
            "INVALID_ARGUMENT: cnn_train.model_spec.layers[2] (LINEAR) got "
            "6x24x24: input is not flat (put a FLATTEN before the first "
            "LINEAR)\n");
  EXPECT_EQ(out_.str(), "");
}

TEST_F(JobCommandsTest, RejectedSubmitIsAnRpcError) {
  fake_.script().SetError("SubmitJob",
                          absl::InvalidArgumentError("num_workers too large"));
  const std::string path = WriteTemp("ok2.textproto", "ps_load_test {}");
  EXPECT_EQ(RunSubmit(env_, path, false), kExitRpc);
  EXPECT_EQ(err_.str(), "INVALID_ARGUMENT: SubmitJob on coordinator " +
                            fake_.address() + ": num_workers too large\n");
}

TEST_F(JobCommandsTest, SubmitWatchFollowsTheNewJobToItsEnd) {
  fake_.SetEvents("job-1", {Event(RUNNING, 50, 100, kNowMs - 5000),
                            Event(FAILED, 60, 100, kNowMs - 4000)});
  const std::string path = WriteTemp("w.textproto", "ps_load_test {}");
  // The fake keeps the job PENDING, so the final GetJob still says PENDING:
  // the exit code then reports that the job did not finish.
  EXPECT_EQ(RunSubmit(env_, path, /*watch=*/true), kExitRpc);
  EXPECT_THAT(out_.str(), StartsWith("job-1\nRUNNING  [###"));
  EXPECT_THAT(out_.str(), HasSubstr("\nFAILED  [#"));
  EXPECT_THAT(err_.str(), HasSubstr("was still PENDING"));
}

TEST_F(JobCommandsTest, WatchPlainPrintsEventsThenSummaryAndExitsOne) {
  AddFinishedJob("job-1", FAILED);
  JobEvent running = Event(RUNNING, 50, 100, kNowMs - 55000);
  (*running.mutable_metrics())["qps"] = 1000;
  fake_.SetEvents("job-1",
                  {Event(PENDING, 0, 0, kNowMs - 65000), running,
                   Event(RUNNING, 60, 100, kNowMs - 54000),  // throttled
                   Event(FAILED, 60, 100, kNowMs - 50000)});
  EXPECT_EQ(RunWatch(env_, "job-1"), kExitJobFailed);
  EXPECT_EQ(out_.str(),
            "PENDING\n"
            "RUNNING  [###############---------------]  50.0%  50/100 steps  "
            "10.0 steps/s  ETA 5s  qps=1000\n"
            "FAILED  [##################------------]  60.0%  60/100 steps  "
            "6.0 steps/s\n"
            "job job-1 FAILED after 10s (100/100 steps)\n"
            "reason: worker n-2 lost\n"
            "metrics: errors=0 qps=1500\n");
  EXPECT_EQ(err_.str(), "");
}

TEST_F(JobCommandsTest, WatchOnATerminalRedrawsInPlace) {
  AddFinishedJob("job-1", SUCCEEDED);
  fake_.SetEvents("job-1", {Event(RUNNING, 50, 100, kNowMs - 55000),
                            Event(SUCCEEDED, 100, 100, kNowMs - 50000)});
  env_.tty = true;
  EXPECT_EQ(RunWatch(env_, "job-1"), kExitOk);
  EXPECT_THAT(out_.str(),
              StartsWith("\rRUNNING  [###############---------------]  50.0%"));
  EXPECT_THAT(out_.str(), HasSubstr("\033[K\rSUCCEEDED  [###"));
  EXPECT_THAT(out_.str(),
              HasSubstr("10.0 steps/s\033[K\njob job-1 SUCCEEDED after 10s"));
}

TEST_F(JobCommandsTest, WatchOnANarrowTerminalCutsTheLine) {
  AddFinishedJob("job-1", SUCCEEDED);
  fake_.SetEvents("job-1", {Event(RUNNING, 50, 100, kNowMs - 55000)});
  env_.tty = true;
  env_.terminal_width = 20;
  EXPECT_EQ(RunWatch(env_, "job-1"), kExitOk);
  EXPECT_THAT(out_.str(),
              StartsWith("\rRUNNING  [######...\033[K\njob job-1 SUCCEEDED"));
}

TEST_F(JobCommandsTest, WatchJsonPrintsEventLinesThenFinalStatus) {
  AddFinishedJob("job-1", CANCELLED);
  fake_.SetEvents("job-1", {Event(CANCELLED, 7, 100, kNowMs - 50000)});
  env_.json = true;
  EXPECT_EQ(RunWatch(env_, "job-1"), kExitJobFailed);
  const std::string out = out_.str();
  EXPECT_THAT(out, StartsWith("{\"job_id\":\"job-1\",\"state\":\"CANCELLED\","
                              "\"step\":\"7\""));
  EXPECT_THAT(out, HasSubstr("}\n{\"job_id\":\"job-1\",\"spec\":{"));
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 2);
}

TEST_F(JobCommandsTest, WatchUnknownJobIsNotFound) {
  EXPECT_EQ(RunWatch(env_, "nope"), kExitRpc);
  EXPECT_THAT(err_.str(), StartsWith("NOT_FOUND: GetJob on coordinator"));
}

TEST_F(JobCommandsTest, ListShowsJobsOldestFirst) {
  AddFinishedJob("job-2", FAILED);
  JobStatus newer;
  newer.set_job_id("job-1");
  newer.set_state(RUNNING);
  newer.set_step(5);
  newer.set_submit_time_unix_ms(kNowMs - 1000);
  fake_.AddJob(newer);
  EXPECT_EQ(RunList(env_), kExitOk);
  EXPECT_EQ(out_.str(),
            "ID     NAME  STATE       STEP    AGE  REASON\n"
            "job-2  load  FAILED   100/100  1m05s  worker n-2 lost\n"
            "job-1        RUNNING      5/?     1s\n");
}

TEST_F(JobCommandsTest, ListAndStatusShowRestarts) {
  JobStatus job;
  job.set_job_id("job-1");
  job.set_state(RUNNING);
  job.set_restarts(2);
  job.set_submit_time_unix_ms(kNowMs - 1000);
  fake_.AddJob(job);
  EXPECT_EQ(RunList(env_), kExitOk);
  EXPECT_EQ(out_.str(),
            "ID     NAME  STATE                 STEP  AGE  REASON\n"
            "job-1        RUNNING (2 restarts)   0/?   1s\n");
  out_.str("");
  EXPECT_EQ(RunStatus(env_, "job-1"), kExitOk);
  EXPECT_THAT(out_.str(), HasSubstr("state:     RUNNING (2 restarts)\n"));
}

TEST_F(JobCommandsTest, StatusShowsTheOwner) {
  JobStatus job;
  job.set_job_id("job-1");
  job.set_state(RUNNING);
  job.set_owner("spiffe://strata/operator/alice");
  fake_.AddJob(job);
  EXPECT_EQ(RunStatus(env_, "job-1"), kExitOk);
  EXPECT_THAT(out_.str(), HasSubstr("owner:     spiffe://strata/operator/alice\n"
                                    "state:     RUNNING\n"));
}

TEST_F(JobCommandsTest, ListJsonIsTheResponseMessage) {
  env_.json = true;
  EXPECT_EQ(RunList(env_), kExitOk);
  EXPECT_EQ(out_.str(), "{\"jobs\":[]}\n");
}

TEST_F(JobCommandsTest, StatusShowsDetailsMetricsAndSpec) {
  AddFinishedJob("job-1", SUCCEEDED);
  EXPECT_EQ(RunStatus(env_, "job-1"), kExitOk);
  EXPECT_EQ(out_.str(),
            "job:       job-1\n"
            "name:      load\n"
            "owner:     -\n"
            "state:     SUCCEEDED\n"
            "progress:  100/100 (100.0%)\n"
            "submitted: 2023-11-14 22:12:15 (1m05s ago)\n"
            "started:   2023-11-14 22:12:20\n"
            "ended:     2023-11-14 22:12:30\n"
            "runtime:   10s\n"
            "nodes:     -\n"
            "reason:    -\n"
            "metrics:\n"
            "  errors = 0\n"
            "  qps = 1500\n"
            "spec:\n"
            "  name: \"load\"\n"
            "  ps_load_test {\n"
            "    dim: 4\n"
            "  }\n");
}

TEST_F(JobCommandsTest, CancelPrintsResultingState) {
  AddFinishedJob("job-1", RUNNING);
  EXPECT_EQ(RunCancel(env_, "job-1"), kExitOk);
  EXPECT_EQ(out_.str(), "job job-1: CANCELLED\n");
  EXPECT_THAT(fake_.cancelled(), ::testing::ElementsAre("job-1"));
  EXPECT_EQ(RunCancel(env_, "job-9"), kExitRpc);
  EXPECT_THAT(err_.str(), StartsWith("NOT_FOUND: CancelJob on coordinator"));
}

TEST_F(JobCommandsTest, UnreachableCoordinatorIsExitThree) {
  CtlClientOptions options;
  options.coordinator = "127.0.0.1:1";
  CtlClient dead(options);
  env_.client = &dead;
  EXPECT_EQ(RunList(env_), kExitRpc);
  EXPECT_THAT(err_.str(),
              StartsWith("UNAVAILABLE: coordinator 127.0.0.1:1 unreachable: "));
  EXPECT_EQ(out_.str(), "");
}

}  // namespace
}  // namespace ctl
}  // namespace strata
