// Throughput of SparseTable::Pull/Push at dim 16 (the service target is 25M
// keys/s pulled across 2 shards including gRPC). Prints keys/s; run with
//   bazel run -c opt //server/storage:sparse_table_benchmark
#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

#include "benchmark/benchmark.h"
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

// One shard of tests/bench:ps_bench: 512k rows at dim 16 (SGD), created in
// batches of 32k sorted keys, then pulled and pushed back batch by batch.
struct ShardLike {
  static constexpr size_t kBatch = 1 << 15;
  static constexpr size_t kBatches = 16;
  std::unique_ptr<SparseTable> table;
  std::vector<std::vector<uint64_t>> batches;

  static ShardLike& Get() {
    static ShardLike* shard = [] {
      auto* s = new ShardLike;
      TableConfig c;
      c.set_name("shard");
      c.set_dim(kDim);
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
      std::vector<float> out(kBatch * kDim);
      for (size_t b = 0; b < kBatches; ++b) {
        s->batches.emplace_back(keys.begin() + b * kBatch,
                                keys.begin() + (b + 1) * kBatch);
        std::sort(s->batches.back().begin(), s->batches.back().end());
        s->table->Pull(s->batches.back(), true, false, out.data())
            .IgnoreError();
      }
      return s;
    }();
    return *shard;
  }
};

void BM_ShardPullSortedBatches(benchmark::State& state) {
  ShardLike& s = ShardLike::Get();
  std::vector<float> out(ShardLike::kBatch * kDim);
  size_t b = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(s.table->Pull(
        s.batches[b++ % ShardLike::kBatches], true, false, out.data()));
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

}  // namespace
}  // namespace strata

BENCHMARK_MAIN();
