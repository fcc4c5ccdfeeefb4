#include "worker/ctr/ctr_tasks.h"

#include <cstdlib>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "worker/testing/task_fixture.h"

namespace strata {
namespace ctr {
namespace {

using testing::FakeTaskContext;

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

TEST_F(CtrTasksTest, TrainsFromAFileAndSkipsMalformedLines) {
  CtrGenerator g(ToGeneratorOptions(
      Prepared(Train("x")).ctr_train().generator()));
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
