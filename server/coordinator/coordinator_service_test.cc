// Drives the real gRPC services in-process over 127.0.0.1 with the generated
// stubs, playing the part of worker daemons and stratactl.
#include "server/coordinator/coordinator_service.h"

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "proto/coordinator.grpc.pb.h"
#include "proto/rpc_util.h"
#include "server/coordinator/coordinator.h"

namespace strata {
namespace {

using ::testing::ElementsAre;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

// Bounds every call so a bug fails the test instead of hanging it.
constexpr absl::Duration kRpcDeadline = absl::Seconds(30);

void SetDeadline(grpc::ClientContext* ctx) {
  ctx->set_deadline(absl::ToChronoTime(absl::Now() + kRpcDeadline));
}

// A worker daemon's side of the protocol: registered node + open stream.
struct FakeWorker {
  std::string node_id;
  std::string secret;
  grpc::ClientContext ctx;
  std::unique_ptr<grpc::ClientReader<TaskCommand>> stream;
};

class CoordinatorServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Coordinator::Options options;
    options.tick_interval = absl::Milliseconds(20);
    coordinator_ = std::make_unique<Coordinator>(options);
    job_service_ = std::make_unique<JobServiceImpl>(coordinator_.get());
    node_service_ = std::make_unique<NodeServiceImpl>(coordinator_.get());
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port);
    builder.RegisterService(job_service_.get());
    builder.RegisterService(node_service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_NE(port, 0);
    auto channel = grpc::CreateCustomChannel(
        "127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials(),
        DefaultChannelArguments(kDefaultMaxMessageBytes));
    jobs_ = JobService::NewStub(channel);
    nodes_ = NodeService::NewStub(channel);
  }

  void TearDown() override {
    for (auto& w : workers_) w->ctx.TryCancel();
    coordinator_->Shutdown();
    server_->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
  }

  RegisterNodeResponse Register(NodeInfo node) {
    grpc::ClientContext ctx;
    SetDeadline(&ctx);
    RegisterNodeRequest req;
    *req.mutable_node() = std::move(node);
    RegisterNodeResponse resp;
    grpc::Status s = nodes_->RegisterNode(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    EXPECT_GT(resp.heartbeat_interval_ms(), 0u);
    return resp;
  }
  void RegisterPs() {
    NodeInfo ps;
    ps.set_role("ps");
    ps.set_address("127.0.0.1:9999");
    ps.set_num_shards(1);
    Register(ps);
  }
  FakeWorker& StartWorker() {
    auto w = std::make_unique<FakeWorker>();
    NodeInfo node;
    node.set_role("general");
    node.set_hostname("worker-host");
    const RegisterNodeResponse registered = Register(node);
    w->node_id = registered.node_id();
    w->secret = registered.node_secret();
    SetDeadline(&w->ctx);
    WatchTasksRequest req;
    req.set_node_id(w->node_id);
    req.set_node_secret(w->secret);
    w->stream = nodes_->WatchTasks(&w->ctx, req);
    workers_.push_back(std::move(w));
    return *workers_.back();
  }
  std::string Submit(uint32_t workers) {
    grpc::ClientContext ctx;
    SetDeadline(&ctx);
    SubmitJobRequest req;
    req.mutable_spec()->set_num_workers(workers);
    req.mutable_spec()->mutable_ps_load_test();
    SubmitJobResponse resp;
    grpc::Status s = jobs_->SubmitJob(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp.job_id();
  }
  TaskReportResponse Report(const FakeWorker& w, const std::string& task,
                            TaskReport::Kind kind, int64_t step,
                            std::map<std::string, double> metrics = {}) {
    grpc::ClientContext ctx;
    SetDeadline(&ctx);
    TaskReport report;
    report.set_task_id(task);
    report.set_node_id(w.node_id);
    report.set_node_secret(w.secret);
    report.set_kind(kind);
    report.set_step(step);
    report.set_total_steps(10);
    for (const auto& [k, v] : metrics) (*report.mutable_metrics())[k] = v;
    TaskReportResponse resp;
    grpc::Status s = nodes_->ReportTask(&ctx, report, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp;
  }
  absl::StatusOr<JobStatus> GetJob(const std::string& id) {
    grpc::ClientContext ctx;
    SetDeadline(&ctx);
    GetJobRequest req;
    req.set_job_id(id);
    JobStatus resp;
    grpc::Status s = jobs_->GetJob(&ctx, req, &resp);
    if (!s.ok()) return FromGrpcStatus(s);
    return resp;
  }
  // All events of a WatchJob stream and its final status.
  std::vector<JobEvent> WatchJob(const std::string& id, grpc::Status* status) {
    grpc::ClientContext ctx;
    SetDeadline(&ctx);
    WatchJobRequest req;
    req.set_job_id(id);
    auto reader = jobs_->WatchJob(&ctx, req);
    std::vector<JobEvent> events;
    JobEvent event;
    while (reader->Read(&event)) events.push_back(event);
    *status = reader->Finish();
    return events;
  }

  std::unique_ptr<Coordinator> coordinator_;
  std::unique_ptr<JobServiceImpl> job_service_;
  std::unique_ptr<NodeServiceImpl> node_service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<JobService::Stub> jobs_;
  std::unique_ptr<NodeService::Stub> nodes_;
  std::vector<std::unique_ptr<FakeWorker>> workers_;
};

std::vector<JobState> States(const std::vector<JobEvent>& events) {
  std::vector<JobState> states;
  for (const JobEvent& e : events) states.push_back(e.state());
  return states;
}

TEST_F(CoordinatorServiceTest, JobRunsToSuccessThroughFakeWorkers) {
  RegisterPs();
  FakeWorker& a = StartWorker();
  FakeWorker& b = StartWorker();
  const std::string job = Submit(2);
  ASSERT_EQ(job, "job-1");

  TaskCommand ca, cb;
  ASSERT_TRUE(a.stream->Read(&ca));
  ASSERT_TRUE(b.stream->Read(&cb));
  ASSERT_TRUE(ca.has_assign());
  EXPECT_EQ(ca.assign().task_id(), "job-1/task-0");
  EXPECT_EQ(cb.assign().task_id(), "job-1/task-1");
  EXPECT_THAT(ca.assign().ps_addresses(), ElementsAre("127.0.0.1:9999"));
  EXPECT_EQ(ca.assign().spec().ps_load_test().dim(), 16u) << "defaults";

  EXPECT_FALSE(
      Report(a, "job-1/task-0", TaskReport::PROGRESS, 5, {{"keys_per_s", 100}})
          .cancel());
  EXPECT_FALSE(Report(a, "job-1/task-0", TaskReport::SUCCEEDED, 10,
                      {{"keys_per_s", 200}, {"verified", 1000}})
                   .cancel());
  EXPECT_EQ(GetJob(job)->state(), RUNNING);
  Report(b, "job-1/task-1", TaskReport::SUCCEEDED, 10,
         {{"keys_per_s", 300}, {"verified", 1000}});

  absl::StatusOr<JobStatus> status = GetJob(job);
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->state(), SUCCEEDED);
  EXPECT_EQ(status->step(), 20);
  EXPECT_EQ(status->total_steps(), 20);
  EXPECT_THAT(status->metrics(), UnorderedElementsAre(Pair("keys_per_s", 500),
                                                      Pair("verified", 2000)));
  EXPECT_THAT(status->assigned_nodes(), ElementsAre(a.node_id, b.node_id));

  grpc::Status watch_status;
  std::vector<JobEvent> events = WatchJob(job, &watch_status);
  EXPECT_TRUE(watch_status.ok()) << watch_status.error_message();
  EXPECT_THAT(States(events),
              ElementsAre(PENDING, RUNNING, RUNNING, RUNNING, SUCCEEDED));
  EXPECT_EQ(events.back().metrics().at("keys_per_s"), 500);
}

TEST_F(CoordinatorServiceTest, WatchJobStreamsEventsAsTheyHappen) {
  RegisterPs();
  FakeWorker& w = StartWorker();
  const std::string job = Submit(1);
  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  WatchJobRequest req;
  req.set_job_id(job);
  auto reader = jobs_->WatchJob(&ctx, req);
  JobEvent event;
  ASSERT_TRUE(reader->Read(&event));
  EXPECT_EQ(event.state(), PENDING);
  TaskCommand cmd;
  ASSERT_TRUE(w.stream->Read(&cmd));
  ASSERT_TRUE(reader->Read(&event));
  EXPECT_EQ(event.state(), RUNNING);
  Report(w, cmd.assign().task_id(), TaskReport::PROGRESS, 3);
  ASSERT_TRUE(reader->Read(&event));
  EXPECT_EQ(event.step(), 3);
  Report(w, cmd.assign().task_id(), TaskReport::SUCCEEDED, 10);
  ASSERT_TRUE(reader->Read(&event));
  EXPECT_EQ(event.state(), SUCCEEDED);
  EXPECT_FALSE(reader->Read(&event));
  EXPECT_TRUE(reader->Finish().ok());
}

TEST_F(CoordinatorServiceTest, CancelDeliversCancelCommandToTheWorker) {
  RegisterPs();
  FakeWorker& w = StartWorker();
  const std::string job = Submit(1);
  TaskCommand cmd;
  ASSERT_TRUE(w.stream->Read(&cmd));
  ASSERT_TRUE(cmd.has_assign());

  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  CancelJobRequest req;
  req.set_job_id(job);
  CancelJobResponse resp;
  ASSERT_TRUE(jobs_->CancelJob(&ctx, req, &resp).ok());
  EXPECT_EQ(resp.state(), CANCELLED);

  ASSERT_TRUE(w.stream->Read(&cmd));
  EXPECT_EQ(cmd.cancel_task_id(), job + "/task-0");
  EXPECT_TRUE(Report(w, job + "/task-0", TaskReport::CANCELLED, 2).cancel());

  grpc::Status watch_status;
  std::vector<JobEvent> events = WatchJob(job, &watch_status);
  EXPECT_TRUE(watch_status.ok());
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().state(), CANCELLED);
  EXPECT_EQ(GetJob(job)->state(), CANCELLED);

  grpc::ClientContext again;
  SetDeadline(&again);
  EXPECT_EQ(jobs_->CancelJob(&again, req, &resp).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
}

TEST_F(CoordinatorServiceTest, UnknownIdsAreNotFound) {
  EXPECT_EQ(GetJob("job-42").status().code(), absl::StatusCode::kNotFound);

  grpc::ClientContext cancel_ctx;
  SetDeadline(&cancel_ctx);
  CancelJobRequest cancel;
  cancel.set_job_id("job-42");
  CancelJobResponse cancel_resp;
  EXPECT_EQ(jobs_->CancelJob(&cancel_ctx, cancel, &cancel_resp).error_code(),
            grpc::StatusCode::NOT_FOUND);

  grpc::Status watch_status;
  EXPECT_TRUE(WatchJob("job-42", &watch_status).empty());
  EXPECT_EQ(watch_status.error_code(), grpc::StatusCode::NOT_FOUND);

  grpc::ClientContext hb_ctx;
  SetDeadline(&hb_ctx);
  HeartbeatRequest hb;
  hb.set_node_id("node-42");
  HeartbeatResponse hb_resp;
  EXPECT_EQ(nodes_->Heartbeat(&hb_ctx, hb, &hb_resp).error_code(),
            grpc::StatusCode::NOT_FOUND);

  grpc::ClientContext watch_ctx;
  SetDeadline(&watch_ctx);
  WatchTasksRequest watch;
  watch.set_node_id("node-42");
  auto reader = nodes_->WatchTasks(&watch_ctx, watch);
  TaskCommand cmd;
  EXPECT_FALSE(reader->Read(&cmd));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(CoordinatorServiceTest, InvalidSpecIsInvalidArgument) {
  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  SubmitJobRequest req;  // empty spec: no job type
  SubmitJobResponse resp;
  grpc::Status s = jobs_->SubmitJob(&ctx, req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  // The list of job types grows with each job type; its start is fixed.
  EXPECT_EQ(s.error_message().rfind(
                "job spec sets no job type; set one of: ps_load_test", 0),
            0u)
      << s.error_message();
}

TEST_F(CoordinatorServiceTest, MalformedRegistrationIsRefusedAndStoresNothing) {
  NodeInfo node;
  node.set_role("conv workers");
  node.set_address("10.0.0.7:7100");
  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  RegisterNodeRequest req;
  *req.mutable_node() = node;
  RegisterNodeResponse resp;
  grpc::Status s = nodes_->RegisterNode(&ctx, req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(),
            "node role 'conv workers' may hold only letters, digits and _ . : "
            "/ -");

  grpc::ClientContext bad_address;
  SetDeadline(&bad_address);
  req.mutable_node()->set_role("conv");
  req.mutable_node()->set_address("10.0.0.7");
  EXPECT_EQ(nodes_->RegisterNode(&bad_address, req, &resp).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  grpc::ClientContext cluster_ctx;
  SetDeadline(&cluster_ctx);
  ClusterResponse cluster;
  ASSERT_TRUE(
      nodes_->GetCluster(&cluster_ctx, ClusterRequest(), &cluster).ok());
  EXPECT_EQ(cluster.nodes_size(), 0);
  node.set_role("conv");
  EXPECT_EQ(Register(node).node_id(), "node-1") << "still serving";
}

TEST_F(CoordinatorServiceTest, ClusterListsNodesAndPsAddresses) {
  RegisterPs();
  FakeWorker& w = StartWorker();
  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  ClusterResponse cluster;
  ASSERT_TRUE(nodes_->GetCluster(&ctx, ClusterRequest(), &cluster).ok());
  ASSERT_EQ(cluster.nodes_size(), 2);
  EXPECT_EQ(cluster.nodes(1).node_id(), w.node_id);
  EXPECT_EQ(cluster.nodes(1).hostname(), "worker-host");
  EXPECT_TRUE(cluster.nodes(1).alive());
  EXPECT_THAT(cluster.ps_addresses(), ElementsAre("127.0.0.1:9999"));

  grpc::ClientContext list_ctx;
  SetDeadline(&list_ctx);
  Submit(1);
  ListJobsResponse list;
  ASSERT_TRUE(jobs_->ListJobs(&list_ctx, ListJobsRequest(), &list).ok());
  ASSERT_EQ(list.jobs_size(), 1);
  EXPECT_EQ(list.jobs(0).job_id(), "job-1");
}

}  // namespace
}  // namespace strata
