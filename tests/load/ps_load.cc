// Load test of the parameter server (issue 12): N concurrent clients, each
// with its own PsClient (its own connections), against forked shard
// processes for a fixed time, mixing sparse pulls and pushes over several
// tables of different widths and ASYNC dense pulls and pushes. Every key
// and tensor exists before timing starts, so the shards' memory must stay
// flat. Prints throughput, p50/p99/max latency per operation, errors, and
// the shards' resident memory over time; exits 1 on any error or when a
// shard's memory grew by more than --max_memory_growth in the second half.
//
//   bazel run -c opt //tests/load:ps_load -- --clients=64 --seconds=60
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <numeric>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "glog/logging.h"
#include "server/client/ps_client.h"
#include "tests/bench/forked_shards.h"

ABSL_FLAG(int32_t, shards, 2, "Shard processes to fork.");
ABSL_FLAG(int32_t, clients, 64, "Concurrent clients (threads, one PsClient each).");
ABSL_FLAG(double, seconds, 60, "How long the load runs.");
ABSL_FLAG(int32_t, keys_per_table, 200000, "Distinct keys per table.");
ABSL_FLAG(double, max_memory_growth, 0.10,
          "Largest growth of a shard's resident memory allowed between the "
          "middle and the end of the run (fraction).");

namespace {

using strata::PsClient;

constexpr uint32_t kDims[] = {8, 16, 32, 64};
constexpr int kDenseTensors = 2;
constexpr int kDenseSize = 1 << 18;  // 1 MiB of floats each

enum Op { kPull, kPush, kDensePull, kDensePush, kNumOps };
const char* const kOpNames[] = {"pull", "push", "dense_pull", "dense_push"};

std::string Table(uint32_t dim) { return absl::StrCat("load", dim); }
std::string Tensor(int i) { return absl::StrCat("load/dense", i); }

// Latencies (µs) and counts of one client; merged at the end.
struct Stats {
  std::vector<int64_t> micros[kNumOps];
  int64_t keys = 0;
  int64_t errors = 0;
  std::string first_error;
};

void CreateEverything(PsClient* client, int keys_per_table) {
  for (uint32_t dim : kDims) {
    strata::TableConfig t;
    t.set_name(Table(dim));
    t.set_dim(dim);
    t.mutable_optimizer()->set_type(strata::OptimizerConfig::ADAGRAD);
    t.mutable_optimizer()->set_learning_rate(0.01f);
    CHECK(strata::AllOk(client->admin().CreateTable(t, true)).ok());
    std::vector<uint64_t> keys(keys_per_table);
    std::iota(keys.begin(), keys.end(), 1);
    std::vector<float> out(size_t(keys.size()) * dim);
    CHECK(client->Pull(Table(dim), keys, dim, out.data()).ok());
  }
  for (int i = 0; i < kDenseTensors; ++i) {
    strata::DenseConfig d;
    d.set_name(Tensor(i));
    d.set_size(kDenseSize);
    d.mutable_optimizer()->set_type(strata::OptimizerConfig::SGD);
    d.mutable_optimizer()->set_learning_rate(0.001f);
    d.set_sync(strata::ASYNC);
    CHECK(client->admin().CreateDense(d, true).ok());
  }
}

// One client's loop: a random operation, batch and table each time.
void RunClient(const std::vector<std::string>& addresses, int id,
               int keys_per_table, absl::Time end, Stats* stats) {
  auto client = PsClient::Connect(addresses);
  CHECK(client.ok()) << client.status();
  std::mt19937_64 rng(1000 + id);
  std::vector<uint64_t> keys;
  std::vector<float> values, dense;
  const std::vector<float> dense_grad(kDenseSize, 1e-4f);
  while (absl::Now() < end) {
    const int r = rng() % 100;
    const Op op = r < 45 ? kPull : r < 90 ? kPush : r < 95 ? kDensePull
                                                           : kDensePush;
    const uint32_t dim = kDims[rng() % 4];
    keys.resize(256 << (rng() % 5));  // 256 .. 4096 keys
    for (uint64_t& k : keys) k = 1 + rng() % keys_per_table;
    values.assign(keys.size() * dim, 1e-3f);
    const absl::Time start = absl::Now();
    absl::Status s;
    switch (op) {
      case kPull:
        s = (*client)->Pull(Table(dim), keys, dim, values.data());
        break;
      case kPush:
        s = (*client)->Push(Table(dim), keys, values, dim);
        break;
      case kDensePull:
        s = (*client)->PullDense(Tensor(rng() % kDenseTensors), 0, &dense)
                .status();
        break;
      default:
        s = (*client)->PushDense(Tensor(rng() % kDenseTensors), dense_grad, 0,
                                 0)
                .status();
    }
    stats->micros[op].push_back(absl::ToInt64Microseconds(absl::Now() - start));
    if (op == kPull || op == kPush) stats->keys += keys.size();
    if (!s.ok() && stats->errors++ == 0) stats->first_error = s.ToString();
  }
}

double Percentile(std::vector<int64_t>* v, double p) {
  if (v->empty()) return 0;
  const size_t i = std::min(v->size() - 1, size_t(p * v->size()));
  std::nth_element(v->begin(), v->begin() + i, v->end());
  return (*v)[i] / 1000.0;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  FLAGS_logtostderr = true;
  google::InitGoogleLogging(argv[0]);  // before the fork: the shards log too
  strata::bench::ForkedShards shards(absl::GetFlag(FLAGS_shards));
  const std::vector<std::string> addresses = shards.WaitForAddresses();
  const int clients = absl::GetFlag(FLAGS_clients);
  const double seconds = absl::GetFlag(FLAGS_seconds);
  const int keys_per_table = absl::GetFlag(FLAGS_keys_per_table);
  {
    auto setup = PsClient::Connect(addresses);
    CHECK(setup.ok()) << setup.status();
    CreateEverything(setup->get(), keys_per_table);
  }
  printf("ps_load: %d shard processes, %d clients, %.0f s, 4 tables "
         "(dim 8-64, %d keys each), %d dense tensors of %d floats\n",
         int(addresses.size()), clients, seconds, keys_per_table,
         kDenseTensors, kDenseSize);
  std::vector<Stats> stats(clients);
  const absl::Time start = absl::Now();
  const absl::Time end = start + absl::Seconds(seconds);
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back(RunClient, addresses, c, keys_per_table, end,
                         &stats[c]);
  }
  // Resident memory of each shard, sampled ~10 times over the run.
  std::vector<std::vector<int64_t>> rss(addresses.size());
  const absl::Duration sample = absl::Seconds(seconds / 10);
  for (absl::Time t = start; t <= end; t += sample) {
    absl::SleepFor(std::max(absl::ZeroDuration(), t - absl::Now()));
    for (size_t i = 0; i < rss.size(); ++i) {
      rss[i].push_back(strata::bench::ResidentBytes(shards.pids()[i]));
    }
  }
  for (auto& t : threads) t.join();
  const double secs = absl::ToDoubleSeconds(absl::Now() - start);

  Stats all;
  for (Stats& s : stats) {
    for (int op = 0; op < kNumOps; ++op) {
      all.micros[op].insert(all.micros[op].end(), s.micros[op].begin(),
                            s.micros[op].end());
    }
    all.keys += s.keys;
    all.errors += s.errors;
    if (all.first_error.empty()) all.first_error = s.first_error;
  }
  printf("%-11s %10s %10s %10s %10s %10s\n", "op", "calls", "calls/s",
         "p50 ms", "p99 ms", "max ms");
  int64_t calls = 0;
  for (int op = 0; op < kNumOps; ++op) {
    std::vector<int64_t>& v = all.micros[op];
    calls += v.size();
    const double n = v.size();
    printf("%-11s %10.0f %10.0f %10.2f %10.2f %10.2f\n", kOpNames[op], n,
           n / secs, Percentile(&v, 0.5), Percentile(&v, 0.99),
           Percentile(&v, 1.0));
  }
  printf("total: %lld calls (%.0f/s), %.2f M sparse keys/s, %lld errors%s\n",
         static_cast<long long>(calls), calls / secs, all.keys / secs / 1e6,
         static_cast<long long>(all.errors),
         all.errors ? absl::StrCat(" (first: ", all.first_error, ")").c_str()
                    : "");
  bool flat = true;
  const double max_growth = absl::GetFlag(FLAGS_max_memory_growth);
  for (size_t i = 0; i < rss.size(); ++i) {
    std::string series;
    for (int64_t b : rss[i]) absl::StrAppend(&series, " ", b >> 20);
    const int64_t mid = rss[i][rss[i].size() / 2], last = rss[i].back();
    const double growth = mid > 0 ? double(last - mid) / mid : 0;
    flat = flat && growth <= max_growth;
    printf("shard %zu resident MiB over the run:%s (second half %+.1f%%)\n", i,
           series.c_str(), 100 * growth);
  }
  const bool ok = all.errors == 0 && flat;
  printf("%s\n", ok ? "PASS" : "FAIL");
  return ok ? 0 : 1;
}
