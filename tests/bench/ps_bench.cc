// Pull/push throughput of the parameter server on loopback: N shard
// processes (forked from this binary before any gRPC state exists, so they
// are real separate processes) and this process as the one worker, batches
// of 64k keys, dim 16 and 64. The same set-up as the ps-lite reference
// figures in docs/benchmarks.md. Prints keys/s and MB/s (payload floats).
// --tls: the same over mutual TLS, with a throwaway CA (tools/certs.sh);
// tests/bench/tls_cost.sh alternates the two.
//
//   bazel run -c opt //tests/bench:ps_bench -- --dims=16,64 --seconds=3

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <numeric>
#include <random>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "glog/logging.h"
#include "server/client/ps_client.h"
#include "tests/bench/forked_shards.h"
#include "tests/bench/throwaway_ca.h"

ABSL_FLAG(int32_t, shards, 2, "Shard processes to fork.");
ABSL_FLAG(std::string, dims, "16,64", "Embedding dimensions to measure.");
ABSL_FLAG(int32_t, batch, 65536, "Keys per batch.");
ABSL_FLAG(int32_t, keyspace_batches, 16,
          "Distinct keys = batch * this; all created before timing.");
ABSL_FLAG(double, seconds, 3.0, "Measurement time per (dim, op).");
ABSL_FLAG(int32_t, inflight, 1,
          "Batches in flight at once (threads sharing one client).");
ABSL_FLAG(bool, dedup, true, "Client-side key de-duplication.");
ABSL_FLAG(bool, sorted, true,
          "Sort each batch's keys (ps-lite's API requires sorted unique keys; "
          "the client then skips de-duplication). false: shuffled keys.");
ABSL_FLAG(bool, tls, false,
          "Mutual TLS between the worker and the shards (certificates of a "
          "throwaway CA made with tools/certs.sh; the worker holds role "
          "worker, shard i ps-i). false: plaintext.");
ABSL_FLAG(std::string, ops, "pull,push",
          "Operations to measure (pull, push or both; e.g. push alone under "
          "a profiler). The keys are created by pulls before timing either "
          "way.");
ABSL_FLAG(std::string, push_pieces, "",
          "PsClientOptions::push_pieces values to compare side by side, "
          "e.g. 1,2,4: one client per value, pushes alternating between them "
          "every --slot_seconds; each value's median slot rate is printed. "
          "Empty: the client's default only.");
ABSL_FLAG(int64_t, min_push_piece_keys, -1,
          "PsClientOptions::min_push_piece_keys for every client; -1: the "
          "client's default.");
ABSL_FLAG(double, slot_seconds, 0.5,
          "With several --push_pieces: the length of one client's turn.");
ABSL_FLAG(bool, cpu, false,
          "Also print the CPU time (user + system of the worker and the "
          "shards) per key: less sensitive to other load than keys/s.");
ABSL_FLAG(std::string, certs_sh, "",
          "With --tls: path of tools/certs.sh (default: from the runfiles).");

namespace {

#define CHECK_OK(expr)                     \
  do {                                     \
    const absl::Status _s = (expr);        \
    CHECK(_s.ok()) << #expr << ": " << _s; \
  } while (0)

struct Rate {
  double keys_per_s;
  double mb_per_s;
  double cpu_us_per_key;
};

// CPU seconds used so far by this process and `shards`.
double CpuSeconds(const std::vector<pid_t>& shards) {
  double s = strata::bench::CpuSeconds(getpid());
  for (pid_t pid : shards) s += strata::bench::CpuSeconds(pid);
  return s;
}

void Print(int dim, const char* op, const Rate& r, bool cpu) {
  printf("%-5d %-5s %16.0f %12.1f", dim, op, r.keys_per_s, r.mb_per_s);
  if (cpu) printf(" %12.3f", r.cpu_us_per_key);
  printf("\n");
}

// Runs `op(thread, batch_index)` from `inflight` threads for `seconds`;
// CPU time counts this process and the `shards`.
template <typename Op>
Rate Measure(int inflight, double seconds, int batch, int dim,
             const std::vector<pid_t>& shards, Op op) {
  std::atomic<int64_t> batches{0};
  const double cpu_start = CpuSeconds(shards);
  const absl::Time end = absl::Now() + absl::Seconds(seconds);
  const absl::Time start = absl::Now();
  std::vector<std::thread> threads;
  for (int t = 0; t < inflight; ++t) {
    threads.emplace_back([&, t] {
      for (int64_t i = t; absl::Now() < end; i += inflight) {
        op(t, i);
        ++batches;
      }
    });
  }
  for (auto& th : threads) th.join();
  const double secs = absl::ToDoubleSeconds(absl::Now() - start);
  const double keys = double(batches.load()) * batch;
  const double cpu = CpuSeconds(shards) - cpu_start;
  return {keys / secs, keys * dim * 4 / 1e6 / secs, cpu * 1e6 / keys};
}

// One client per entry of `clients`, taking turns of `slot` seconds for
// `seconds` each in all; op(client, batch_index). Returns each client's
// median rate over its turns (CPU per key over all its turns).
template <typename Op>
std::vector<Rate> MeasureAlternating(size_t clients, double seconds,
                                     double slot, int batch, int dim,
                                     const std::vector<pid_t>& shards, Op op) {
  std::vector<std::vector<double>> rates(clients);
  std::vector<double> cpu(clients), keys(clients);
  int64_t i = 0;
  const int turns = std::max(1, static_cast<int>(seconds / slot));
  for (int turn = 0; turn < turns; ++turn) {
    for (size_t c = 0; c < clients; ++c) {
      const double cpu_start = CpuSeconds(shards);
      const absl::Time start = absl::Now();
      const absl::Time end = start + absl::Seconds(slot);
      int64_t batches = 0;
      for (; absl::Now() < end; ++batches) op(c, i++);
      const double secs = absl::ToDoubleSeconds(absl::Now() - start);
      rates[c].push_back(double(batches) * batch / secs);
      cpu[c] += CpuSeconds(shards) - cpu_start;
      keys[c] += double(batches) * batch;
    }
  }
  std::vector<Rate> out;
  for (size_t c = 0; c < clients; ++c) {
    std::sort(rates[c].begin(), rates[c].end());
    const double median = rates[c][rates[c].size() / 2];
    out.push_back({median, median * dim * 4 / 1e6, cpu[c] * 1e6 / keys[c]});
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const int n = absl::GetFlag(FLAGS_shards);
  FLAGS_logtostderr = true;
  google::InitGoogleLogging(argv[0]);  // before the fork: the shards log too
  // As ps_server (--mutex_deadlock_detection=false), for the shards forked
  // below.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  std::unique_ptr<strata::bench::ThrowawayCa> ca;
  if (absl::GetFlag(FLAGS_tls)) {  // openssl only: no gRPC state yet
    auto made = strata::bench::ThrowawayCa::Create(
        argv[0], n, absl::GetFlag(FLAGS_certs_sh));
    CHECK(made.ok()) << made.status();
    ca = std::move(*made);
  }
  strata::bench::ForkedShards shards(n, {}, ca.get());
  strata::PsClientOptions copts;
  copts.dedup = absl::GetFlag(FLAGS_dedup);
  if (absl::GetFlag(FLAGS_min_push_piece_keys) >= 0) {
    copts.min_push_piece_keys =
        static_cast<size_t>(absl::GetFlag(FLAGS_min_push_piece_keys));
  }
  if (ca != nullptr) copts.credentials = ca->Credentials("worker");
  auto client = strata::PsClient::Connect(shards.WaitForAddresses(), copts);
  CHECK(client.ok()) << client.status();
  // --push_pieces: one more client per value.
  std::vector<uint32_t> pieces;
  std::vector<std::unique_ptr<strata::PsClient>> piece_clients;
  for (absl::string_view p : absl::StrSplit(absl::GetFlag(FLAGS_push_pieces),
                                            ',', absl::SkipEmpty())) {
    pieces.push_back(static_cast<uint32_t>(std::stoul(std::string(p))));
    strata::PsClientOptions o = copts;
    o.push_pieces = pieces.back();
    auto c = strata::PsClient::Connect(shards.WaitForAddresses(), o);
    CHECK(c.ok()) << c.status();
    piece_clients.push_back(*std::move(c));
  }

  const int batch = absl::GetFlag(FLAGS_batch);
  const int nb = absl::GetFlag(FLAGS_keyspace_batches);
  const int inflight = absl::GetFlag(FLAGS_inflight);
  const double seconds = absl::GetFlag(FLAGS_seconds);
  std::vector<uint64_t> keys(size_t(batch) * nb);
  std::iota(keys.begin(), keys.end(), uint64_t{1} << 33);
  std::shuffle(keys.begin(), keys.end(), std::mt19937_64(7));
  const bool sorted = absl::GetFlag(FLAGS_sorted);
  if (sorted) {
    for (int b = 0; b < nb; ++b) {
      std::sort(keys.begin() + size_t(b) * batch,
                keys.begin() + size_t(b + 1) * batch);
    }
  }

  printf(
      "ps_bench: %d shard processes + 1 worker on loopback%s, batch %d "
      "keys (%s), %d in flight, dedup %s, %.1fs per measurement\n",
      n, ca != nullptr ? " (mutual TLS)" : "", batch,
      sorted ? "sorted" : "shuffled", inflight, copts.dedup ? "on" : "off",
      seconds);
  const bool cpu = absl::GetFlag(FLAGS_cpu);
  const std::string ops = absl::GetFlag(FLAGS_ops);
  printf("%-5s %-5s %16s %12s%s\n", "dim", "op", "keys/s", "MB/s",
         cpu ? "   CPU us/key" : "");
  for (absl::string_view d : absl::StrSplit(absl::GetFlag(FLAGS_dims), ',')) {
    const int dim = std::stoi(std::string(d));
    const std::string table = absl::StrCat("bench", dim);
    strata::TableConfig t;
    t.set_name(table);
    t.set_dim(dim);
    t.mutable_optimizer()->set_type(strata::OptimizerConfig::SGD);
    t.mutable_optimizer()->set_learning_rate(0.01f);
    CHECK_OK(strata::AllOk((*client)->admin().CreateTable(t, true)));
    std::vector<std::vector<float>> bufs(
        inflight, std::vector<float>(size_t(batch) * dim, 0.001f));
    auto span = [&](int64_t i) {
      return absl::MakeConstSpan(keys).subspan(size_t(i % nb) * batch, batch);
    };
    for (int i = 0; i < nb; ++i) {  // create every key before timing
      CHECK_OK((*client)->Pull(table, span(i), dim, bufs[0].data()));
    }
    const std::vector<pid_t>& pids = shards.pids();
    if (absl::StrContains(ops, "pull")) {
      const Rate pull =
          Measure(inflight, seconds, batch, dim, pids, [&](int t, int64_t i) {
            CHECK_OK((*client)->Pull(table, span(i), dim, bufs[t].data()));
          });
      Print(dim, "pull", pull, cpu);
    }
    if (absl::StrContains(ops, "push") && !pieces.empty()) {
      const std::vector<Rate> rates = MeasureAlternating(
          pieces.size(), seconds, absl::GetFlag(FLAGS_slot_seconds), batch, dim,
          pids, [&](size_t c, int64_t i) {
            CHECK_OK(piece_clients[c]->Push(table, span(i), bufs[0], dim));
          });
      for (size_t c = 0; c < pieces.size(); ++c) {
        Print(dim, absl::StrCat("push/", pieces[c]).c_str(), rates[c], cpu);
      }
    } else if (absl::StrContains(ops, "push")) {
      const Rate push =
          Measure(inflight, seconds, batch, dim, pids, [&](int t, int64_t i) {
            CHECK_OK((*client)->Push(table, span(i), bufs[t], dim));
          });
      Print(dim, "push", push, cpu);
    }
    fflush(stdout);
  }
  piece_clients.clear();
  client->reset();
  return 0;
}
