#include "worker/ctr/evaluation.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "proto/base/status_macros.h"

namespace strata {
namespace ctr {
namespace {

absl::Status CheckLabels(size_t n, const std::vector<float>& labels) {
  if (n != labels.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat(n, " scores but ", labels.size(), " labels"));
  }
  for (float y : labels) {
    if (y != 0.0f && y != 1.0f) {
      return absl::InvalidArgumentError(
          absl::StrCat("label ", y, " is not 0 or 1"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<double> Auc(const std::vector<float>& scores,
                           const std::vector<float>& labels) {
  STRATA_RETURN_IF_ERROR(CheckLabels(scores.size(), labels));
  std::vector<size_t> order(scores.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return scores[a] < scores[b]; });
  // Sum of the positives' ranks (1-based, ties get their average rank).
  double rank_sum = 0, positives = 0;
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j < order.size() && scores[order[j]] == scores[order[i]]) ++j;
    const double avg_rank = (i + 1 + j) / 2.0;  // mean of i+1 .. j
    for (size_t t = i; t < j; ++t) {
      if (labels[order[t]] == 1.0f) {
        rank_sum += avg_rank;
        positives += 1;
      }
    }
    i = j;
  }
  const double negatives = static_cast<double>(scores.size()) - positives;
  if (positives == 0 || negatives == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("AUC needs both classes; got ", positives,
                     " positives and ", negatives, " negatives"));
  }
  return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives);
}

absl::StatusOr<double> LogLoss(const std::vector<float>& probs,
                               const std::vector<float>& labels) {
  STRATA_RETURN_IF_ERROR(CheckLabels(probs.size(), labels));
  if (probs.empty()) return absl::InvalidArgumentError("no examples");
  double sum = 0;
  for (size_t i = 0; i < probs.size(); ++i) {
    const double p = std::clamp<double>(probs[i], 1e-7, 1 - 1e-7);
    sum -= labels[i] == 1.0f ? std::log(p) : std::log(1 - p);
  }
  return sum / probs.size();
}

}  // namespace ctr
}  // namespace strata
