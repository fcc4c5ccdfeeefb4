#include "server/jobs/job_types.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "server/jobs/cnn_models.h"

namespace strata {
namespace jobs {
namespace {

JobSpec LoadTest(uint32_t workers = 1) {
  JobSpec spec;
  spec.set_num_workers(workers);
  spec.mutable_ps_load_test();
  return spec;
}

absl::Status Prepare(JobSpec spec) { return PrepareJobSpec({}, &spec); }

TEST(JobTypesTest, EveryOneofCaseHasExactlyOneJobType) {
  const google::protobuf::OneofDescriptor* oneof =
      JobSpec::descriptor()->FindOneofByName("job");
  ASSERT_NE(oneof, nullptr);
  ASSERT_EQ(AllJobTypes().size(), static_cast<size_t>(oneof->field_count()));
  for (int i = 0; i < oneof->field_count(); ++i) {
    const JobType* type = AllJobTypes()[i];
    EXPECT_EQ(type->name(), oneof->field(i)->name());
    EXPECT_EQ(static_cast<int>(type->job_case()), oneof->field(i)->number());
  }
}

TEST(JobTypesTest, EveryJobTypesDefaultSpecIsValid) {
  // Also applies every rule table (a rule naming a missing field dies).
  for (const JobType* type : AllJobTypes()) {
    JobSpec spec;
    const google::protobuf::FieldDescriptor* field =
        JobSpec::descriptor()->FindFieldByNumber(type->job_case());
    spec.GetReflection()->MutableMessage(&spec, field);
    absl::Status s = PrepareJobSpec({}, &spec);
    EXPECT_TRUE(s.ok()) << type->name() << ": " << s;
    EXPECT_TRUE(ValidateJobSpec({}, spec).ok()) << type->name();
    EXPECT_TRUE(UsesParameterServer(spec)) << type->name();
    EXPECT_FALSE(RoleNeeds(spec).empty()) << type->name();
  }
}

TEST(JobTypesTest, SpecWithoutJobNamesTheChoices) {
  absl::Status s = Prepare(JobSpec());
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(),
            "job spec sets no job type; set one of: ps_load_test, ctr_train, "
            "ctr_eval, cnn_train");
  EXPECT_FALSE(UsesParameterServer(JobSpec()));
  EXPECT_TRUE(RoleNeeds(JobSpec()).empty());
}

TEST(JobTypesTest, GenericDefaults) {
  JobSpec spec = LoadTest(0);
  ASSERT_TRUE(PrepareJobSpec({}, &spec).ok());
  EXPECT_EQ(spec.num_workers(), 1u);
  EXPECT_EQ(spec.worker_role(), "general");
  EXPECT_EQ(spec.schedule_timeout_s(), 0u) << "0 = the scheduler's default";
  const std::vector<RoleNeed> needs = RoleNeeds(spec);
  ASSERT_EQ(needs.size(), 1u);
  EXPECT_EQ(needs[0].role, "general");
  EXPECT_EQ(needs[0].count, 1u);
  EXPECT_FALSE(needs[0].needs_address);
}

TEST(JobTypesTest, GenericFieldsAreBounded) {
  JobLimits limits;
  limits.max_workers = 8;
  JobSpec spec = LoadTest(9);
  EXPECT_EQ(PrepareJobSpec(limits, &spec).message(),
            "num_workers 9 is out of range [1, 8]");
  spec = LoadTest();
  spec.set_worker_role("ps");
  EXPECT_EQ(Prepare(spec).message(),
            "worker_role 'ps' is reserved for parameter-server shards");
  spec.set_worker_role("gpu workers");
  EXPECT_EQ(Prepare(spec).message(),
            "worker_role 'gpu workers' may hold only letters, digits and _ . "
            ": / -");
  spec = LoadTest();
  spec.set_name(std::string(300, 'x'));
  EXPECT_EQ(Prepare(spec).message(), "name is 300 bytes; the limit is 256");
  spec = LoadTest();
  spec.set_gpus_per_worker(5000);
  EXPECT_EQ(Prepare(spec).message(),
            "gpus_per_worker 5000 is out of range [0, 1024]");
  spec = LoadTest();
  spec.set_schedule_timeout_s(700000);
  EXPECT_EQ(Prepare(spec).message(),
            "schedule_timeout_s 700000 is out of range [0, 604800]");
}

TEST(JobTypesTest, RestartFieldsHaveDefaultsAndBounds) {
  JobSpec spec = LoadTest();
  ASSERT_TRUE(PrepareJobSpec({}, &spec).ok());
  EXPECT_EQ(spec.max_task_retries(), 3);
  EXPECT_EQ(spec.spare_wait_s(), 120u);
  spec = LoadTest();
  spec.set_max_task_retries(-1);  // no restarts: kept
  ASSERT_TRUE(PrepareJobSpec({}, &spec).ok());
  EXPECT_EQ(spec.max_task_retries(), -1);
  spec = LoadTest();
  spec.set_max_task_retries(101);
  absl::Status s = Prepare(spec);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "max_task_retries 101 is out of range (-inf, 100]");
  spec = LoadTest();
  spec.set_spare_wait_s(86401);
  EXPECT_EQ(Prepare(spec).message(),
            "spare_wait_s 86401 is out of range [0, 86400]");
}

TEST(JobTypesTest, OnlyTrainingJobsAreRestartable) {
  JobSpec ctr;
  ctr.mutable_ctr_train()->mutable_model()->set_table("clicks");
  ASSERT_TRUE(PrepareJobSpec({}, &ctr).ok());
  EXPECT_TRUE(IsRestartable(ctr));
  EXPECT_EQ(BspTensorPrefixes(ctr, "job-3"),
            std::vector<std::string>{"clicks/"});
  ctr.set_max_task_retries(-1);
  EXPECT_FALSE(IsRestartable(ctr)) << "negative: no restarts";
  JobSpec cnn;
  cnn.mutable_cnn_train();
  ASSERT_TRUE(PrepareJobSpec({}, &cnn).ok());
  EXPECT_TRUE(IsRestartable(cnn));
  EXPECT_EQ(BspTensorPrefixes(cnn, "job-3"),
            std::vector<std::string>{"job-3/"});
  JobSpec load = LoadTest();
  ASSERT_TRUE(PrepareJobSpec({}, &load).ok());
  EXPECT_FALSE(IsRestartable(load));
  EXPECT_TRUE(BspTensorPrefixes(load, "job-3").empty());
  JobSpec eval;
  eval.mutable_ctr_eval();
  ASSERT_TRUE(PrepareJobSpec({}, &eval).ok());
  EXPECT_FALSE(IsRestartable(eval));
}

TEST(JobTypesTest, TransientTaskFailureCodes) {
  for (absl::StatusCode code :
       {absl::StatusCode::kUnavailable, absl::StatusCode::kDeadlineExceeded,
        absl::StatusCode::kAborted, absl::StatusCode::kInternal,
        absl::StatusCode::kUnknown, absl::StatusCode::kCancelled}) {
    EXPECT_TRUE(IsTransientTaskFailure(code)) << code;
  }
  for (absl::StatusCode code :
       {absl::StatusCode::kOk, absl::StatusCode::kInvalidArgument,
        absl::StatusCode::kNotFound, absl::StatusCode::kFailedPrecondition,
        absl::StatusCode::kResourceExhausted,
        absl::StatusCode::kUnimplemented}) {
    EXPECT_FALSE(IsTransientTaskFailure(code)) << code;
  }
}

TEST(JobTypesTest, UnknownEnumValuesAreRejectedBeforeDefaults) {
  // One case per enum field of JobSpec (CnnTrainSpec.mode and .sync): an
  // unknown mode used to kill the conv worker with SIGFPE.
  JobSpec spec;
  spec.mutable_cnn_train()->set_mode(static_cast<CnnTrainSpec::Mode>(5));
  absl::Status s = Prepare(spec);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "cnn_train.mode 5 is not a value of Mode");
  spec = JobSpec();
  spec.mutable_cnn_train()->set_sync(static_cast<CnnTrainSpec::Sync>(2));
  EXPECT_EQ(Prepare(spec).message(), "cnn_train.sync 2 is not a value of Sync");
}

TEST(JobTypesTest, ValidateRefusesASpecWhoseDefaultsWereNotApplied) {
  JobSpec spec = LoadTest();
  absl::Status s = ValidateJobSpec({}, spec);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(),
            "worker_role is 0 bytes; it must be 1 to 64");
}

TEST(JobTypesTest, ReferenceListsEveryJobTypeAndModel) {
  const std::string ref = JobReferenceMarkdown();
  for (const JobType* type : AllJobTypes()) {
    EXPECT_NE(ref.find(absl::StrCat("## ", type->name())), std::string::npos);
  }
  for (const CnnModelDef& m : CnnModels()) {
    EXPECT_NE(ref.find(std::string(m.name)), std::string::npos);
  }
  EXPECT_NE(ref.find("| `ps_load_test.dim` | 16 | [1, 4096] |"),
            std::string::npos);
}

}  // namespace
}  // namespace jobs
}  // namespace strata
