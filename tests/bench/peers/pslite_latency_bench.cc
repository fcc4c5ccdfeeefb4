// ps-lite peer of Strata's pull_latency_bench and dense_bench (issue 16),
// built outside Bazel against ../shared/peers/ps-lite (dmlc/ps-lite at
// 15b8adf) by tests/bench/latency_side_by_side.sh and
// tests/bench/dense_side_by_side.sh, which start the scheduler, 2 servers
// and 1 worker process of it on loopback. A copy of
// ../shared/peers/pslite_fair_bench.cc's store (absl::flat_hash_map from key
// to a row of one contiguous float array, SGD on push; one thread per
// server, as ps-lite serves) with two workloads:
//
// MODE=latency: ROWS keys (splitmix64(i), so they spread over both servers'
//   key ranges) created before timing; PULLS pulls of PULL_KEYS random keys
//   (sorted and de-duplicated: ps-lite needs that), one at a time, the first
//   10% more as warm-up, with the servers idle and while a second KVWorker
//   of this process pushes PUSH_BATCH-key batches of random keys (sorted,
//   de-duplicated, taken in turn from 8 made up front) without pause.
//   Prints p50/p99/max ms and the pushed keys/s as pull_latency_bench does.
// MODE=dense: FLOATS floats as FLOATS/CHUNK keys of CHUNK floats each,
//   half of the keys in each server's key range; pulls and pushes of the
//   whole tensor for SECONDS each. Prints calls/s and GB/s of floats.
//
// Env: MODE, DIM, ROWS, PULL_KEYS, PULLS, PUSH_BATCH, FLOATS, CHUNK, SECONDS.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "ps/ps.h"

using namespace ps;

namespace {

long Env(const char* n, long d) {
  const char* v = getenv(n);
  return v ? atol(v) : d;
}

double EnvDouble(const char* n, double d) {
  const char* v = getenv(n);
  return v ? atof(v) : d;
}

uint64_t Mix(uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

double Now() {
  return std::chrono::duration<double>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

struct FlatStore {
  int dim;
  absl::flat_hash_map<Key, uint32_t> index;
  std::vector<float> rows;
  float* Row(Key k) {
    auto [it, fresh] = index.try_emplace(k, uint32_t(index.size()));
    if (fresh) rows.resize(rows.size() + dim, 0.f);
    return rows.data() + size_t(it->second) * dim;
  }
};

// The server's request handler: SGD on push, row copies on pull.
struct Handler {
  FlatStore* st;
  void operator()(const KVMeta& meta, const KVPairs<float>& req,
                  KVServer<float>* srv) {
    const size_t n = req.keys.size();
    const int dim = st->dim;
    KVPairs<float> res;
    if (meta.push) {
      for (size_t i = 0; i < n; ++i) {
        float* r = st->Row(req.keys[i]);
        const float* g = req.vals.data() + i * dim;
        for (int j = 0; j < dim; ++j) r[j] -= 0.01f * g[j];
      }
    } else {
      res.keys = req.keys;
      res.vals.resize(n * dim);
      for (size_t i = 0; i < n; ++i) {
        memcpy(res.vals.data() + i * dim, st->Row(req.keys[i]), dim * 4);
      }
    }
    srv->Response(meta, res);
  }
};

// `n` keys splitmix64(rng() % rows), sorted and de-duplicated.
SArray<Key> RandomKeys(std::mt19937_64& rng, long rows, long n) {
  std::vector<Key> k(n);
  for (Key& key : k) key = Mix(rng() % rows);
  std::sort(k.begin(), k.end());
  k.erase(std::unique(k.begin(), k.end()), k.end());
  SArray<Key> out;
  out.CopyFrom(k.data(), k.size());
  return out;
}

struct Latency {
  double p50_ms, p99_ms, max_ms;
};

Latency MeasurePulls(KVWorker<float>& kv, long rows, long n, long pulls) {
  std::mt19937_64 rng(11);
  std::vector<double> ms;
  for (long p = -pulls / 10; p < pulls; ++p) {  // the first 10% warm up
    const SArray<Key> keys = RandomKeys(rng, rows, n);
    SArray<float> out;
    const double t0 = Now();
    kv.Wait(kv.ZPull(keys, &out));
    if (p >= 0) ms.push_back((Now() - t0) * 1e3);
  }
  std::sort(ms.begin(), ms.end());
  return {ms[ms.size() / 2], ms[ms.size() * 99 / 100], ms.back()};
}

void LatencyWorker(int dim) {
  const long rows = Env("ROWS", 1 << 20), n = Env("PULL_KEYS", 1000);
  const long pulls = Env("PULLS", 2000), batch = Env("PUSH_BATCH", 65536);
  KVWorker<float> puller(0, 0), pusher(0, 1);
  {  // create every row
    std::vector<Key> all(rows);
    for (long i = 0; i < rows; ++i) all[i] = Mix(i);
    std::sort(all.begin(), all.end());
    for (long b = 0; b < rows; b += 65536) {
      const long len = std::min(65536L, rows - b);
      SArray<Key> k;
      k.CopyFrom(all.data() + b, len);
      puller.Wait(puller.ZPush(k, SArray<float>(len * dim, 0.001f)));
    }
  }
  std::mt19937_64 rng(5);
  std::vector<SArray<Key>> batches;
  for (int b = 0; b < 8; ++b) batches.push_back(RandomKeys(rng, rows, batch));
  const SArray<float> grads(batch * dim, 1e-4f);
  printf(
      "pslite_latency_bench: 2 servers + 1 worker process (2 KVWorkers) "
      "on loopback, %ld rows of dim %d, %ld-key pulls, %ld per figure, "
      "push load of %ld-key batches\n",
      rows, dim, n, pulls, batch);
  for (const bool load : {false, true}) {
    std::atomic<bool> stop{false};
    std::atomic<long> pushed{0};
    std::thread pushing;
    if (load) {
      pushing = std::thread([&] {
        for (long i = 0; !stop.load(); ++i) {
          const SArray<Key>& k = batches[i % batches.size()];
          pusher.Wait(pusher.ZPush(k, grads.segment(0, k.size() * dim)));
          pushed += k.size();
        }
      });
    }
    const double t0 = Now();
    const Latency l = MeasurePulls(puller, rows, n, pulls);
    const double secs = Now() - t0;
    stop = true;
    if (pushing.joinable()) pushing.join();
    printf("%-6s %-10s %9.3f %9.3f %9.3f %14.0f\n", "plain",
           load ? "push load" : "idle", l.p50_ms, l.p99_ms, l.max_ms,
           pushed.load() / secs);
    fflush(stdout);
  }
}

void DenseWorker(long floats, long chunk) {
  const double seconds = EnvDouble("SECONDS", 3);
  // Half of the keys at the start of each server's key range.
  const std::vector<Range>& ranges = Postoffice::Get()->GetServerKeyRanges();
  const long nkeys = floats / chunk, per = nkeys / long(ranges.size());
  std::vector<Key> k;
  for (size_t s = 0; s < ranges.size(); ++s) {
    const long mine = s + 1 < ranges.size() ? per : nkeys - per * s;
    for (long j = 0; j < mine; ++j) k.push_back(ranges[s].begin() + j);
  }
  SArray<Key> keys;
  keys.CopyFrom(k.data(), k.size());
  KVWorker<float> kv(0, 0);
  const SArray<float> grads(nkeys * chunk, 0.001f);
  kv.Wait(kv.ZPush(keys, grads));  // create the rows
  SArray<float> out;  // sized by the first pull, then filled in place
  auto run = [&](bool push) {
    kv.Wait(kv.ZPull(keys, &out));  // warm-up
    const double t0 = Now();
    long calls = 0;
    do {
      if (push) {
        kv.Wait(kv.ZPush(keys, grads));
      } else {
        kv.Wait(kv.ZPull(keys, &out));
      }
      ++calls;
    } while (Now() - t0 < seconds);
    return calls / (Now() - t0);
  };
  const double pull = run(false), push = run(true);
  const double gb = nkeys * chunk * 4 / 1e9;
  printf(
      "pslite dense floats=%ld chunk=%ld keys=%ld pull_calls_per_s=%.2f "
      "pull_GB_per_s=%.3f push_calls_per_s=%.2f push_GB_per_s=%.3f\n",
      nkeys * chunk, chunk, nkeys, pull, pull * gb, push, push * gb);
  fflush(stdout);
}

}  // namespace

int main() {
  const bool dense = getenv("MODE") && !strcmp(getenv("MODE"), "dense");
  const long floats = Env("FLOATS", 16 << 20), chunk = Env("CHUNK", 65536);
  const int dim = dense ? int(chunk) : int(Env("DIM", 16));
  if (dense && (chunk <= 0 || floats % chunk != 0 || floats / chunk < 2)) {
    fprintf(stderr, "FLOATS must be a multiple of CHUNK, at least 2 keys\n");
    return 2;
  }
  Start(0);
  if (IsServer()) {
    auto* srv = new KVServer<float>(0);
    srv->set_request_handle(Handler{new FlatStore{dim, {}, {}}});
    RegisterExitCallback([srv]() { delete srv; });
  }
  if (IsWorker()) {
    if (dense) {
      DenseWorker(floats, chunk);
    } else {
      LatencyWorker(dim);
    }
  }
  Finalize(0, true);
  return 0;
}
