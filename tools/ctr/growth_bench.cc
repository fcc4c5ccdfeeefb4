// Growth after compression on a growing vocabulary (docs/saec.md, "Growth
// after compression"): a logistic model whose weights are embedding rows
// (logit = bias + sum over the 39 features of the row's elements) is
// trained in two phases on the synthetic CTR data (worker/ctr/datagen.h).
// Phase 1 draws from --share of each vocabulary; the table is then
// Saec-compressed (except in "plain"); phase 2 draws from all of it, so
// features first seen after compression arrive. Held-out AUC after phase 2
// for: the plain table, today's fallback (freeze_new_keys), growth with
// summed and with averaged cluster gradients, and growth after a fold.
//
//   bazel run -c opt //tools/ctr:growth_bench -- --rows=400000
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/time/clock.h"
#include "server/storage/compressed_table.h"
#include "server/storage/sparse_table.h"
#include "worker/ctr/criteo.h"
#include "worker/ctr/datagen.h"
#include "worker/ctr/evaluation.h"

ABSL_FLAG(uint64_t, rows, 400000, "Training rows per phase.");
ABSL_FLAG(uint64_t, eval_rows, 100000, "Held-out rows.");
ABSL_FLAG(uint64_t, max_vocab, 100000, "Largest categorical vocabulary.");
ABSL_FLAG(double, share, 0.6, "Vocabulary share of phase 1.");
ABSL_FLAG(uint32_t, dim, 8, "Embedding dimension.");
ABSL_FLAG(uint64_t, seed, 1, "Generator seed.");
ABSL_FLAG(double, learning_rate, 0.05, "Adagrad learning rate.");

namespace strata {
namespace {

constexpr size_t kBatch = 512;

struct Model {
  std::unique_ptr<CompressedTable> compressed;  // when compressed
  std::unique_ptr<SparseTable> plain;
  float bias = 0;
  EmbeddingTable& emb() {
    return compressed ? static_cast<EmbeddingTable&>(*compressed) : *plain;
  }
};

// Rows [begin, end) of `stream` as examples.
std::vector<ctr::CtrExample> Rows(const ctr::CtrGenerator& g, uint64_t stream,
                                  uint64_t begin, uint64_t end) {
  std::vector<ctr::CtrExample> out(end - begin);
  std::string line;
  for (uint64_t i = begin; i < end; ++i) {
    line.clear();
    g.AppendRow(stream, i, &line);
    line.pop_back();
    if (!ctr::ParseCriteoLine(line, &out[i - begin]).ok()) std::abort();
  }
  return out;
}

// Logits of examples [lo, hi) (pulling the rows; `train` creates them).
std::vector<float> Logits(Model& m, const std::vector<ctr::CtrExample>& data,
                          size_t lo, size_t hi, bool train,
                          std::vector<uint64_t>* keys) {
  const uint32_t d = m.emb().dim();
  keys->clear();
  for (size_t i = lo; i < hi; ++i) {
    keys->insert(keys->end(), data[i].keys.begin(), data[i].keys.end());
  }
  std::vector<float> rows(keys->size() * d);
  if (!m.emb().Pull(*keys, train, !train, rows.data()).ok()) std::abort();
  std::vector<float> logits(hi - lo, m.bias);
  for (size_t i = 0; i < keys->size(); ++i) {
    for (uint32_t t = 0; t < d; ++t)
      logits[i / ctr::kNumFields] += rows[i * d + t];
  }
  return logits;
}

void Train(Model& m, const std::vector<ctr::CtrExample>& data) {
  const uint32_t d = m.emb().dim();
  std::vector<uint64_t> keys;
  for (size_t lo = 0; lo < data.size(); lo += kBatch) {
    const size_t hi = std::min(data.size(), lo + kBatch);
    const std::vector<float> logits = Logits(m, data, lo, hi, true, &keys);
    std::vector<float> grads(keys.size() * d);
    double bias_grad = 0;
    for (size_t i = lo; i < hi; ++i) {
      const float g = 1.f / (1.f + std::exp(-logits[i - lo])) - data[i].label;
      bias_grad += g;
      for (size_t f = 0; f < ctr::kNumFields; ++f) {
        float* row = grads.data() + ((i - lo) * ctr::kNumFields + f) * d;
        for (uint32_t t = 0; t < d; ++t) row[t] = g;
      }
    }
    m.bias -= 0.01f * static_cast<float>(bias_grad / (hi - lo));
    if (!m.emb().Push(keys, grads).ok()) std::abort();
  }
}

double Auc(Model& m, const std::vector<ctr::CtrExample>& data) {
  ctr::BinaryEval eval;
  std::vector<uint64_t> keys;
  for (size_t lo = 0; lo < data.size(); lo += kBatch) {
    const size_t hi = std::min(data.size(), lo + kBatch);
    const std::vector<float> logits = Logits(m, data, lo, hi, false, &keys);
    for (size_t i = lo; i < hi; ++i) {
      eval.Add(1.f / (1.f + std::exp(-logits[i - lo])), data[i].label);
    }
  }
  return eval.Auc().value();
}

TableConfig Config() {
  TableConfig c;
  c.set_name("emb");
  c.set_dim(absl::GetFlag(FLAGS_dim));
  c.mutable_optimizer()->set_type(OptimizerConfig::ADAGRAD);
  c.mutable_optimizer()->set_learning_rate(
      static_cast<float>(absl::GetFlag(FLAGS_learning_rate)));
  return c;
}

// One variant: "plain", or compressed with `saec` after phase 1.
void Run(const char* name, const SaecConfig* saec,
         const std::vector<ctr::CtrExample>& phase1,
         const std::vector<ctr::CtrExample>& phase2,
         const std::vector<ctr::CtrExample>& eval) {
  Model m;
  m.plain = *SparseTable::Create(Config());
  const absl::Time t0 = absl::Now();
  Train(m, phase1);
  if (saec != nullptr) {
    m.compressed = *CompressedTable::Compress(*m.plain, *saec, {});
    m.plain.reset();
  }
  const double auc1 = Auc(m, eval);
  Train(m, phase2);
  const double auc2 = Auc(m, eval);
  std::string extra;
  if (m.compressed != nullptr && !saec->freeze_new_keys()) {
    uint64_t fresh = 0;
    for (const FieldStats& f : m.compressed->Stats()) fresh += f.new_rows();
    const absl::Time f0 = absl::Now();
    if (!m.compressed->Fold(0).ok()) std::abort();
    const double fold_s = absl::ToDoubleSeconds(absl::Now() - f0);
    char buf[160];
    std::snprintf(buf, sizeof(buf),
                  "  new rows %llu, after fold AUC %.4f (fold %.2fs)",
                  static_cast<unsigned long long>(fresh), Auc(m, eval), fold_s);
    extra = buf;
  }
  std::printf(
      "%-14s AUC after phase 1 %.4f, after phase 2 %.4f, %6.1f MB, "
      "%.1fs%s\n",
      name, auc1, auc2, m.emb().MemoryBytes() / 1e6,
      absl::ToDoubleSeconds(absl::Now() - t0), extra.c_str());
  std::fflush(stdout);
}

int Main() {
  ctr::CtrGeneratorOptions o;
  o.seed = absl::GetFlag(FLAGS_seed);
  o.max_vocab = absl::GetFlag(FLAGS_max_vocab);
  o.vocab_share = absl::GetFlag(FLAGS_share);
  const ctr::CtrGenerator early(o);
  o.vocab_share = 1.0;
  const ctr::CtrGenerator late(o);
  const uint64_t n = absl::GetFlag(FLAGS_rows);
  const auto phase1 = Rows(early, ctr::kTrainStream, 0, n);
  const auto phase2 = Rows(late, ctr::kTrainStream, n, 2 * n);
  const auto eval =
      Rows(late, ctr::kEvalStream, 0, absl::GetFlag(FLAGS_eval_rows));
  std::printf(
      "growth_bench: %llu + %llu rows, vocab share %.2f then 1, "
      "max_vocab %llu, dim %u\n",
      static_cast<unsigned long long>(n), static_cast<unsigned long long>(n),
      absl::GetFlag(FLAGS_share),
      static_cast<unsigned long long>(absl::GetFlag(FLAGS_max_vocab)),
      absl::GetFlag(FLAGS_dim));
  SaecConfig base;  // 200 clusters per field of >= 1000 features
  base.set_clusters(200);
  base.set_min_features(1000);
  SaecConfig frozen = base, sum = base, mean = base;
  frozen.set_freeze_new_keys(true);
  sum.set_cluster_gradient(CLUSTER_GRADIENT_SUM);
  mean.set_cluster_gradient(CLUSTER_GRADIENT_MEAN);
  Run("plain", nullptr, phase1, phase2, eval);
  Run("fallback", &frozen, phase1, phase2, eval);
  Run("growth sum", &sum, phase1, phase2, eval);
  Run("growth mean", &mean, phase1, phase2, eval);
  return 0;
}

}  // namespace
}  // namespace strata

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return strata::Main();
}
