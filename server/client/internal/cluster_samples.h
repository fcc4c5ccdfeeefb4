// The central step of a cluster-wide compression (docs/saec.md,
// "Cluster-wide clusters"): one clustering per field over the union of the
// shards' SampleHead samples. Plain functions; thread-safe.
#ifndef STRATA_SERVER_CLIENT_INTERNAL_CLUSTER_SAMPLES_H_
#define STRATA_SERVER_CLIENT_INTERNAL_CLUSTER_SAMPLES_H_

#include <vector>

#include "absl/status/statusor.h"
#include "proto/ps.pb.h"

namespace strata {
namespace internal {

// Per field (ascending), frequency-weighted k-means (Saec's head
// clusterer: batched k-means++ seeding, head tolerance) over every shard's
// samples of it, weighted as sent. k comes from the shards' normalized
// config: `clusters` when > 0, else with `max_mse` the fewest clusters
// whose weighted MSE on the samples meets it (compression's
// SearchDistortionBudget, each probe a k-means of the samples), else the
// most clusters that still reach `target_ratio` for the field's features
// on all shards together (ClustersForTargetRatio); at most the number of
// samples (the shards refuse more than kMaxClusterWideClusters).
// INVALID_ARGUMENT for responses that disagree on dim or config, and
// samples whose vectors and weights do not match.
absl::StatusOr<std::vector<FieldCentroids>> ClusterSamples(
    const std::vector<SampleHeadResponse>& shards);

// For a table already compressed cluster-wide (every response has
// cluster_wide): each field's current centroids assembled from the shards'
// homed parts. FAILED_PRECONDITION when a cluster has no home or two, or
// the parts do not match the dim.
absl::StatusOr<std::vector<FieldCentroids>> GatherHomedCentroids(
    const std::vector<SampleHeadResponse>& shards);

}  // namespace internal
}  // namespace strata

#endif  // STRATA_SERVER_CLIENT_INTERNAL_CLUSTER_SAMPLES_H_
