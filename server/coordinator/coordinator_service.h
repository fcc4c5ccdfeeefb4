// gRPC services of the coordinator (sync API): strata::JobService for
// stratactl, strata::NodeService for worker daemons and parameter-server
// shards, strata::ClusterAdminService for admins. Thin: they translate
// protos, learn the caller (security::CallerIdentity: nullopt over
// plaintext) and call Coordinator, which applies the identity rules.
#ifndef STRATA_SERVER_COORDINATOR_COORDINATOR_SERVICE_H_
#define STRATA_SERVER_COORDINATOR_COORDINATOR_SERVICE_H_

#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "proto/coordinator.grpc.pb.h"
#include "server/coordinator/coordinator.h"

namespace strata {

struct CoordinatorServiceOptions {
  // Server streams (WatchJob, WatchTasks) wait for news in slices of this
  // length and check for client cancellation between slices. Shorter notices
  // a cancelled client sooner at the cost of more wake-ups per open stream.
  absl::Duration stream_slice = absl::Milliseconds(200);
};

// Thread-safe (all state is in Coordinator). Does not own the coordinator,
// which must outlive the service and the server it is registered with.
class JobServiceImpl final : public JobService::Service {
 public:
  explicit JobServiceImpl(Coordinator* coordinator,
                          CoordinatorServiceOptions options = {});

  grpc::Status SubmitJob(grpc::ServerContext* context,
                         const SubmitJobRequest* request,
                         SubmitJobResponse* response) override;
  grpc::Status GetJob(grpc::ServerContext* context,
                      const GetJobRequest* request,
                      JobStatus* response) override;
  grpc::Status ListJobs(grpc::ServerContext* context,
                        const ListJobsRequest* request,
                        ListJobsResponse* response) override;
  grpc::Status CancelJob(grpc::ServerContext* context,
                         const CancelJobRequest* request,
                         CancelJobResponse* response) override;
  // Replays the job's events, then streams new ones; OK after the terminal
  // event, CANCELLED if the client goes away, UNAVAILABLE on shutdown.
  grpc::Status WatchJob(grpc::ServerContext* context,
                        const WatchJobRequest* request,
                        grpc::ServerWriter<JobEvent>* writer) override;

 private:
  Coordinator* const coordinator_;
  const CoordinatorServiceOptions options_;
};

// Thread-safe; same ownership as JobServiceImpl.
class ClusterAdminServiceImpl final : public ClusterAdminService::Service {
 public:
  explicit ClusterAdminServiceImpl(Coordinator* coordinator);

  // Coordinator::Checkpoint.
  grpc::Status Checkpoint(grpc::ServerContext* context,
                          const ClusterCheckpointRequest* request,
                          ClusterCheckpointResponse* response) override;

 private:
  Coordinator* const coordinator_;
};

// Thread-safe; same ownership as JobServiceImpl.
class NodeServiceImpl final : public NodeService::Service {
 public:
  explicit NodeServiceImpl(Coordinator* coordinator,
                           CoordinatorServiceOptions options = {});

  grpc::Status RegisterNode(grpc::ServerContext* context,
                            const RegisterNodeRequest* request,
                            RegisterNodeResponse* response) override;
  grpc::Status Heartbeat(grpc::ServerContext* context,
                         const HeartbeatRequest* request,
                         HeartbeatResponse* response) override;
  grpc::Status GetCluster(grpc::ServerContext* context,
                          const ClusterRequest* request,
                          ClusterResponse* response) override;
  // Streams the node's task commands while it is alive, after re-attaching
  // the tasks the request lists (Coordinator::OpenTaskStream). Ends with
  // FAILED_PRECONDITION when the node is (or is declared) dead, NOT_FOUND for
  // unknown ids, PERMISSION_DENIED for a wrong node secret, ABORTED when a
  // newer stream for the node replaces it,
  // CANCELLED when the client goes away, UNAVAILABLE on shutdown.
  grpc::Status WatchTasks(grpc::ServerContext* context,
                          const WatchTasksRequest* request,
                          grpc::ServerWriter<TaskCommand>* writer) override;
  grpc::Status ReportTask(grpc::ServerContext* context,
                          const TaskReport* request,
                          TaskReportResponse* response) override;

 private:
  Coordinator* const coordinator_;
  const CoordinatorServiceOptions options_;
};

}  // namespace strata

#endif  // STRATA_SERVER_COORDINATOR_COORDINATOR_SERVICE_H_
