// Throughput of SparseTable::Pull/Push at dim 16 (the service target is 25M
// keys/s pulled across 2 shards including gRPC). Prints keys/s; run with
//   bazel run -c opt //server/storage:sparse_table_benchmark
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "benchmark/benchmark.h"
#include "server/storage/gradient_rows.h"
#include "server/storage/memory_budget.h"
#include "server/storage/sparse_table.h"

namespace strata {
namespace {

constexpr uint32_t kDim = 16;
constexpr uint64_t kTableRows = 4'000'000;

SparseTable* SharedTable() {
  static SparseTable* table = [] {
    TableConfig c;
    c.set_name("bench");
    c.set_dim(kDim);
    c.mutable_initializer()->set_type(InitializerConfig::UNIFORM);
    c.mutable_initializer()->set_low(-0.01f);
    c.mutable_initializer()->set_high(0.01f);
    c.mutable_optimizer()->set_type(OptimizerConfig::ADAGRAD);
    c.mutable_optimizer()->set_learning_rate(0.05f);
    // Charged to a memory budget, as in a shard (every batch that may
    // create rows reserves and releases room).
    static MemoryBudget budget(DefaultMemoryBudgetBytes());
    SparseTable::Options o;
    o.budget = &budget;
    SparseTable* t = SparseTable::Create(c, o)->release();
    std::vector<uint64_t> keys(1 << 16);
    std::vector<float> out(keys.size() * kDim);
    for (uint64_t base = 0; base < kTableRows; base += keys.size()) {
      for (uint64_t i = 0; i < keys.size(); ++i) keys[i] = base + i;
      t->Pull(keys, false, false, out.data()).IgnoreError();
    }
    return t;
  }();
  return table;
}

// Keys spread over the whole table (cache-missing lookups).
std::vector<uint64_t> RandomKeys(size_t n, uint64_t seed) {
  std::vector<uint64_t> keys(n);
  uint64_t x = seed;
  for (uint64_t& k : keys) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    k = (x >> 17) % kTableRows;
  }
  return keys;
}

void BM_PullExisting(benchmark::State& state) {
  SparseTable* t = SharedTable();
  const std::vector<uint64_t> keys =
      RandomKeys(state.range(0), 1 + state.thread_index());
  std::vector<float> out(keys.size() * kDim);
  for (auto _ : state) {
    benchmark::DoNotOptimize(t->Pull(keys, true, false, out.data()));
  }
  state.SetItemsProcessed(state.iterations() * keys.size());
}
BENCHMARK(BM_PullExisting)
    ->Arg(1 << 10)
    ->Arg(1 << 16)
    ->ThreadRange(1, 4)
    ->UseRealTime();

void BM_PullReadOnly(benchmark::State& state) {
  SparseTable* t = SharedTable();
  const std::vector<uint64_t> keys =
      RandomKeys(state.range(0), 7 + state.thread_index());
  std::vector<float> out(keys.size() * kDim);
  for (auto _ : state) {
    benchmark::DoNotOptimize(t->Pull(keys, false, true, out.data()));
  }
  state.SetItemsProcessed(state.iterations() * keys.size());
}
BENCHMARK(BM_PullReadOnly)->Arg(1 << 16)->ThreadRange(1, 4)->UseRealTime();

void BM_Push(benchmark::State& state) {
  SparseTable* t = SharedTable();
  const std::vector<uint64_t> keys =
      RandomKeys(state.range(0), 13 + state.thread_index());
  const std::vector<float> grads(keys.size() * kDim, 1e-3f);
  for (auto _ : state) {
    benchmark::DoNotOptimize(t->Push(keys, grads));
  }
  state.SetItemsProcessed(state.iterations() * keys.size());
}
BENCHMARK(BM_Push)->Arg(1 << 16)->ThreadRange(1, 4)->UseRealTime();

// One shard of tests/bench:ps_bench: 512k rows at dim 16 or 64 (SGD),
// created in batches of 32k sorted keys, then pulled and pushed back batch
// by batch. Made on first use, by the benchmarks' one thread.
struct ShardLike {
  static constexpr size_t kBatch = 1 << 15;
  static constexpr size_t kBatches = 16;
  std::unique_ptr<SparseTable> table;
  std::vector<std::vector<uint64_t>> batches;

  // dim: 16 or 64.
  static ShardLike& Get(uint32_t dim = kDim) {
    static ShardLike* shards[2] = {nullptr, nullptr};
    ShardLike*& s = shards[dim == 64 ? 1 : 0];
    if (s == nullptr) s = Make(dim == 64 ? 64 : kDim);
    return *s;
  }
  static ShardLike* Make(uint32_t dim) {
    {
      auto* s = new ShardLike;
      TableConfig c;
      c.set_name("shard");
      c.set_dim(dim);
      c.mutable_optimizer()->set_type(OptimizerConfig::SGD);
      c.mutable_optimizer()->set_learning_rate(0.01f);
      s->table = *SparseTable::Create(c);
      std::vector<uint64_t> keys(kBatch * kBatches);
      uint64_t x = 7;
      for (size_t i = 0; i < keys.size(); ++i) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        keys[i] = (uint64_t{1} << 33) + i * 2 + (x >> 63);
      }
      for (size_t i = keys.size() - 1; i > 0; --i) {  // shuffle
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        std::swap(keys[i], keys[(x >> 33) % (i + 1)]);
      }
      std::vector<float> out(kBatch * dim);
      for (size_t b = 0; b < kBatches; ++b) {
        s->batches.emplace_back(keys.begin() + b * kBatch,
                                keys.begin() + (b + 1) * kBatch);
        std::sort(s->batches.back().begin(), s->batches.back().end());
        s->table->Pull(s->batches.back(), true, false, out.data())
            .IgnoreError();
      }
      return s;
    }
  }
};

void BM_ShardPullSortedBatches(benchmark::State& state) {
  ShardLike& s = ShardLike::Get();
  std::vector<float> out(ShardLike::kBatch * kDim);
  size_t b = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(s.table->Pull(s.batches[b++ % ShardLike::kBatches],
                                           true, false, out.data()));
  }
  state.SetItemsProcessed(state.iterations() * ShardLike::kBatch);
}
BENCHMARK(BM_ShardPullSortedBatches);

void BM_ShardPushSortedBatches(benchmark::State& state) {
  ShardLike& s = ShardLike::Get();
  const std::vector<float> grads(ShardLike::kBatch * kDim, 1e-3f);
  size_t b = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        s.table->Push(s.batches[b++ % ShardLike::kBatches], grads));
  }
  state.SetItemsProcessed(state.iterations() * ShardLike::kBatch);
}
BENCHMARK(BM_ShardPushSortedBatches);

// A push's gradients as the shard receives them: gRPC's slices of about
// 56 KiB each, separately allocated, three in four at odd addresses (as
// measured on ps_bench's shards). First arg 0: copied out into one aligned
// array, then pushed (what GradientRows::AssignReceived does for short
// rows); 1: pushed from the slices in place (GradientRows::Assign). Second
// arg: dim. Run with --benchmark_enable_random_interleaving: this
// machine's speed drifts.
void BM_ShardPushFromSlices(benchmark::State& state) {
  const uint32_t dim = static_cast<uint32_t>(state.range(1));
  ShardLike& s = ShardLike::Get(dim);
  const std::vector<float> grads(ShardLike::kBatch * dim, 1e-3f);
  const size_t bytes = grads.size() * sizeof(float);
  std::vector<std::string> storage;
  std::vector<absl::string_view> pieces;
  for (size_t at = 0, i = 0; at < bytes; ++i) {
    const size_t n = std::min<size_t>(56 * 1024 + 3 * i, bytes - at);
    const size_t shift = (i % 4);
    storage.emplace_back(n + shift, '\0');
    std::memcpy(storage.back().data() + shift,
                reinterpret_cast<const char*>(grads.data()) + at, n);
    at += n;
  }
  for (size_t i = 0; i < storage.size(); ++i) {
    pieces.emplace_back(storage[i].data() + (i % 4),
                        storage[i].size() - (i % 4));
  }
  const bool in_place = state.range(0) == 1;
  std::vector<float> scratch;
  GradientRows rows;
  size_t b = 0;
  for (auto _ : state) {
    const std::vector<uint64_t>& keys = s.batches[b++ % ShardLike::kBatches];
    if (in_place) {
      rows.Assign(pieces, dim);
      benchmark::DoNotOptimize(s.table->Push(keys, rows));
    } else {
      scratch.resize(grads.size());
      char* out = reinterpret_cast<char*>(scratch.data());
      for (const absl::string_view& p : pieces) {
        std::memcpy(out, p.data(), p.size());
        out += p.size();
      }
      benchmark::DoNotOptimize(s.table->Push(keys, scratch));
    }
  }
  state.SetItemsProcessed(state.iterations() * ShardLike::kBatch);
}
BENCHMARK(BM_ShardPushFromSlices)->ArgsProduct({{0, 1}, {16, 64}});

}  // namespace
}  // namespace strata

BENCHMARK_MAIN();
