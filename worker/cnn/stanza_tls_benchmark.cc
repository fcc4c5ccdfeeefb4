// The cost of mutual TLS on a Stanza step (docs/benchmarks.md, "Cost of
// mutual TLS"): one STANZA CNN_TRAIN job (AlexNet-style by default: 2 conv
// workers, 1 FC node, batch 64 per worker, synthetic 32x32 images) run in
// this process as worker daemons run it (CnnTrainTask on threads, with
// --task_isolation=thread's StanzaFc server), against 2 in-process shards,
// in plaintext and with mutual TLS, alternated round after round. With TLS
// every server (shards, FC node) and every task channel (to the shards, to
// the FC node) uses the certificates of a throwaway CA (tools/certs.sh):
// shards "ps-0", the rest "worker". Prints each run's step time (a conv
// worker's training wall time per step, averaged over the conv workers),
// the communication part of it, the CPU time of the whole job (user +
// system of this process: the same work in both modes, so the difference is
// what TLS costs, and less sensitive to other load than the step time), and
// the medians with their ratios.
//
//   bazel run -c opt //worker/cnn:stanza_tls_benchmark -- --rounds=3
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "proto/base/status_macros.h"
#include "server/jobs/job_types.h"
#include "server/ps/testing/local_shards.h"
#include "tests/bench/throwaway_ca.h"
#include "worker/cnn/cnn_task.h"
#include "worker/cnn/fc_service.h"
#include "worker/task.h"

ABSL_FLAG(std::string, model, "alexnet", "lenet5 | alexnet | vgg.");
ABSL_FLAG(int32_t, rounds, 3, "Rounds; each runs plaintext, then TLS.");
ABSL_FLAG(int32_t, steps, 10, "Training steps per run.");
ABSL_FLAG(int32_t, batch, 64, "Images per conv worker per step.");
ABSL_FLAG(int32_t, conv_workers, 2, "Conv workers (one FC node).");
ABSL_FLAG(std::string, certs_sh, "",
          "Path of tools/certs.sh (default: from the runfiles).");

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

// The job as the coordinator prepares it (the spec of fc_relay_bench.sh).
absl::StatusOr<JobSpec> BenchSpec() {
  JobSpec spec;
  spec.set_name("stanza-tls-bench");
  CnnTrainSpec* c = spec.mutable_cnn_train();
  c->set_model(absl::GetFlag(FLAGS_model));
  c->mutable_data()->set_synthetic_train(2048);
  c->mutable_data()->set_synthetic_test(64);
  c->set_mode(CnnTrainSpec::STANZA);
  c->set_num_conv_workers(absl::GetFlag(FLAGS_conv_workers));
  c->set_num_fc_nodes(1);
  c->set_batch_size(absl::GetFlag(FLAGS_batch));
  c->set_learning_rate(0.01f);
  c->set_steps(absl::GetFlag(FLAGS_steps));
  STRATA_RETURN_IF_ERROR(jobs::PrepareJobSpec({}, &spec));
  return spec;
}

struct RunResult {
  double step_ms = 0;  // training wall time per step
  double comm_ms = 0;  // of which waiting on the shards and FC node
  double wall_s = 0;   // the whole job, evaluation included
  double cpu_s = 0;    // of this process over the whole job
};

// User + system CPU seconds of this process so far.
double ProcessCpuSeconds() {
  rusage u;
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_stime.tv_sec +
         1e-6 * (u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

// Credentials of one mode; both null: plaintext.
struct Mode {
  const char* name;
  std::shared_ptr<const security::Credentials> shard, worker;
};

// The conv workers' mean step time and communication time per step.
absl::StatusOr<RunResult> Summarize(
    const std::vector<absl::StatusOr<TaskMetrics>>& results, uint32_t conv,
    int64_t batch) {
  RunResult out;
  for (uint32_t r = 0; r < results.size(); ++r) {
    if (!results[r].ok()) return results[r].status();
    if (r >= conv) continue;
    const TaskMetrics& m = *results[r];
    out.step_ms += 1e3 * batch / m.at("images_per_s") / conv;
    out.comm_ms += 1e3 * m.at("worker_comm_s") / m.at("steps") / conv;
  }
  return out;
}

// One job: shards, the FC node's server and every task with `mode`'s
// credentials.
absl::StatusOr<RunResult> RunJob(const JobSpec& spec, const Mode& mode) {
  const double cpu_start = ProcessCpuSeconds();
  SetTaskCredentials(mode.worker);
  PsServerOptions server_options;
  server_options.credentials = mode.shard;
  PsClientOptions client_options;
  client_options.credentials = mode.worker;
  STRATA_ASSIGN_OR_RETURN(
      std::unique_ptr<testing::LocalShards> shards,
      testing::LocalShards::Start(kShards, server_options, client_options));
  FcServiceHost host;
  STRATA_ASSIGN_OR_RETURN(
      StanzaServer fc,
      ServeStanzaFc("127.0.0.1:0", 64 << 20, &host, mode.worker));
  const uint32_t conv = spec.cnn_train().num_conv_workers();
  std::vector<absl::StatusOr<TaskMetrics>> results(conv + 1);
  std::vector<std::thread> threads;
  const absl::Time start = absl::Now();
  for (uint32_t r = 0; r <= conv; ++r) {
    TaskAssignment a;
    a.set_job_id("stanza-tls-bench");
    a.set_job_secret("0123456789abcdef");
    a.set_rank(r);
    a.set_num_tasks(conv + 1);
    a.set_role(r < conv ? spec.worker_role() : spec.cnn_train().fc_role());
    *a.mutable_spec() = spec;
    for (const std::string& addr : shards->addresses()) {
      a.add_ps_addresses(addr);
    }
    a.add_fc_addresses(fc.address);
    threads.emplace_back([&results, &host, r, a] {
      QuietContext context;
      CnnTrainTask task(&host);
      results[r] = task.Run(a, &context);
    });
  }
  for (std::thread& t : threads) t.join();
  const double wall = absl::ToDoubleSeconds(absl::Now() - start);
  fc.server->Shutdown();
  STRATA_ASSIGN_OR_RETURN(
      RunResult out, Summarize(results, conv, spec.cnn_train().batch_size()));
  out.wall_s = wall;
  out.cpu_s = ProcessCpuSeconds() - cpu_start;
  return out;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[(v.size() - 1) / 2];
}

// `rounds` rounds, each running the job once per mode (in order): prints
// every run, then the medians of ms/step and CPU s, and their ratios to
// the first mode's.
void Alternate(const JobSpec& spec, const std::vector<Mode>& modes,
               int rounds) {
  printf("%-6s %-10s %10s %10s %8s %8s\n", "round", "mode", "ms/step",
         "comm ms", "wall s", "CPU s");
  std::vector<std::vector<double>> step_ms(modes.size()), cpu_s(modes.size());
  for (int r = 1; r <= rounds; ++r) {
    for (size_t m = 0; m < modes.size(); ++m) {
      absl::StatusOr<RunResult> run = RunJob(spec, modes[m]);
      CHECK(run.ok()) << modes[m].name << ": " << run.status();
      printf("%-6d %-10s %10.1f %10.1f %8.1f %8.1f\n", r, modes[m].name,
             run->step_ms, run->comm_ms, run->wall_s, run->cpu_s);
      fflush(stdout);
      step_ms[m].push_back(run->step_ms);
      cpu_s[m].push_back(run->cpu_s);
    }
  }
  SetTaskCredentials(nullptr);
  for (size_t m = 0; m < modes.size(); ++m) {
    printf("median %-10s %10.1f ms/step (x%.3f) %8.1f CPU s (x%.3f)\n",
           modes[m].name, Median(step_ms[m]),
           Median(step_ms[m]) / Median(step_ms[0]), Median(cpu_s[m]),
           Median(cpu_s[m]) / Median(cpu_s[0]));
  }
}

}  // namespace
}  // namespace cnn
}  // namespace strata

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  google::InitGoogleLogging(argv[0]);
  using strata::cnn::Mode;
  auto ca = strata::bench::ThrowawayCa::Create(argv[0], strata::cnn::kShards,
                                               absl::GetFlag(FLAGS_certs_sh));
  CHECK(ca.ok()) << ca.status();
  const std::vector<Mode> modes = {
      {"plaintext", nullptr, nullptr},
      {"mTLS", (*ca)->Credentials(strata::bench::ShardCert(0)),
       (*ca)->Credentials("worker")}};
  auto spec = strata::cnn::BenchSpec();
  CHECK(spec.ok()) << spec.status();
  const strata::CnnTrainSpec& c = spec->cnn_train();
  printf(
      "stanza_tls_benchmark: %s, %u conv workers + 1 FC node + %u shards "
      "in one process, batch %u per worker, %u steps, %ld cores\n",
      c.model().c_str(), c.num_conv_workers(), strata::cnn::kShards,
      c.batch_size(), c.steps(), sysconf(_SC_NPROCESSORS_ONLN));
  strata::cnn::Alternate(*spec, modes, absl::GetFlag(FLAGS_rounds));
  return 0;
}
