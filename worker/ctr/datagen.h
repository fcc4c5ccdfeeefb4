// Synthetic click logs in the Criteo layout (criteo.h) from a planted model.
//
// Categorical field j (0..25) has a vocabulary of
// max(50, max_vocab / (1 + j)^1.2) values whose frequencies follow
// Zipf(zipf) by rank. Every value belongs to one of `groups` latent groups
// (a hash of field and rank); a group has a weight ~ N(0, s_j) and each
// member's effect is its group's weight plus a small N(0, noise * s_j), so
// members of a group affect the click alike: the structure Saec's
// similarity-aware clustering can exploit. Integer fields draw log-uniform
// values whose effect depends on their log bucket. The click logit is
// bias + the sum of the row's effects + an interaction between the two
// largest categorical fields (something for the MLP to learn); the label is
// Bernoulli(sigmoid(logit)). Any feature is missing with missing_rate.
//
// Row i of stream s is a pure function of (seed, s, i): workers generate
// disjoint row ranges independently, and a spec always yields the same data.
#ifndef STRATA_WORKER_CTR_DATAGEN_H_
#define STRATA_WORKER_CTR_DATAGEN_H_

#include <cstdint>
#include <string>
#include <vector>

#include "worker/ctr/criteo.h"

namespace strata {
namespace ctr {

struct CtrGeneratorOptions {
  uint64_t seed = 1;
  // Vocabulary of the largest categorical field. Larger vocabularies make
  // bigger tables (more to compress) and a longer tail the training sees
  // rarely.
  uint64_t max_vocab = 200000;
  // Latent groups per categorical field (at most vocab / 4). Fewer groups
  // mean more shared structure and a higher compressibility.
  int groups = 100;
  double zipf = 1.1;
  double missing_rate = 0.03;
  double bias = -1.6;
  // Spread of a member's effect around its group's, relative to the
  // group spread.
  double noise = 0.1;
  // Share of each categorical vocabulary that rows draw from, in (0, 1]: a
  // fixed pseudo-random subset of the ranks (the same for every stream and
  // every share: a larger share adds ranks); a draw outside it is redrawn.
  // Effects do not depend on it, so two generators with the same seed and
  // shares 0.6 then 1 make a vocabulary that grows between two phases.
  double vocab_share = 1.0;
};

// Stream ids: training rows and held-out rows never coincide.
constexpr uint64_t kTrainStream = 0;
constexpr uint64_t kEvalStream = 1;

// Immutable after construction (precomputes per-field frequency tables and
// effects, ~12 bytes per vocabulary value); const methods are thread-safe.
class CtrGenerator {
 public:
  explicit CtrGenerator(CtrGeneratorOptions options);

  // Appends row `index` of `stream` as one TSV line with its '\n'; returns
  // the planted click probability.
  double AppendRow(uint64_t stream, uint64_t index, std::string* out) const;

  uint64_t vocab(int cat_field) const { return cdf_[cat_field].size(); }
  int groups(int cat_field) const { return groups_[cat_field]; }
  // Latent group of the value of rank `rank` in a categorical field.
  int GroupOf(int cat_field, uint64_t rank) const;

 private:
  double Uniform(uint64_t stream, uint64_t index, uint64_t column) const;
  uint64_t SampleRank(int cat_field, double u) const;
  // Whether rank `rank` of a categorical field is in the vocab_share subset.
  bool Drawable(int cat_field, uint64_t rank) const;

  // Constant after construction.
  const CtrGeneratorOptions options_;
  std::vector<std::vector<double>> cdf_;    // per categorical field
  std::vector<std::vector<float>> effect_;  // per categorical field, by rank
  std::vector<int> groups_;
  std::vector<std::vector<float>> int_effect_;  // per integer field, by bucket
  std::vector<double> int_log_max_;             // per integer field
};

}  // namespace ctr
}  // namespace strata

#endif  // STRATA_WORKER_CTR_DATAGEN_H_
