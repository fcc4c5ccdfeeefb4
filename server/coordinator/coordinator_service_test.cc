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
#include "server/ps/testing/local_shards.h"
#include "server/security/credentials.h"
#include "server/security/testing/test_certs.h"

namespace strata {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
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


// Over mutual TLS with certificates from tools/certs.sh: the identity-bound
// checks (docs/security.md, "Identity rules").
class CoordinatorTlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(security::testing::MakeCluster(
        "coordinator-certs", 2,
        "alice:operator bob:operator root:admin carol:reader"));
    ASSERT_FALSE(dir_->empty());
    ASSERT_TRUE(security::testing::RunCertsScript(
        absl::StrCat("issue ", *dir_, " worker worker-2")));
  }
  void SetUp() override {
    Coordinator::Options options;
    options.tick_interval = absl::Milliseconds(20);
    options.credentials =
        security::testing::CredentialsOf(*dir_, "coordinator");
    coordinator_ = std::make_unique<Coordinator>(options);
    jobs_ = std::make_unique<JobServiceImpl>(coordinator_.get());
    nodes_ = std::make_unique<NodeServiceImpl>(coordinator_.get());
    admin_ = std::make_unique<ClusterAdminServiceImpl>(coordinator_.get());
    grpc::ServerBuilder builder;
    int port = 0;
    ASSERT_TRUE(options.credentials
                    ->ConfigureServer("127.0.0.1:0", &builder, &port)
                    .ok());
    builder.RegisterService(jobs_.get());
    builder.RegisterService(nodes_.get());
    builder.RegisterService(admin_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    address_ = absl::StrCat("127.0.0.1:", port);
  }
  void TearDown() override {
    coordinator_->Shutdown();
    server_->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
  }

  template <typename Service>
  std::unique_ptr<typename Service::Stub> As(const std::string& who) {
    return Service::NewStub(
        security::testing::ChannelAs(*dir_, who, address_));
  }
  grpc::Status Register(const std::string& who, const NodeInfo& node,
                        RegisterNodeResponse* resp,
                        const RegisterNodeResponse* claim = nullptr) {
    grpc::ClientContext ctx;
    SetDeadline(&ctx);
    RegisterNodeRequest req;
    *req.mutable_node() = node;
    if (claim != nullptr) {
      req.set_node_id(claim->node_id());
      req.set_node_secret(claim->node_secret());
    }
    return As<NodeService>(who)->RegisterNode(&ctx, req, resp);
  }
  static NodeInfo Shard(uint32_t shard, uint32_t num_shards,
                        const std::string& address = "127.0.0.1:9999") {
    NodeInfo node;
    node.set_role("ps");
    node.set_address(address);
    node.set_shard_id(shard);
    node.set_num_shards(num_shards);
    return node;
  }
  static NodeInfo Worker(const std::string& role) {
    NodeInfo node;
    node.set_role(role);
    return node;
  }
  grpc::Status Submit(const std::string& who, std::string* job_id) {
    grpc::ClientContext ctx;
    SetDeadline(&ctx);
    SubmitJobRequest req;
    req.mutable_spec()->set_num_workers(1);
    req.mutable_spec()->mutable_ps_load_test();
    SubmitJobResponse resp;
    const grpc::Status s = As<JobService>(who)->SubmitJob(&ctx, req, &resp);
    *job_id = resp.job_id();
    return s;
  }
  grpc::Status Cancel(const std::string& who, const std::string& job_id) {
    grpc::ClientContext ctx;
    SetDeadline(&ctx);
    CancelJobRequest req;
    req.set_job_id(job_id);
    CancelJobResponse resp;
    return As<JobService>(who)->CancelJob(&ctx, req, &resp);
  }
  grpc::Status Checkpoint(const std::string& who,
                          ClusterCheckpointResponse* resp) {
    grpc::ClientContext ctx;
    SetDeadline(&ctx);
    return As<ClusterAdminService>(who)->Checkpoint(
        &ctx, ClusterCheckpointRequest(), resp);
  }

  static std::string* dir_;
  std::unique_ptr<Coordinator> coordinator_;
  std::unique_ptr<JobServiceImpl> jobs_;
  std::unique_ptr<NodeServiceImpl> nodes_;
  std::unique_ptr<ClusterAdminServiceImpl> admin_;
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
};
std::string* CoordinatorTlsTest::dir_ = nullptr;

TEST_F(CoordinatorTlsTest, NodesRegisterOnlyAsWhatTheirCertificateSays) {
  RegisterNodeResponse resp;
  grpc::Status s = Register("ps-0", Shard(1, 2), &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(s.error_message(),
            "spiffe://strata/shard/ps-0 may not register as parameter-server "
            "shard 1: its certificate is for ps-1 only");
  EXPECT_EQ(Register("ps-0", Worker("general"), &resp).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(Register("worker", Shard(0, 2), &resp).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(Register("alice", Worker("general"), &resp).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(coordinator_->registry().List().empty()) << "nothing taken";
  EXPECT_TRUE(Register("ps-0", Shard(0, 2), &resp).ok());
  EXPECT_TRUE(Register("ps-1", Shard(1, 2), &resp).ok());
  for (const char* role : {"general", "conv", "fc"}) {
    EXPECT_TRUE(Register("worker", Worker(role), &resp).ok()) << role;
  }
}

TEST_F(CoordinatorTlsTest, AShardWithAnotherShardCountIsFailedPrecondition) {
  RegisterNodeResponse resp;
  ASSERT_TRUE(Register("ps-0", Shard(0, 2), &resp).ok());
  const grpc::Status s = Register("ps-1", Shard(1, 3), &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(s.error_message(),
              HasSubstr("says num_shards 3, but the live shards have 2"));
}

TEST_F(CoordinatorTlsTest, ANodeIsServedOnlyToTheIdentityThatRegisteredIt) {
  RegisterNodeResponse mine;
  ASSERT_TRUE(Register("worker", Worker("general"), &mine).ok());
  const std::string denied =
      "spiffe://strata/worker/worker-2 may not act for node node-1, which "
      "spiffe://strata/worker/worker registered";
  {
    grpc::ClientContext ctx;
    SetDeadline(&ctx);
    HeartbeatRequest req;
    req.set_node_id(mine.node_id());
    req.set_node_secret(mine.node_secret());
    HeartbeatResponse resp;
    const grpc::Status s =
        As<NodeService>("worker-2")->Heartbeat(&ctx, req, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
    EXPECT_EQ(s.error_message(), denied);
    grpc::ClientContext own;
    SetDeadline(&own);
    EXPECT_TRUE(As<NodeService>("worker")->Heartbeat(&own, req, &resp).ok());
  }
  {
    grpc::ClientContext ctx;
    SetDeadline(&ctx);
    WatchTasksRequest req;
    req.set_node_id(mine.node_id());
    req.set_node_secret(mine.node_secret());
    auto stream = As<NodeService>("worker-2")->WatchTasks(&ctx, req);
    TaskCommand command;
    EXPECT_FALSE(stream->Read(&command));
    const grpc::Status s = stream->Finish();
    EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
    EXPECT_EQ(s.error_message(), denied);
  }
  {
    grpc::ClientContext ctx;
    SetDeadline(&ctx);
    TaskReport report;
    report.set_task_id("job-1/task-0");
    report.set_node_id(mine.node_id());
    report.set_node_secret(mine.node_secret());
    TaskReportResponse resp;
    const grpc::Status s =
        As<NodeService>("worker-2")->ReportTask(&ctx, report, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
    EXPECT_EQ(s.error_message(), denied);
  }
  RegisterNodeResponse again;
  EXPECT_EQ(Register("worker-2", Worker("general"), &again, &mine).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  ASSERT_TRUE(Register("worker", Worker("general"), &again, &mine).ok());
  EXPECT_EQ(again.node_id(), mine.node_id()) << "re-attached";
}

TEST_F(CoordinatorTlsTest, OperatorsCancelOnlyTheirOwnJobsAdminsAny) {
  std::string job;
  ASSERT_TRUE(Submit("alice", &job).ok());
  EXPECT_EQ(coordinator_->jobs().Get(job)->owner(),
            "spiffe://strata/operator/alice");
  const grpc::Status s = Cancel("bob", job);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(s.error_message(),
            "spiffe://strata/operator/bob may not cancel job-1: job-1 belongs "
            "to spiffe://strata/operator/alice; only its owner or an admin "
            "may cancel it");
  EXPECT_EQ(coordinator_->jobs().Get(job)->state(), PENDING);
  EXPECT_EQ(Cancel("carol", job).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(Cancel("alice", job).ok());
  std::string other;
  ASSERT_TRUE(Submit("bob", &other).ok());
  EXPECT_TRUE(Cancel("root", other).ok());
  EXPECT_EQ(coordinator_->jobs().Get(other)->state(), CANCELLED);
  EXPECT_EQ(Cancel("bob", "job-99").error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(CoordinatorTlsTest, OnlyAnAdminCheckpointsUnderAnIdTheCoordinatorPicks) {
  PsServerOptions so;
  so.data_dir = ::testing::TempDir() + "/coordinator_tls_checkpoint";
  so.credentials = security::testing::CredentialsOf(*dir_, "ps-0");
  auto shards = testing::LocalShards::Start(1, so);
  ASSERT_TRUE(shards.ok()) << shards.status();
  ClusterCheckpointResponse resp;
  EXPECT_EQ(Checkpoint("root", &resp).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION)
      << "no shard registered yet";
  RegisterNodeResponse registered;
  ASSERT_TRUE(
      Register("ps-0", Shard(0, 1, (*shards)->addresses()[0]), &registered)
          .ok());
  EXPECT_EQ(Checkpoint("alice", &resp).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(Checkpoint("worker", &resp).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  const grpc::Status s = Checkpoint("root", &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  const uint64_t first = resp.checkpoint_id();
  EXPECT_GT(first, 0u);
  ASSERT_EQ(resp.shards_size(), 1);
  EXPECT_EQ(resp.shards(0).checkpoint_id(), first);
  EXPECT_THAT(resp.addresses(), ElementsAre((*shards)->addresses()[0]));
  ASSERT_TRUE(Checkpoint("root", &resp).ok());
  EXPECT_GT(resp.checkpoint_id(), first);
}

}  // namespace
}  // namespace strata
