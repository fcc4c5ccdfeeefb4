#include "server/client/internal/cluster_samples.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "compression/kmeans.h"
#include "compression/saec.h"
#include "google/protobuf/util/message_differencer.h"
#include "proto/base/status_macros.h"

namespace strata {
namespace internal {
namespace {

// One field's samples from every shard.
struct Union {
  std::vector<float> points;
  std::vector<double> weights;
  uint64_t features = 0;
};

compression::KeyIndexOptions IndexOf(const SaecConfig& c) {
  compression::KeyIndexOptions o;
  o.layout = c.index_layout() == SaecConfig::COMPACT
                 ? compression::IndexLayout::kCompact
             : c.index_layout() == SaecConfig::FLAT_HASH_MAP
                 ? compression::IndexLayout::kFlatHashMap
                 : compression::IndexLayout::kMph;
  o.fingerprint_bits = static_cast<int>(c.fingerprint_bits());
  return o;
}

// One field's centroids: k-means of the union with `clusters` clusters, the
// most that reach target_ratio for the field's features on all shards, or
// (max_mse) the fewest whose weighted MSE on the samples meets the budget,
// searched as CompressField searches (the samples' weights make their MSE
// an estimate of the field's). k is at most the number of samples.
absl::StatusOr<compression::KMeansResult> ClusterUnion(
    const SaecConfig& c, const Union& u, int dim,
    const compression::KMeansOptions& km) {
  const int64_t samples = static_cast<int64_t>(u.weights.size());
  const auto kmeans = [&](int64_t k) {
    return compression::KMeans(u.points, dim, u.weights, k, km);
  };
  int64_t k = static_cast<int64_t>(c.clusters());
  if (k == 0 && c.max_mse() > 0) {
    compression::ClusterCountOptions search;
    search.mode = compression::ClusterCountOptions::Mode::kDistortionBudget;
    search.max_mse = c.max_mse();
    std::optional<compression::KMeansResult> last, best;
    int probes = 0;
    STRATA_RETURN_IF_ERROR(
        compression::SearchDistortionBudget(
            samples, search,
            [&](int64_t probe) -> absl::StatusOr<double> {
              STRATA_ASSIGN_OR_RETURN(last, kmeans(probe));
              return last->total_weight > 0
                         ? last->objective / last->total_weight
                         : 0.0;
            },
            [&] { best = std::move(last); }, &probes)
            .status());
    return *std::move(best);
  }
  if (k == 0) {
    STRATA_ASSIGN_OR_RETURN(
        k, compression::ClustersForTargetRatio(
               static_cast<int64_t>(u.features), dim, c.target_ratio(),
               IndexOf(c)));
  }
  return kmeans(std::min(k, samples));
}

}  // namespace

absl::StatusOr<std::vector<FieldCentroids>> ClusterSamples(
    const std::vector<SampleHeadResponse>& shards) {
  if (shards.empty()) return std::vector<FieldCentroids>{};
  const SaecConfig& config = shards[0].config();
  const uint32_t dim = shards[0].dim();
  std::map<uint32_t, Union> fields;
  for (const SampleHeadResponse& s : shards) {
    if (s.dim() != dim || !google::protobuf::util::MessageDifferencer::Equals(
                              s.config(), config)) {
      return absl::InvalidArgumentError(
          "the shards' samples disagree on the table's dim or config");
    }
    for (const FieldSample& f : s.fields()) {
      const size_t n = f.vectors().size() / (dim * sizeof(float));
      if (dim == 0 || f.vectors().size() % (dim * sizeof(float)) != 0 ||
          static_cast<size_t>(f.weights_size()) != n) {
        return absl::InvalidArgumentError(absl::StrCat(
            "samples of field ", f.field(), ": ", f.vectors().size(),
            " bytes of vectors for ", f.weights_size(), " weights"));
      }
      Union& u = fields[f.field()];
      const size_t at = u.points.size();
      u.points.resize(at + n * dim);
      std::memcpy(u.points.data() + at, f.vectors().data(), f.vectors().size());
      u.weights.insert(u.weights.end(), f.weights().begin(), f.weights().end());
      u.features += f.features();
    }
  }
  compression::KMeansOptions km;
  const compression::SaecOptions library;
  km.init = library.head_init;
  km.tol = library.head_tol;
  km.seed = config.seed();
  km.max_iters = static_cast<int>(config.max_iters());
  std::vector<FieldCentroids> out;
  for (const auto& [field, u] : fields) {
    if (u.weights.empty()) continue;
    STRATA_ASSIGN_OR_RETURN(
        const compression::KMeansResult r,
        ClusterUnion(config, u, static_cast<int>(dim), km));
    FieldCentroids& c = out.emplace_back();
    c.set_field(field);
    c.set_values(r.centroids.data(), r.centroids.size() * sizeof(float));
  }
  return out;
}

absl::StatusOr<std::vector<FieldCentroids>> GatherHomedCentroids(
    const std::vector<SampleHeadResponse>& shards) {
  struct Field {
    std::vector<float> values;
    std::vector<bool> seen;
  };
  std::map<uint32_t, Field> fields;
  const auto bad = [](uint32_t field, const std::string& what) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cluster-wide centroids of field ", field, ": ", what));
  };
  for (const SampleHeadResponse& s : shards) {
    const size_t dim = s.dim();
    for (const HomedCentroids& h : s.homed()) {
      Field& f = fields[h.field()];
      if (f.seen.empty()) {
        f.seen.assign(h.clusters(), false);
        f.values.assign(size_t{h.clusters()} * dim, 0.f);
      }
      if (f.seen.size() != h.clusters() ||
          h.values().size() != h.ids_size() * dim * sizeof(float)) {
        return bad(h.field(), "the shards disagree on k or dim");
      }
      for (int i = 0; i < h.ids_size(); ++i) {
        const uint32_t c = h.ids(i);
        if (c >= f.seen.size() || f.seen[c]) {
          return bad(h.field(), absl::StrCat("cluster ", c, " is out of "
                                             "range or has two homes"));
        }
        f.seen[c] = true;
        std::memcpy(f.values.data() + c * dim,
                    h.values().data() + i * dim * sizeof(float),
                    dim * sizeof(float));
      }
    }
  }
  std::vector<FieldCentroids> out;
  for (const auto& [id, f] : fields) {
    for (size_t c = 0; c < f.seen.size(); ++c) {
      if (!f.seen[c]) return bad(id, absl::StrCat("cluster ", c, " has no home"));
    }
    FieldCentroids& c = out.emplace_back();
    c.set_field(id);
    c.set_values(f.values.data(), f.values.size() * sizeof(float));
  }
  return out;
}

}  // namespace internal
}  // namespace strata
