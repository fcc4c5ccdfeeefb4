#include "worker/ctr/ctr_tasks.h"

#include <cstdlib>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "worker/ctr/ctr_resume.pb.h"
#include "worker/testing/task_fixture.h"

namespace strata {
namespace ctr {
namespace {

using testing::FakeTaskContext;

// A FakeTaskContext that keeps the progress checkpoints a task saves.
class ResumeContext final : public FakeTaskContext {
 public:
  void SaveResume(std::string record) override {
    absl::MutexLock lock(&mu_);
    records_.push_back(std::move(record));
  }
  std::vector<std::string> records() const {
    absl::MutexLock lock(&mu_);
    return records_;
  }
  std::string latest() const {
    absl::MutexLock lock(&mu_);
    return records_.empty() ? "" : records_.back();
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<std::string> records_ ABSL_GUARDED_BY(mu_);
};

CtrResume Parse(const std::string& record) {
  CtrResume r;
  EXPECT_TRUE(r.ParseFromString(record));
  return r;
}

CtrGeneratorSpec SmallData() {
  CtrGeneratorSpec g;
  g.set_rows(24000);
  g.set_eval_rows(5000);
  g.set_seed(3);
  g.set_max_vocab(3000);
  g.set_groups(10);
  return g;
}

class CtrTasksTest : public testing::TaskFixture {
 protected:
  JobSpec Train(const std::string& table) {
    JobSpec spec;
    CtrTrainSpec* t = spec.mutable_ctr_train();
    *t->mutable_generator() = SmallData();
    t->mutable_model()->set_table(table);
    t->mutable_model()->set_embedding_dim(8);
    t->set_batch_size(256);
    t->set_epochs(2);
    t->set_skip_checkpoint(true);
    return spec;
  }
  // Attempt `attempt` of task `rank` of 2 with the ranks' `records`.
  TaskAssignment Restarted(const JobSpec& spec, uint32_t rank, uint32_t attempt,
                           const std::vector<std::string>& records) const {
    TaskAssignment a = Assign(spec, rank, 2);
    a.set_attempt(attempt);
    for (const std::string& r : records) a.add_resume(r);
    return a;
  }
  // Runs ranks 0 and 1 of `spec` (or of the assignments given) at once.
  struct TwoRanks {
    absl::StatusOr<TaskMetrics> m0, m1;
  };
  TwoRanks RunTwo(const TaskAssignment& a0, const TaskAssignment& a1,
                  TaskContext* c0, TaskContext* c1) {
    TwoRanks out;
    CtrTrainTask w0(client()), w1(client());
    std::thread t([&] { out.m1 = w1.Run(a1, c1); });
    out.m0 = w0.Run(a0, c0);
    t.join();
    return out;
  }
};

TEST_F(CtrTasksTest, OneWorkerLearnsThePlantedModelAndEvalAgrees) {
  CtrTrainTask train(client());
  FakeTaskContext ctx;
  auto m = train.Run(Assign(Train("t1"), 0, 1), &ctx);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_GT(m->at("auc"), 0.68);  // chance is 0.5
  EXPECT_LT(m->at("logloss"), 0.6);
  EXPECT_EQ(m->at("examples"), 48000);  // 2 epochs
  EXPECT_EQ(m->at("eval_examples"), 5000);
  EXPECT_EQ(ctx.last_step(), 2 * 94);  // ceil(24000 / 256) per epoch
  EXPECT_GT(m->at("examples_per_s"), 0);
  // CTR_EVAL on the same held-out stream reproduces the numbers, and its
  // read-only pulls create no rows.
  JobSpec eval;
  *eval.mutable_ctr_eval()->mutable_generator() = SmallData();
  eval.mutable_ctr_eval()->mutable_model()->set_table("t1");
  eval.mutable_ctr_eval()->mutable_model()->set_embedding_dim(8);
  auto rows_before = RequireAllOk(client()->admin().ListTables());
  CtrEvalTask ev(client());
  auto e = ev.Run(Assign(eval, 0, 1), &ctx);
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_NEAR(e->at("auc"), m->at("auc"), 1e-9);
  EXPECT_NEAR(e->at("logloss"), m->at("logloss"), 1e-9);
  auto rows_after = RequireAllOk(client()->admin().ListTables());
  ASSERT_TRUE(rows_before.ok() && rows_after.ok());
  EXPECT_EQ(rows_before->size(), rows_after->size());
  for (size_t i = 0; i < rows_before->size(); ++i) {
    EXPECT_EQ((*rows_before)[i].DebugString(), (*rows_after)[i].DebugString());
  }
}

TEST_F(CtrTasksTest, TwoWorkersStayInLockstepAndShareTheData) {
  JobSpec spec = Train("t2");
  spec.mutable_ctr_train()->set_epochs(1);
  CtrTrainTask w0(client()), w1(client());
  FakeTaskContext c0, c1;
  absl::StatusOr<TaskMetrics> m0, m1;
  std::thread t([&] { m1 = w1.Run(Assign(spec, 1, 2), &c1); });
  m0 = w0.Run(Assign(spec, 0, 2), &c0);
  t.join();
  ASSERT_TRUE(m0.ok()) << m0.status();
  ASSERT_TRUE(m1.ok()) << m1.status();
  EXPECT_EQ(m0->at("examples") + m1->at("examples"), 24000);
  EXPECT_EQ(c0.last_step(), 47);  // ceil(12000 / 256)
  EXPECT_EQ(c1.last_step(), 47);
  EXPECT_GT(m0->at("auc"), 0.6);
  EXPECT_EQ(m1->count("auc"), 0u);  // only rank 0 evaluates
  // Every MLP tensor went through exactly 47 BSP steps.
  std::vector<float> w;
  auto step = client()->PullDense(DenseTensorName("t2", 0), 0, &w);
  ASSERT_TRUE(step.ok());
  EXPECT_EQ(*step, 47);
}

TEST_F(CtrTasksTest, EveryRankSavesItsBaseStepsAtTheStartAndEachEpoch) {
  JobSpec spec = Train("r1");
  ResumeContext c0, c1;
  TwoRanks run = RunTwo(Assign(spec, 0, 2), Assign(spec, 1, 2), &c0, &c1);
  ASSERT_TRUE(run.m0.ok()) << run.m0.status();
  ASSERT_TRUE(run.m1.ok()) << run.m1.status();
  for (const ResumeContext* c : {&c0, &c1}) {
    const std::vector<std::string> records = c->records();
    ASSERT_EQ(records.size(), 3u);  // the start, after epochs 1 and 2
    for (size_t e = 0; e < records.size(); ++e) {
      const CtrResume r = Parse(records[e]);
      EXPECT_EQ(r.version(), 1u);
      EXPECT_EQ(r.base_steps_size(), 6);  // w0 b0 .. w2 b2 (hidden 64, 32)
      for (int64_t b : r.base_steps()) EXPECT_EQ(b, 0);
      EXPECT_EQ(r.steps_per_epoch(), 47);
      EXPECT_EQ(r.total_steps(), 94);
      EXPECT_EQ(r.step(), 47 * static_cast<int64_t>(e));
      EXPECT_LE(records[e].size(), 4096u);
    }
  }
}

// Attempt 0 of a 2-rank job stops after `k` steps; before attempt 1, tensor
// w0 completes step k (as when a task died after some tensors had advanced
// and the coordinator reset the others' partial pushes). Attempt 1 runs
// only the steps left, pushes w0 from step k + 1, and ends where an
// uninterrupted run ends.
TEST_F(CtrTasksTest, ARestartedJobResumesAtTheTensorsStepAndMatchesAFullRun) {
  const JobSpec full_spec = Train("full");
  FakeTaskContext f0, f1;
  TwoRanks full =
      RunTwo(Assign(full_spec, 0, 2), Assign(full_spec, 1, 2), &f0, &f1);
  ASSERT_TRUE(full.m0.ok()) << full.m0.status();
  ASSERT_TRUE(full.m1.ok()) << full.m1.status();

  constexpr int kDone = 30;  // steps of attempt 0
  const JobSpec spec = Train("resumed");
  ResumeContext c0, c1;
  c0.CancelAfterReports(kDone);
  c1.CancelAfterReports(kDone);
  TwoRanks first = RunTwo(Assign(spec, 0, 2), Assign(spec, 1, 2), &c0, &c1);
  EXPECT_EQ(first.m0.status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(first.m1.status().code(), absl::StatusCode::kCancelled);
  const std::string w0 = DenseTensorName("resumed", 0);
  std::vector<float> values;
  ASSERT_EQ(*client()->PullDense(w0, 0, &values), kDone);
  const std::vector<float> zero(values.size(), 0.0f);
  ASSERT_TRUE(client()->PushDense(w0, zero, kDone, 0).ok());
  ASSERT_EQ(*client()->PushDense(w0, zero, kDone, 1), kDone + 1);

  const std::vector<std::string> records = {c0.latest(), c1.latest()};
  ResumeContext r0, r1;
  TwoRanks second = RunTwo(Restarted(spec, 0, 1, records),
                           Restarted(spec, 1, 1, records), &r0, &r1);
  ASSERT_TRUE(second.m0.ok()) << second.m0.status();
  ASSERT_TRUE(second.m1.ok()) << second.m1.status();
  EXPECT_EQ(r0.reports(), 94 - kDone);  // one report per step
  EXPECT_EQ(r1.reports(), 94 - kDone);
  EXPECT_EQ(r0.last_step(), 94);
  // Examples count from the resumed step: 2 x 12000 minus kDone batches.
  EXPECT_EQ(second.m0->at("examples") + second.m1->at("examples"),
            2 * 24000 - 2 * kDone * 256);
  EXPECT_EQ(Parse(r0.records().front()).step(), kDone);
  for (int i = 0; i < 6; ++i) {
    auto step = client()->PullDense(DenseTensorName("resumed", i), 0, &values);
    ASSERT_TRUE(step.ok()) << step.status();
    EXPECT_EQ(*step, 94) << DenseTensorName("resumed", i);
  }
  EXPECT_NEAR(second.m0->at("auc"), full.m0->at("auc"), 0.01);
}

// The coordinator resets open steps before a restart; a partial push left
// over means it did not, and the resumed task stops INTERNAL.
TEST_F(CtrTasksTest, AHalfPushedStepFoundOnResumeIsInternal) {
  const JobSpec spec = Train("half");
  ResumeContext c0, c1;
  c0.CancelAfterReports(5);
  c1.CancelAfterReports(5);
  RunTwo(Assign(spec, 0, 2), Assign(spec, 1, 2), &c0, &c1);
  const std::string w0 = DenseTensorName("half", 0);
  std::vector<float> values;
  ASSERT_EQ(*client()->PullDense(w0, 0, &values), 5);
  const std::vector<float> zero(values.size(), 0.0f);
  ASSERT_TRUE(client()->PushDense(w0, zero, 5, 0).ok());  // rank 0's, alone
  CtrTrainTask task(client());
  ResumeContext ctx;
  absl::StatusOr<TaskMetrics> m =
      task.Run(Restarted(spec, 0, 1, {c0.latest(), c1.latest()}), &ctx);
  EXPECT_EQ(m.status().code(), absl::StatusCode::kInternal) << m.status();
}

TEST_F(CtrTasksTest, ARestartWithoutAProgressCheckpointFailsPrecondition) {
  const JobSpec spec = Train("none");
  for (const std::vector<std::string>& records :
       {std::vector<std::string>{}, std::vector<std::string>{"", ""}}) {
    CtrTrainTask task(client());
    FakeTaskContext ctx;
    absl::StatusOr<TaskMetrics> m =
        task.Run(Restarted(spec, 0, 1, records), &ctx);
    EXPECT_EQ(m.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_NE(m.status().message().find("cannot resume: no progress"),
              absl::string_view::npos)
        << m.status();
  }
  CtrTrainTask task(client());
  FakeTaskContext ctx;
  EXPECT_EQ(
      task.Run(Restarted(spec, 0, 1, {"not a record"}), &ctx).status().code(),
      absl::StatusCode::kFailedPrecondition);
}

TEST_F(CtrTasksTest, RankZeroResumedAfterTheLastStepOnlyFinishes) {
  JobSpec spec = Train("done");
  spec.mutable_ctr_train()->set_epochs(1);
  ResumeContext c0, c1;
  TwoRanks run = RunTwo(Assign(spec, 0, 2), Assign(spec, 1, 2), &c0, &c1);
  ASSERT_TRUE(run.m0.ok()) << run.m0.status();
  // Rank 0 restarted after the last step, with only rank 1's record.
  CtrTrainTask task(client());
  ResumeContext ctx;
  absl::StatusOr<TaskMetrics> m =
      task.Run(Restarted(spec, 0, 1, {"", c1.latest()}), &ctx);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(ctx.reports(), 0);  // no training step
  EXPECT_EQ(m->at("examples"), 0);
  EXPECT_NEAR(m->at("auc"), run.m0->at("auc"), 1e-9);
  EXPECT_EQ(Parse(ctx.latest()).step(), 47);
}

TEST_F(CtrTasksTest, TrainsFromAFileAndSkipsMalformedLines) {
  CtrGenerator g(
      ToGeneratorOptions(Prepared(Train("x")).ctr_train().generator()));
  std::string data;
  for (uint64_t i = 0; i < 12000; ++i) {
    g.AppendRow(kTrainStream, i, &data);
    if (i % 1000 == 0) data += "not\ta\tcriteo\tline\n";
  }
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string path = absl::StrCat(tmp ? tmp : "/tmp", "/ctr.tsv");
  std::ofstream(path) << data;
  JobSpec spec = Train("t3");
  spec.mutable_ctr_train()->clear_generator();
  spec.mutable_ctr_train()->set_data_path(path);
  spec.mutable_ctr_train()->set_epochs(1);
  CtrTrainTask train(client());
  FakeTaskContext ctx;
  auto m = train.Run(Assign(spec, 0, 1), &ctx);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_GT(m->at("malformed_lines"), 8);  // 12 in all, ~90% in training
  EXPECT_GT(m->at("eval_examples"), 1000);
  EXPECT_GT(m->at("auc"), 0.6);
  EXPECT_NEAR(m->at("examples") + m->at("eval_examples"), 12000, 0);
}

// A resumed task seeks its share: Skip(n) then Next gives example n.
TEST_F(CtrTasksTest, SourcesSkipToTheSameExampleAsReadingThrough) {
  CtrGenerator g(ToGeneratorOptions(SmallData()));
  std::string data;
  for (uint64_t i = 0; i < 300; ++i) {
    g.AppendRow(kTrainStream, i, &data);
    if (i == 100) data += "malformed line\n";
  }
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string path = absl::StrCat(tmp ? tmp : "/tmp", "/skip.tsv");
  std::ofstream(path) << data;
  auto open_file = [&] {
    CriteoReaderOptions o;
    o.path = path;
    auto r = CriteoReader::Open(o);
    EXPECT_TRUE(r.ok()) << r.status();
    return FileSource(std::move(*r));
  };
  std::unique_ptr<ExampleSource> file = open_file();
  std::unique_ptr<ExampleSource> gen =
      GeneratedSource(&g, kTrainStream, 50, 300);
  ASSERT_TRUE(file->Skip(200).ok());  // passes the malformed line
  ASSERT_TRUE(gen->Skip(150).ok());
  CtrExample from_file, from_gen, expected;
  ASSERT_TRUE(*file->Next(&from_file));
  ASSERT_TRUE(*gen->Next(&from_gen));
  std::string row;
  g.AppendRow(kTrainStream, 200, &row);
  row.pop_back();
  ASSERT_TRUE(ParseCriteoLine(row, &expected).ok());
  EXPECT_EQ(from_file.keys, expected.keys);
  EXPECT_EQ(from_gen.keys, expected.keys);
  EXPECT_EQ(file->malformed(), 1);
  ASSERT_TRUE(gen->Skip(1000).ok());  // past the end: stops there
  EXPECT_FALSE(*gen->Next(&from_gen));
}

TEST_F(CtrTasksTest, EvalOfAMissingFileIsNotFound) {
  JobSpec eval;
  eval.mutable_ctr_eval()->set_data_path("/nonexistent.tsv");
  CtrEvalTask ev(client());
  FakeTaskContext ctx;
  EXPECT_EQ(ev.Run(Assign(eval, 0, 1), &ctx).status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace ctr
}  // namespace strata
