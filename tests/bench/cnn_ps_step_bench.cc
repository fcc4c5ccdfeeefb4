// Step time of a PS-mode CNN_TRAIN job (docs/benchmarks.md, "PS-mode
// AlexNet step time before and after"): AlexNet-style by default, 2
// workers that each pull every parameter from the shards and push every
// gradient to them per step (dense tensors, BSP), batch 64 per worker,
// synthetic 32x32 images, against 2 in-process shards on loopback
// (plaintext), run in this process as worker daemons run it (CnnTrainTask
// on threads). Prints one line per run: the workers' mean step time, the
// communication part of it, the job's wall time and this process's CPU
// time. tests/bench/cnn_ps_before_after.sh builds this file in two trees
// and alternates the binaries. Asserts nothing on time.
//
//   bazel run -c opt //tests/bench:cnn_ps_step_bench -- --runs=3
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "glog/logging.h"
#include "proto/base/status_macros.h"
#include "server/jobs/job_types.h"
#include "server/ps/testing/local_shards.h"
#include "worker/cnn/cnn_task.h"
#include "worker/task.h"

ABSL_FLAG(std::string, model, "alexnet", "lenet5 | alexnet | vgg.");
ABSL_FLAG(int32_t, runs, 1, "Jobs run one after the other.");
ABSL_FLAG(int32_t, steps, 5, "Training steps per job.");
ABSL_FLAG(int32_t, batch, 64, "Images per worker per step.");
ABSL_FLAG(int32_t, workers, 2, "PS-mode workers.");
ABSL_FLAG(std::string, label, "strata", "First column of every line.");

namespace strata {
namespace cnn {
namespace {

constexpr uint32_t kShards = 2;

// Never cancelled; progress is not recorded.
class QuietContext final : public TaskContext {
 public:
  bool cancelled() const override { return false; }
  void ReportProgress(int64_t, int64_t, const TaskMetrics&) override {}
};

absl::StatusOr<JobSpec> BenchSpec() {
  JobSpec spec;
  spec.set_name("cnn-ps-step-bench");
  CnnTrainSpec* c = spec.mutable_cnn_train();
  c->set_model(absl::GetFlag(FLAGS_model));
  c->mutable_data()->set_synthetic_train(2048);
  c->mutable_data()->set_synthetic_test(64);
  c->set_mode(CnnTrainSpec::PS);
  c->set_num_conv_workers(absl::GetFlag(FLAGS_workers));
  c->set_num_fc_nodes(0);
  c->set_batch_size(absl::GetFlag(FLAGS_batch));
  c->set_learning_rate(0.01f);
  c->set_steps(absl::GetFlag(FLAGS_steps));
  STRATA_RETURN_IF_ERROR(jobs::PrepareJobSpec({}, &spec));
  return spec;
}

double ProcessCpuSeconds() {
  rusage u;
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_stime.tv_sec +
         1e-6 * (u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

struct RunResult {
  double step_ms = 0;  // training wall time per step, mean of the workers
  double comm_ms = 0;  // of which waiting on the shards
  double wall_s = 0;   // the whole job, evaluation included
  double cpu_s = 0;    // of this process over the whole job
};

// One job on fresh shards.
absl::StatusOr<RunResult> RunJob(const JobSpec& spec) {
  const double cpu_start = ProcessCpuSeconds();
  STRATA_ASSIGN_OR_RETURN(std::unique_ptr<testing::LocalShards> shards,
                          testing::LocalShards::Start(kShards, {}, {}));
  const uint32_t workers = spec.cnn_train().num_conv_workers();
  std::vector<absl::StatusOr<TaskMetrics>> results(workers);
  std::vector<std::thread> threads;
  const absl::Time start = absl::Now();
  for (uint32_t r = 0; r < workers; ++r) {
    TaskAssignment a;
    a.set_job_id("cnn-ps-step-bench");
    a.set_job_secret("0123456789abcdef");
    a.set_rank(r);
    a.set_num_tasks(workers);
    a.set_role(spec.worker_role());
    *a.mutable_spec() = spec;
    for (const std::string& addr : shards->addresses()) {
      a.add_ps_addresses(addr);
    }
    threads.emplace_back([&results, r, a] {
      QuietContext context;
      CnnTrainTask task(/*host=*/nullptr);  // PS mode: no FC role
      results[r] = task.Run(a, &context);
    });
  }
  for (std::thread& t : threads) t.join();
  RunResult out;
  out.wall_s = absl::ToDoubleSeconds(absl::Now() - start);
  const double batch = spec.cnn_train().batch_size();
  for (const absl::StatusOr<TaskMetrics>& m : results) {
    if (!m.ok()) return m.status();
    out.step_ms += 1e3 * batch / m->at("images_per_s") / workers;
    out.comm_ms += 1e3 * m->at("worker_comm_s") / m->at("steps") / workers;
  }
  out.cpu_s = ProcessCpuSeconds() - cpu_start;
  return out;
}

}  // namespace
}  // namespace cnn
}  // namespace strata

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  google::InitGoogleLogging(argv[0]);
  auto spec = strata::cnn::BenchSpec();
  CHECK(spec.ok()) << spec.status();
  const strata::CnnTrainSpec& c = spec->cnn_train();
  printf(
      "cnn_ps_step_bench: %s, PS mode, %u workers + %u in-process shards, "
      "batch %u per worker, %u steps, %ld cores\n",
      c.model().c_str(), c.num_conv_workers(), strata::cnn::kShards,
      c.batch_size(), c.steps(), sysconf(_SC_NPROCESSORS_ONLN));
  printf("%-8s %10s %10s %8s %8s\n", "build", "ms/step", "comm ms", "wall s",
         "CPU s");
  for (int r = 0; r < absl::GetFlag(FLAGS_runs); ++r) {
    absl::StatusOr<strata::cnn::RunResult> run = strata::cnn::RunJob(*spec);
    if (!run.ok()) {
      fprintf(stderr, "cnn_ps_step_bench: %s\n",
              run.status().ToString().c_str());
      return 1;
    }
    printf("%-8s %10.1f %10.1f %8.1f %8.1f\n",
           absl::GetFlag(FLAGS_label).c_str(), run->step_ms, run->comm_ms,
           run->wall_s, run->cpu_s);
    fflush(stdout);
  }
  return 0;
}
