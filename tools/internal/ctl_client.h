// The RPC side of stratactl: one object that owns a channel per server
// address, puts a deadline on every call to the coordinator (and on health
// checks of any node) and turns gRPC failures into absl::Status errors whose
// message says which server and call failed. The parameter-server shards are
// administered through a PsAdminClient (server/client), made by
// ConnectShards from the cluster the coordinator reports.
#ifndef STRATA_TOOLS_INTERNAL_CTL_CLIENT_H_
#define STRATA_TOOLS_INTERNAL_CTL_CLIENT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "proto/coordinator.grpc.pb.h"
#include "proto/grpc/health/v1/health.grpc.pb.h"
#include "proto/job.pb.h"
#include "proto/rpc_util.h"
#include "server/client/ps_admin_client.h"
#include "server/security/credentials.h"

namespace strata {
namespace ctl {

struct CtlClientOptions {
  // HOST:PORT of the coordinator.
  std::string coordinator = "127.0.0.1:7070";
  // Deadline of each unary call. Checkpointing or loading large tables can
  // take longer than the default; a long deadline only matters for a server
  // that accepts the call and then hangs (an unreachable one fails at once).
  absl::Duration rpc_timeout = absl::Seconds(10);
  // Deadline of a whole WatchJob stream. Jobs run for hours, so none by
  // default; channel keepalive still notices a coordinator that vanished.
  absl::Duration watch_timeout = absl::InfiniteDuration();
  // Largest message sent or received (ListTables of many tables, big specs).
  int max_message_bytes = kDefaultMaxMessageBytes;
  // Transport security of every channel (docs/security.md); null: plaintext.
  std::shared_ptr<const security::Credentials> credentials;
};

// Thread-safe: the channel cache is guarded by mu_, and stubs are made per
// call, so nodes can be checked in parallel. Owns its channels.
//
// Errors keep the server's status code. Their messages name the method and
// server ("GetJob on coordinator 127.0.0.1:7070: job j-9 not found"); a
// server that cannot be reached gives UNAVAILABLE "coordinator
// 127.0.0.1:7070 unreachable: ...", a deadline DEADLINE_EXCEEDED "... no
// reply within 10s".
class CtlClient {
 public:
  using ServingStatus = grpc::health::v1::HealthCheckResponse::ServingStatus;

  explicit CtlClient(CtlClientOptions options);

  const std::string& coordinator() const { return options_.coordinator; }
  absl::Duration rpc_timeout() const { return options_.rpc_timeout; }

  // grpc.health.v1 Check (overall service "") on the server at `address`;
  // `label` names it in errors ("coordinator", "ps shard 1").
  absl::StatusOr<ServingStatus> CheckHealth(absl::string_view label,
                                            const std::string& address);

  // JobService on the coordinator.
  absl::StatusOr<std::string> SubmitJob(const JobSpec& spec);
  absl::StatusOr<JobStatus> GetJob(const std::string& job_id);
  absl::StatusOr<ListJobsResponse> ListJobs();
  absl::StatusOr<JobState> CancelJob(const std::string& job_id);
  // Calls `on_event` for each event, in order, until the stream ends. OK
  // when the coordinator closed the stream normally.
  absl::Status WatchJob(const std::string& job_id,
                        const std::function<void(const JobEvent&)>& on_event);

  // NodeService on the coordinator.
  absl::StatusOr<ClusterResponse> GetCluster();

  // ClusterAdminService on the coordinator: a consistent checkpoint of
  // every shard under an id the coordinator picks.
  absl::StatusOr<ClusterCheckpointResponse> Checkpoint();

  // A PsAdminClient for the shards at `addresses` (by shard id) with this
  // client's deadline and message size and no retries, so a dead shard is
  // reported at once. Checkpoint and Load get the deadline; Compress 60
  // times it (clustering a large table takes minutes).
  absl::StatusOr<std::unique_ptr<PsAdminClient>> ConnectShards(
      const std::vector<std::string>& addresses) const;

 private:
  std::shared_ptr<grpc::Channel> ChannelTo(const std::string& address);
  void SetDeadline(grpc::ClientContext* context) const;
  absl::Status Failure(const grpc::Status& status, absl::string_view method,
                       absl::string_view label,
                       absl::string_view address) const;

  // Constant after construction.
  const CtlClientOptions options_;

  absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<grpc::Channel>> channels_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace ctl
}  // namespace strata

#endif  // STRATA_TOOLS_INTERNAL_CTL_CLIENT_H_
