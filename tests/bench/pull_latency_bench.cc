// Latency of a small pull from the parameter server, the serving side of a
// model: p50/p99 of a 1,000-key pull from an uncompressed and from a
// Saec-compressed table, with the shards idle and under a concurrent push
// load (another client pushing 64k-key batches to the same table without
// pause). 2 shard processes forked from this binary, this process as the
// two clients, all on loopback. Prints; asserts nothing on time.
//
//   bazel run -c opt //tests/bench:pull_latency_bench -- --pulls=2000

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <random>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/time/clock.h"
#include "glog/logging.h"
#include "server/client/per_shard.h"
#include "server/client/ps_client.h"
#include "tests/bench/forked_shards.h"

ABSL_FLAG(int32_t, rows, 1 << 20, "Keys in each table, created up front.");
ABSL_FLAG(int32_t, dim, 16, "Embedding dimension.");
ABSL_FLAG(int32_t, pull_keys, 1000, "Keys per measured pull.");
ABSL_FLAG(int32_t, pulls, 2000, "Measured pulls per (table, load).");
ABSL_FLAG(int32_t, push_batch, 65536, "Keys per push of the load.");
ABSL_FLAG(int32_t, clusters, 4096, "Saec clusters of the compressed table.");

namespace {

#define CHECK_OK(expr)                     \
  do {                                     \
    const absl::Status _s = (expr);        \
    CHECK(_s.ok()) << #expr << ": " << _s; \
  } while (0)

using Client = std::unique_ptr<strata::PsClient>;

struct Latency {
  double p50_ms, p99_ms, max_ms;
};

// `pulls` pulls of `n` random keys below `rows`, one at a time.
Latency MeasurePulls(strata::PsClient& c, const std::string& table, int rows,
                     int dim, int n, int pulls) {
  std::mt19937_64 rng(11);
  std::vector<uint64_t> keys(n);
  std::vector<float> out(size_t(n) * dim);
  std::vector<double> ms;
  for (int p = -pulls / 10; p < pulls; ++p) {  // the first 10% warm up
    for (uint64_t& k : keys) k = rng() % rows;
    const absl::Time t0 = absl::Now();
    CHECK_OK(c.Pull(table, keys, dim, out.data()));
    if (p >= 0) ms.push_back(absl::ToDoubleMilliseconds(absl::Now() - t0));
  }
  std::sort(ms.begin(), ms.end());
  return {ms[ms.size() / 2], ms[ms.size() * 99 / 100], ms.back()};
}

// Pushes batches of random keys to `table` until `stop`; counts keys.
void PushLoad(strata::PsClient& c, const std::string& table, int rows,
              int dim, int batch, const std::atomic<bool>& stop,
              std::atomic<int64_t>* pushed) {
  std::mt19937_64 rng(5);
  std::vector<uint64_t> keys(batch);
  const std::vector<float> grads(size_t(batch) * dim, 1e-4f);
  while (!stop.load()) {
    for (uint64_t& k : keys) k = rng() % rows;
    CHECK_OK(c.Push(table, keys, grads, dim));
    *pushed += batch;
  }
}

void CreateAndFill(strata::PsClient& c, const std::string& table, int rows,
                   int dim) {
  strata::TableConfig t;
  t.set_name(table);
  t.set_dim(dim);
  t.mutable_initializer()->set_type(strata::InitializerConfig::UNIFORM);
  t.mutable_initializer()->set_low(-0.1f);
  t.mutable_initializer()->set_high(0.1f);
  t.mutable_optimizer()->set_type(strata::OptimizerConfig::SGD);
  t.mutable_optimizer()->set_learning_rate(0.01f);
  CHECK_OK(strata::AllOk(c.admin().CreateTable(t, true)));
  std::vector<uint64_t> keys(65536);
  std::vector<float> out(keys.size() * dim);
  for (int base = 0; base < rows; base += keys.size()) {
    const int n = std::min<int>(keys.size(), rows - base);
    for (int i = 0; i < n; ++i) keys[i] = base + i;
    CHECK_OK(c.Pull(table, absl::MakeConstSpan(keys).first(n), dim,
                    out.data()));
  }
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  FLAGS_logtostderr = true;
  google::InitGoogleLogging(argv[0]);  // before the fork: the shards log too
  strata::bench::ForkedShards shards(2);
  const std::vector<std::string> addresses = shards.WaitForAddresses();
  auto puller = strata::PsClient::Connect(addresses);
  auto pusher = strata::PsClient::Connect(addresses);
  CHECK(puller.ok() && pusher.ok());
  const int rows = absl::GetFlag(FLAGS_rows);
  const int dim = absl::GetFlag(FLAGS_dim);
  const int n = absl::GetFlag(FLAGS_pull_keys);
  const int pulls = absl::GetFlag(FLAGS_pulls);
  CreateAndFill(**puller, "plain", rows, dim);
  CreateAndFill(**puller, "saec", rows, dim);
  strata::SaecConfig saec;
  saec.set_clusters(absl::GetFlag(FLAGS_clusters));
  CHECK_OK(strata::AllOk((*puller)->admin().Compress("saec", saec)));

  printf("pull_latency_bench: 2 shard processes + 2 clients on loopback, "
         "%d rows of dim %d per table, %d-key pulls, %d per figure, push "
         "load of %d-key batches\n",
         rows, dim, n, pulls, absl::GetFlag(FLAGS_push_batch));
  printf("%-6s %-10s %9s %9s %9s %14s\n", "table", "load", "p50 ms", "p99 ms",
         "max ms", "pushed keys/s");
  for (const std::string table : {"plain", "saec"}) {
    for (const bool load : {false, true}) {
      std::atomic<bool> stop{false};
      std::atomic<int64_t> pushed{0};
      std::thread pushing;
      if (load) {
        pushing = std::thread(PushLoad, std::ref(**pusher), table, rows, dim,
                              absl::GetFlag(FLAGS_push_batch), std::cref(stop),
                              &pushed);
      }
      const absl::Time t0 = absl::Now();
      const Latency l = MeasurePulls(**puller, table, rows, dim, n, pulls);
      const double secs = absl::ToDoubleSeconds(absl::Now() - t0);
      stop = true;
      if (pushing.joinable()) pushing.join();
      printf("%-6s %-10s %9.3f %9.3f %9.3f %14.0f\n", table.c_str(),
             load ? "push load" : "idle", l.p50_ms, l.p99_ms, l.max_ms,
             pushed.load() / secs);
      fflush(stdout);
    }
  }
  puller->reset();
  pusher->reset();
  return 0;
}
