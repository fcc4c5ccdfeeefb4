#include "server/jobs/ps_load_test_job.h"

#include <cstdint>
#include <string>

#include "gtest/gtest.h"
#include "server/jobs/job_types.h"

namespace strata {
namespace jobs {
namespace {

JobSpec LoadTest() {
  JobSpec spec;
  spec.mutable_ps_load_test();
  return spec;
}

absl::Status Prepare(JobSpec spec) { return PrepareJobSpec({}, &spec); }

TEST(PsLoadTestJobTest, AppliesDocumentedDefaults) {
  JobSpec spec = LoadTest();
  ASSERT_TRUE(PrepareJobSpec({}, &spec).ok());
  const PsLoadTestSpec& t = spec.ps_load_test();
  EXPECT_EQ(t.table(), "loadtest");
  EXPECT_EQ(t.dim(), 16u);
  EXPECT_EQ(t.keys_per_worker(), 100000u);
  EXPECT_EQ(t.batch_size(), 8192u);
  EXPECT_EQ(t.rounds(), 3u);
  EXPECT_EQ(t.seed(), 1u);
  EXPECT_FALSE(t.verify_existing());
}

TEST(PsLoadTestJobTest, EveryNumericFieldIsBounded) {
  struct Case {
    void (*mutate)(PsLoadTestSpec*);
    const char* message;
  };
  const Case cases[] = {
      {[](PsLoadTestSpec* t) { t->set_dim(4097); },
       "ps_load_test.dim 4097 is out of range [1, 4096]"},
      {[](PsLoadTestSpec* t) { t->set_batch_size((1u << 20) + 1); },
       "ps_load_test.batch_size 1048577 is out of range [1, 1048576]"},
      {[](PsLoadTestSpec* t) { t->set_rounds(1001); },
       "ps_load_test.rounds 1001 is out of range [1, 1000]"},
      {[](PsLoadTestSpec* t) {
         t->set_keys_per_worker((uint64_t{1} << 30) + 1);
       },
       "ps_load_test.keys_per_worker 1073741825 is out of range [1, "
       "1073741824]"},
      {[](PsLoadTestSpec* t) { t->set_table("a table"); },
       "ps_load_test.table 'a table' may hold only letters, digits and _ . : "
       "/ -"},
      {[](PsLoadTestSpec* t) { t->set_table(std::string(200, 't')); },
       "ps_load_test.table is 200 bytes; it must be 1 to 128"},
  };
  for (const Case& c : cases) {
    JobSpec spec = LoadTest();
    c.mutate(spec.mutable_ps_load_test());
    absl::Status s = Prepare(spec);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.message;
    EXPECT_EQ(s.message(), c.message);
  }
}

TEST(PsLoadTestJobTest, RequestBytesOfOneBatchAreBounded) {
  JobSpec spec = LoadTest();
  spec.mutable_ps_load_test()->set_dim(4096);
  spec.mutable_ps_load_test()->set_batch_size(4096);  // 64 MiB: at the limit
  EXPECT_TRUE(Prepare(spec).ok());
  spec.mutable_ps_load_test()->set_batch_size(4097);
  EXPECT_EQ(Prepare(spec).message(),
            "ps_load_test.batch_size x dim x 4 bytes = 67125248 exceeds the "
            "67108864-byte request limit");
}

}  // namespace
}  // namespace jobs
}  // namespace strata
