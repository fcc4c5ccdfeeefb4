#include "server/jobs/ctr_jobs.h"

#include <string>

#include "gtest/gtest.h"
#include "server/jobs/job_types.h"

namespace strata {
namespace jobs {
namespace {

absl::Status Prepare(JobSpec spec) { return PrepareJobSpec({}, &spec); }

TEST(CtrTrainJobTest, AppliesGeneratorModelAndTrainingDefaults) {
  JobSpec spec;
  spec.mutable_ctr_train();
  ASSERT_TRUE(PrepareJobSpec({}, &spec).ok());
  const CtrTrainSpec& t = spec.ctr_train();
  EXPECT_EQ(t.generator().rows(), 1000000u);
  EXPECT_EQ(t.generator().eval_rows(), 100000u);
  EXPECT_EQ(t.generator().seed(), 1u);
  EXPECT_EQ(t.generator().max_vocab(), 200000u);
  EXPECT_EQ(t.generator().groups(), 100u);
  EXPECT_DOUBLE_EQ(t.generator().zipf(), 1.1);
  EXPECT_EQ(t.model().table(), "ctr");
  EXPECT_EQ(t.model().embedding_dim(), 16u);
  ASSERT_EQ(t.model().hidden_size(), 2);
  EXPECT_EQ(t.model().hidden(0), 64u);
  EXPECT_EQ(t.model().hidden(1), 32u);
  EXPECT_EQ(t.epochs(), 1u);
  EXPECT_EQ(t.batch_size(), 1024u);
  EXPECT_FLOAT_EQ(t.learning_rate(), 0.05f);
  EXPECT_FLOAT_EQ(t.dense_learning_rate(), 0.002f);
  EXPECT_EQ(t.seed(), 1u);
  EXPECT_EQ(t.checkpoint_id(), 0u) << "0 = the current Unix ms, at the end";
  EXPECT_DOUBLE_EQ(t.eval_fraction(), 0) << "only with a data file";
}

TEST(CtrTrainJobTest, FileInputGetsAHeldOutFractionAndNoGenerator) {
  JobSpec spec;
  spec.mutable_ctr_train()->set_data_path("/data/train.tsv");
  ASSERT_TRUE(PrepareJobSpec({}, &spec).ok());
  EXPECT_DOUBLE_EQ(spec.ctr_train().eval_fraction(), 0.1);
  EXPECT_EQ(spec.ctr_train().generator().rows(), 0u) << "unused with a file";
  spec = JobSpec();
  spec.mutable_ctr_train()->set_data_path("/data/train.tsv");
  spec.mutable_ctr_train()->set_eval_path("/data/test.tsv");
  ASSERT_TRUE(PrepareJobSpec({}, &spec).ok());
  EXPECT_DOUBLE_EQ(spec.ctr_train().eval_fraction(), 0) << "eval_path wins";
}

TEST(CtrTrainJobTest, RefusesACheckpointIdInTheFuture) {
  // The newest checkpoint is the one restarts load: an id from the future
  // would pin them all (2^64-1: forever). Past ids stay labels.
  JobSpec spec;
  spec.mutable_ctr_train()->set_checkpoint_id(7);
  EXPECT_TRUE(Prepare(spec).ok());
  spec.mutable_ctr_train()->set_checkpoint_id(~uint64_t{0});
  const absl::Status s = Prepare(spec);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("ctr_train.checkpoint_id 18446744073709551615 "
                             "lies in the future"),
            std::string::npos)
      << s.message();
}

TEST(CtrTrainJobTest, RejectsOutOfRangeFieldsWithPreciseMessages) {
  struct Case {
    void (*mutate)(CtrTrainSpec*);
    const char* message;
  };
  const Case cases[] = {
      {[](CtrTrainSpec* t) { t->mutable_model()->set_embedding_dim(5000); },
       "ctr_train.model.embedding_dim 5000 is out of range [1, 4096]"},
      {[](CtrTrainSpec* t) {
         t->set_data_path("/d.tsv");
         t->set_eval_fraction(1);
       },
       "ctr_train.eval_fraction 1 is out of range (0, 1)"},
      {[](CtrTrainSpec* t) { t->mutable_model()->add_hidden(0); },
       "ctr_train.model.hidden 0 is out of range [1, 4096]"},
      {[](CtrTrainSpec* t) {
         for (int i = 0; i < 17; ++i) t->mutable_model()->add_hidden(8);
       },
       "ctr_train.model.hidden has 17 layers; the limit is 16"},
      {[](CtrTrainSpec* t) { t->mutable_generator()->set_zipf(5); },
       "ctr_train.generator.zipf 5 is out of range (0, 4]"},
      {[](CtrTrainSpec* t) { t->mutable_generator()->set_zipf(-1); },
       "ctr_train.generator.zipf -1 is out of range (0, 4]"},
      {[](CtrTrainSpec* t) {
         t->mutable_generator()->set_max_vocab(uint64_t{1} << 33);
       },
       "ctr_train.generator.max_vocab 8589934592 is out of range [1, "
       "4294967296]"},
      {[](CtrTrainSpec* t) { t->set_learning_rate(-0.1f); },
       "ctr_train.learning_rate -0.1 is out of range (0, 1000]"},
      {[](CtrTrainSpec* t) { t->set_epochs(1001); },
       "ctr_train.epochs 1001 is out of range [1, 1000]"},
      {[](CtrTrainSpec* t) { t->mutable_model()->set_table("c t r"); },
       "ctr_train.model.table 'c t r' may hold only letters, digits and _ . "
       ": / -"},
      {[](CtrTrainSpec* t) { t->set_data_path("/data/\n.tsv"); },
       "ctr_train.data_path holds a control character"},
  };
  for (const Case& c : cases) {
    JobSpec spec;
    c.mutate(spec.mutable_ctr_train());
    absl::Status s = Prepare(spec);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.message;
    EXPECT_EQ(s.message(), c.message);
  }
}

TEST(CtrEvalJobTest, AppliesDefaultsAndRunsOnOneWorker) {
  JobSpec spec;
  spec.mutable_ctr_eval()->set_data_path("/data/test.tsv");
  ASSERT_TRUE(PrepareJobSpec({}, &spec).ok());
  EXPECT_DOUBLE_EQ(spec.ctr_eval().eval_fraction(), 1.0);
  EXPECT_EQ(spec.ctr_eval().batch_size(), 4096u);
  EXPECT_EQ(spec.num_workers(), 1u);
  spec = JobSpec();
  spec.set_num_workers(2);
  spec.mutable_ctr_eval();
  EXPECT_EQ(Prepare(spec).message(),
            "ctr_eval runs on one worker (AUC needs every score), got "
            "num_workers 2");
  spec = JobSpec();
  spec.mutable_ctr_eval()->set_data_path("/d.tsv");
  spec.mutable_ctr_eval()->set_eval_fraction(1.5);
  EXPECT_EQ(Prepare(spec).message(),
            "ctr_eval.eval_fraction 1.5 is out of range (0, 1]");
}

}  // namespace
}  // namespace jobs
}  // namespace strata
