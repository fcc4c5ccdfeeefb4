// Evaluation of a binary classifier: ROC AUC (ties count one half)
// and mean log loss.
#ifndef STRATA_WORKER_CTR_EVALUATION_H_
#define STRATA_WORKER_CTR_EVALUATION_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"

namespace strata {
namespace ctr {

// AUC = P(score of a random positive > score of a random negative), with a
// tie counting 1/2 (the Mann-Whitney statistic with average ranks).
// INVALID_ARGUMENT for mismatched sizes, labels other than 0/1, or a set
// without both classes. O(n log n).
absl::StatusOr<double> Auc(const std::vector<float>& scores,
                           const std::vector<float>& labels);

// Mean of -[y log p + (1 - y) log(1 - p)], p clipped to [1e-7, 1 - 1e-7].
absl::StatusOr<double> LogLoss(const std::vector<float>& probs,
                               const std::vector<float>& labels);

// Accumulates (score, label) pairs of an evaluation. Not thread-safe.
class BinaryEval {
 public:
  void Add(float prob, float label) {
    probs_.push_back(prob);
    labels_.push_back(label);
  }
  int64_t size() const { return static_cast<int64_t>(probs_.size()); }
  absl::StatusOr<double> Auc() const { return ctr::Auc(probs_, labels_); }
  absl::StatusOr<double> LogLoss() const {
    return ctr::LogLoss(probs_, labels_);
  }

 private:
  std::vector<float> probs_, labels_;
};

}  // namespace ctr
}  // namespace strata

#endif  // STRATA_WORKER_CTR_EVALUATION_H_
