#include "worker/tasks/ps_load_test.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "proto/base/hash.h"

namespace strata {

float LoadTestTarget(uint64_t seed, uint32_t round, uint64_t key,
                     uint32_t column) {
  uint64_t h =
      SplitMix64(seed ^ SplitMix64(key) ^ (uint64_t{round} << 32) ^ column);
  // 24 random bits -> [-1, 1), exactly representable.
  return static_cast<float>(h >> 40) / static_cast<float>(1 << 23) - 1.0f;
}

namespace {

struct LoadTestState {
  PsLoadTestSpec spec;
  PsClient* client = nullptr;
  std::vector<float> current, grads, expected, got;
  absl::Duration pull_time, push_time;
  uint64_t pulled = 0, pushed = 0, verified = 0, mismatches = 0;
  std::string first_mismatch;
};

// Counts a wrong value; the first one is kept for the failure message.
void RecordMismatch(LoadTestState* st, uint64_t key, uint32_t column, float got,
                    float want) {
  if (st->mismatches++ == 0) {
    st->first_mismatch = absl::StrCat("key ", key, " column ", column, ": got ",
                                      got, ", want ", want);
  }
}

// One write/read/verify pass over `keys` in round `round`.
absl::Status RunBatch(LoadTestState* st, const std::vector<uint64_t>& keys,
                      uint32_t round) {
  const uint32_t dim = st->spec.dim();
  const size_t n = keys.size() * dim;
  st->current.resize(n);
  st->grads.resize(n);
  st->expected.resize(n);
  st->got.resize(n);
  absl::Time t0 = absl::Now();
  absl::Status s =
      st->client->Pull(st->spec.table(), keys, dim, st->current.data());
  if (!s.ok()) return s;
  st->pull_time += absl::Now() - t0;
  st->pulled += keys.size();
  for (size_t k = 0; k < keys.size(); ++k) {
    for (uint32_t d = 0; d < dim; ++d) {
      const size_t i = k * dim + d;
      const float target = LoadTestTarget(st->spec.seed(), round, keys[k], d);
      // The table uses SGD with learning rate 1: w <- w - g.
      st->grads[i] = st->current[i] - target;
      st->expected[i] = st->current[i] - st->grads[i];
    }
  }
  t0 = absl::Now();
  s = st->client->Push(st->spec.table(), keys, st->grads, dim);
  if (!s.ok()) return s;
  st->push_time += absl::Now() - t0;
  st->pushed += keys.size();
  t0 = absl::Now();
  s = st->client->Pull(st->spec.table(), keys, dim, st->got.data());
  if (!s.ok()) return s;
  st->pull_time += absl::Now() - t0;
  st->pulled += keys.size();
  for (size_t i = 0; i < n; ++i) {
    if (st->got[i] != st->expected[i]) {
      RecordMismatch(st, keys[i / dim], i % dim, st->got[i], st->expected[i]);
    }
  }
  st->verified += keys.size();
  return absl::OkStatus();
}

// Reads `keys` without modifying anything and compares them with the values
// the last round of an earlier run wrote. That run computed w - (w - t),
// which may differ from t by rounding, hence the tolerance.
absl::Status VerifyBatch(LoadTestState* st, const std::vector<uint64_t>& keys) {
  const uint32_t dim = st->spec.dim();
  st->got.resize(keys.size() * dim);
  const absl::Time t0 = absl::Now();
  PullOptions opts;
  opts.read_only = true;
  opts.count_frequency = false;
  absl::Status s =
      st->client->Pull(st->spec.table(), keys, dim, st->got.data(), opts);
  if (!s.ok()) return s;
  st->pull_time += absl::Now() - t0;
  st->pulled += keys.size();
  const uint32_t last = st->spec.rounds() - 1;
  for (size_t i = 0; i < st->got.size(); ++i) {
    const float want =
        LoadTestTarget(st->spec.seed(), last, keys[i / dim], i % dim);
    if (!(std::fabs(st->got[i] - want) <= 1e-6f)) {
      RecordMismatch(st, keys[i / dim], i % dim, st->got[i], want);
    }
  }
  st->verified += keys.size();
  return absl::OkStatus();
}

TaskMetrics ToMetrics(const LoadTestState& st) {
  const double pull_s = std::max(absl::ToDoubleSeconds(st.pull_time), 1e-9);
  const double push_s = std::max(absl::ToDoubleSeconds(st.push_time), 1e-9);
  const double row_mb = st.spec.dim() * 4.0 / 1e6;
  return {
      {"pull_keys_per_s", st.pulled / pull_s},
      {"push_keys_per_s", st.pushed / push_s},
      {"pull_mb_per_s", st.pulled * row_mb / pull_s},
      {"push_mb_per_s", st.pushed * row_mb / push_s},
      {"verified_keys", static_cast<double>(st.verified)},
      {"mismatches", static_cast<double>(st.mismatches)},
  };
}

}  // namespace

absl::StatusOr<TaskMetrics> PsLoadTestTask::Run(
    const TaskAssignment& assignment, TaskContext* context) {
  LoadTestState st;
  st.spec = assignment.spec().ps_load_test();  // prepared (server/jobs)
  std::unique_ptr<PsClient> owned;
  absl::StatusOr<PsClient*> client =
      TaskPsClient(assignment, context, client_, &owned);
  if (!client.ok()) return client.status();
  st.client = *client;
  TableConfig table;
  table.set_name(st.spec.table());
  table.set_dim(st.spec.dim());
  table.mutable_optimizer()->set_type(OptimizerConfig::SGD);
  table.mutable_optimizer()->set_learning_rate(1.0f);
  absl::Status s = st.spec.verify_existing()
                       ? absl::OkStatus()
                       : AllOk(st.client->admin().CreateTable(
                             table, /*if_not_exists=*/true));
  if (!s.ok()) return s;

  const uint64_t k = st.spec.keys_per_worker();
  const uint64_t first = (st.spec.seed() << 40) + assignment.rank() * k;
  const uint64_t batches =
      (k + st.spec.batch_size() - 1) / st.spec.batch_size();
  const uint32_t passes = st.spec.verify_existing() ? 1 : st.spec.rounds();
  const int64_t total = static_cast<int64_t>(batches) * passes;
  std::vector<uint64_t> keys;
  int64_t step = 0;
  for (uint32_t round = 0; round < passes; ++round) {
    for (uint64_t b = 0; b < k; b += st.spec.batch_size()) {
      if (context->cancelled()) return absl::CancelledError("cancelled");
      keys.clear();
      const uint64_t end = std::min<uint64_t>(k, b + st.spec.batch_size());
      for (uint64_t i = b; i < end; ++i) keys.push_back(first + i);
      s = st.spec.verify_existing() ? VerifyBatch(&st, keys)
                                    : RunBatch(&st, keys, round);
      if (!s.ok()) return s;
      context->ReportProgress(++step, total, ToMetrics(st));
    }
  }
  if (st.mismatches > 0) {
    return absl::DataLossError(
        absl::StrCat(st.mismatches, " of ", st.verified * st.spec.dim(),
                     " values read back wrong; first at ", st.first_mismatch));
  }
  return ToMetrics(st);
}

}  // namespace strata
