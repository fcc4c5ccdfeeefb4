// Fuzz target: the coordinator's RPC handlers (JobService and NodeService,
// every method of proto/coordinator.proto), called in-process on the service
// classes of a fresh coordinator per input: a fake clock, no background
// thread, small limits (8 nodes, 8 workers per job, 4 pending and 4 finished
// jobs, 16 events per job, report messages of 64 bytes, 8 metrics of 32-byte
// names). The input is a sequence of records `u8 op | u16 length (LE) |
// length bytes`; ops (op % 11):
//   0 SubmitJob, 1 GetJob, 2 ListJobs, 3 CancelJob, 4 WatchJob,
//   5 RegisterNode, 6 Heartbeat, 7 GetCluster, 8 WatchTasks, 9 ReportTask:
//     the bytes are the request message in protobuf binary form (a record
//     that does not parse is skipped, as gRPC would refuse it); a
//     node_secret of "S" stands for the secret the request's node_id got
//     from RegisterNode (secrets are random: inputs could not guess them);
//   10 Tick: the first two bytes (LE) are milliseconds to advance the clock
//     by, then one scheduling pass (Coordinator::Tick).
// The unary handlers are called directly. The streaming ones (WatchJob,
// WatchTasks) write to a grpc::ServerWriter, which only gRPC can make: they
// are called through a process-wide gRPC server on an in-process channel
// whose services forward to this input's service objects, with a 5 ms
// deadline (at most 4 streams per input, so an input stays fast).
// Checked besides "no crash, no sanitizer report":
//   - no handler answers INTERNAL, UNKNOWN or DATA_LOSS;
//   - every response and streamed message parses back (a client can read
//     it: proto3 strings must stay valid UTF-8);
//   - the registry never holds more than its max_nodes nodes;
//   - a refused SubmitJob leaves the jobs as they were (no job behind), a
//     refused RegisterNode leaves the registry as it was.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "glog/logging.h"
#include "google/protobuf/util/message_differencer.h"
#include "grpcpp/grpcpp.h"
#include "proto/coordinator.grpc.pb.h"
#include "server/coordinator/coordinator.h"
#include "server/coordinator/coordinator_service.h"
#include "server/util/clock.h"
#include "third_party/fuzz/rpc_records.h"

namespace {

using namespace strata;  // NOLINT: the many request and response names
using google::protobuf::util::MessageDifferencer;

constexpr size_t kMaxNodes = 8;
constexpr int kMaxStreamsPerInput = 4;
constexpr absl::Duration kStreamDeadline = absl::Milliseconds(5);

bool Acceptable(const grpc::Status& s) {
  return s.error_code() != grpc::StatusCode::INTERNAL &&
         s.error_code() != grpc::StatusCode::UNKNOWN &&
         s.error_code() != grpc::StatusCode::DATA_LOSS;
}

void CheckAcceptable(const char* rpc, const grpc::Status& s) {
  CHECK(Acceptable(s)) << rpc << ": " << s.error_code() << " "
                       << s.error_message();
}

// A client can read `message`: it serializes and parses back.
void CheckReadable(const google::protobuf::Message& message) {
  std::string bytes;
  CHECK(message.SerializeToString(&bytes)) << message.GetTypeName();
  std::unique_ptr<google::protobuf::Message> back(message.New());
  CHECK(back->ParseFromString(bytes))
      << message.GetTypeName()
      << " does not parse back: " << message.ShortDebugString();
}

// The current input's service objects, for the streaming calls of the
// process-wide server. Thread-safe: gRPC's threads run the handlers.
class Router {
 public:
  void Bind(JobServiceImpl* jobs, NodeServiceImpl* nodes) {
    absl::MutexLock lock(&mu_);
    jobs_ = jobs;
    nodes_ = nodes;
  }
  // Waits for the handlers in flight, then forgets the services.
  void Unbind() {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](int* n) { return *n == 0; }, &in_flight_));
    jobs_ = nullptr;
    nodes_ = nullptr;
  }
  // Runs `handler` on the bound services (CANCELLED when none: a call of
  // an input already over) and checks its status.
  template <typename Handler>
  grpc::Status Run(const char* rpc, Handler handler) {
    JobServiceImpl* jobs;
    NodeServiceImpl* nodes;
    {
      absl::MutexLock lock(&mu_);
      if (jobs_ == nullptr) return grpc::Status::CANCELLED;
      jobs = jobs_;
      nodes = nodes_;
      ++in_flight_;
      ++started_;
    }
    const grpc::Status s = handler(jobs, nodes);
    CheckAcceptable(rpc, s);
    absl::MutexLock lock(&mu_);
    --in_flight_;
    return s;
  }
  // Waits (a little) until a handler started after `started` has ended.
  void AwaitHandler(uint64_t started) {
    absl::MutexLock lock(&mu_);
    auto done = [this, started]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return started_ > started && in_flight_ == 0;
    };
    mu_.AwaitWithTimeout(absl::Condition(&done), absl::Seconds(1));
  }
  uint64_t started() {
    absl::MutexLock lock(&mu_);
    return started_;
  }

 private:
  absl::Mutex mu_;
  JobServiceImpl* jobs_ ABSL_GUARDED_BY(mu_) = nullptr;
  NodeServiceImpl* nodes_ ABSL_GUARDED_BY(mu_) = nullptr;
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t started_ ABSL_GUARDED_BY(mu_) = 0;
};

// The streaming methods of the process-wide server, forwarded through the
// router (not owned; outlives them). Thread-safe as the router is.
class JobForwarder final : public JobService::Service {
 public:
  explicit JobForwarder(Router* router) : router_(router) {}
  grpc::Status WatchJob(grpc::ServerContext* ctx, const WatchJobRequest* req,
                        grpc::ServerWriter<JobEvent>* writer) override {
    return router_->Run("WatchJob", [&](JobServiceImpl* j, NodeServiceImpl*) {
      return j->WatchJob(ctx, req, writer);
    });
  }

 private:
  Router* const router_;
};

// As JobForwarder, for NodeService.
class NodeForwarder final : public NodeService::Service {
 public:
  explicit NodeForwarder(Router* router) : router_(router) {}
  grpc::Status WatchTasks(grpc::ServerContext* ctx,
                          const WatchTasksRequest* req,
                          grpc::ServerWriter<TaskCommand>* writer) override {
    return router_->Run("WatchTasks", [&](JobServiceImpl*, NodeServiceImpl* n) {
      return n->WatchTasks(ctx, req, writer);
    });
  }

 private:
  Router* const router_;
};

// The process-wide in-process server for the streaming calls; never
// destroyed (libFuzzer exits without running destructors).
struct StreamServer {
  Router router;
  JobForwarder jobs{&router};
  NodeForwarder nodes{&router};
  std::unique_ptr<grpc::Server> server;
  std::unique_ptr<JobService::Stub> job_stub;
  std::unique_ptr<NodeService::Stub> node_stub;

  StreamServer() {
    grpc::ServerBuilder builder;
    builder.RegisterService(&jobs);
    builder.RegisterService(&nodes);
    server = builder.BuildAndStart();
    CHECK(server != nullptr);
    auto channel = server->InProcessChannel(grpc::ChannelArguments());
    job_stub = JobService::NewStub(channel);
    node_stub = NodeService::NewStub(channel);
  }
};

StreamServer& Streams() {
  static StreamServer* const streams = new StreamServer;
  return *streams;
}

// Reads a server stream to its end under a short deadline, checking each
// message, then waits for the forwarded handler (which checks its status).
template <typename Resp, typename Open>
void Stream(Open open) {
  StreamServer& s = Streams();
  const uint64_t started = s.router.started();
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + kStreamDeadline));
  std::unique_ptr<grpc::ClientReader<Resp>> reader = open(&ctx);
  Resp message;
  while (reader->Read(&message)) CheckReadable(message);
  const grpc::Status status = reader->Finish();
  CHECK(status.error_code() != grpc::StatusCode::INTERNAL)
      << "client side: " << status.error_message();
  s.router.AwaitHandler(started);
}

// One input's coordinator and services, owned; bound to the router while it
// lives. Used by the fuzzing thread only.
struct Cluster {
  FakeClock clock;
  std::unique_ptr<Coordinator> coordinator;
  std::unique_ptr<JobServiceImpl> jobs;
  std::unique_ptr<NodeServiceImpl> nodes;
  int streams = 0;
  std::map<std::string, std::string> secrets;  // node id -> secret

  Cluster() {
    Coordinator::Options o;
    o.background_thread = false;
    o.delivery_timeout = absl::Seconds(10);
    o.registry.max_nodes = kMaxNodes;
    o.registry.dead_node_retention = absl::Seconds(60);
    o.scheduler.schedule_timeout = absl::Seconds(10);
    o.jobs.limits.max_workers = 8;
    o.jobs.limits.max_dataset_bytes = 1 << 20;
    o.jobs.max_pending_jobs = 4;
    o.jobs.max_finished_jobs = 4;
    o.jobs.max_events_per_job = 16;
    o.jobs.max_report_message_bytes = 64;
    o.jobs.max_report_metrics = 8;
    o.jobs.max_metric_name_bytes = 32;
    o.jobs.task_release_grace = absl::Seconds(5);
    coordinator = std::make_unique<Coordinator>(o, &clock);
    CoordinatorServiceOptions so;
    so.stream_slice = absl::Milliseconds(1);
    jobs = std::make_unique<JobServiceImpl>(coordinator.get(), so);
    nodes = std::make_unique<NodeServiceImpl>(coordinator.get(), so);
    Streams().router.Bind(jobs.get(), nodes.get());
  }
  ~Cluster() {
    coordinator->Shutdown();
    Streams().router.Unbind();
  }
};

// The node_id and node_secret fields of `message`, when it has both.
struct SecretFields {
  const google::protobuf::FieldDescriptor* id;
  const google::protobuf::FieldDescriptor* secret;
};
std::optional<SecretFields> FindSecretFields(
    const google::protobuf::Message& message) {
  const google::protobuf::Descriptor* d = message.GetDescriptor();
  SecretFields f{d->FindFieldByName("node_id"),
                 d->FindFieldByName("node_secret")};
  if (f.id == nullptr || f.secret == nullptr) return std::nullopt;
  return f;
}

// Parses a request; a node_secret of "S" stands for the secret the named
// node got from RegisterNode, so that inputs can act as a registered node
// (the secrets are random).
bool ParseRequest(const Cluster& c, const std::string& bytes,
                  google::protobuf::Message* req) {
  if (!req->ParseFromString(bytes)) return false;
  const std::optional<SecretFields> f = FindSecretFields(*req);
  const google::protobuf::Reflection* r = req->GetReflection();
  if (!f || r->GetString(*req, f->secret) != "S") return true;
  auto it = c.secrets.find(r->GetString(*req, f->id));
  if (it != c.secrets.end()) r->SetString(req, f->secret, it->second);
  return true;
}

// Remembers the secret an answer hands out (RegisterNodeResponse).
void RememberSecret(Cluster& c, const google::protobuf::Message& resp) {
  const std::optional<SecretFields> f = FindSecretFields(resp);
  if (!f) return;
  const google::protobuf::Reflection* r = resp.GetReflection();
  c.secrets[r->GetString(resp, f->id)] = r->GetString(resp, f->secret);
}

// Calls a unary handler on a request parsed from `bytes` and checks the
// answer; false when the bytes are not a request (nothing was called).
template <typename Req, typename Resp, typename Service, typename Method>
bool Unary(Cluster& c, const char* rpc, Service* service, Method method,
           const std::string& bytes, grpc::Status* status = nullptr) {
  Req req;
  if (!ParseRequest(c, bytes, &req)) return false;
  Resp resp;
  grpc::ServerContext ctx;
  const grpc::Status s = (service->*method)(&ctx, &req, &resp);
  CheckAcceptable(rpc, s);
  if (s.ok()) {
    CheckReadable(resp);
    RememberSecret(c, resp);
  }
  if (status != nullptr) *status = s;
  return true;
}

ListJobsResponse AllJobs(Cluster& c) {
  ListJobsResponse all;
  for (JobStatus& job : c.coordinator->jobs().List()) {
    *all.add_jobs() = std::move(job);
  }
  return all;
}

ClusterResponse AllNodes(Cluster& c) {
  ClusterResponse all;
  for (NodeInfo& node : c.coordinator->registry().List()) {
    *all.add_nodes() = std::move(node);
  }
  return all;
}

// Calls a unary handler whose refusal must leave state() as it was.
template <typename Req, typename Resp, typename Service, typename Method,
          typename State>
void RefusalChangesNothing(Cluster& c, const char* rpc, Service* service,
                           Method method, const std::string& bytes,
                           State state) {
  const auto before = state();
  grpc::Status s;
  if (!Unary<Req, Resp>(c, rpc, service, method, bytes, &s) || s.ok()) {
    return;
  }
  CHECK(MessageDifferencer::Equals(before, state()))
      << "a refused " << rpc
      << " changed the coordinator: " << s.error_message();
}

// A streaming call; at most kMaxStreamsPerInput per input.
template <typename Req, typename Resp, typename Open>
void StreamCall(Cluster& c, const std::string& bytes, Open open) {
  Req req;
  if (c.streams >= kMaxStreamsPerInput || !ParseRequest(c, bytes, &req)) {
    return;
  }
  ++c.streams;
  Stream<Resp>([&](grpc::ClientContext* ctx) { return open(ctx, req); });
}

void Tick(Cluster& c, const std::string& b) {
  const size_t ms = (b.size() > 0 ? uint8_t(b[0]) : 0) |
                    (b.size() > 1 ? size_t{uint8_t(b[1])} << 8 : 0);
  c.clock.Advance(absl::Milliseconds(ms));
  c.coordinator->Tick();
}

void Run(Cluster& c, uint8_t op, const std::string& b) {
  JobServiceImpl* j = c.jobs.get();
  NodeServiceImpl* n = c.nodes.get();
  switch (op % 11) {
    case 0:
      return RefusalChangesNothing<SubmitJobRequest, SubmitJobResponse>(
          c, "SubmitJob", j, &JobServiceImpl::SubmitJob, b,
          [&c] { return AllJobs(c); });
    case 1:
      Unary<GetJobRequest, JobStatus>(c, "GetJob", j, &JobServiceImpl::GetJob,
                                      b);
      return;
    case 2:
      Unary<ListJobsRequest, ListJobsResponse>(c, "ListJobs", j,
                                               &JobServiceImpl::ListJobs, b);
      return;
    case 3:
      Unary<CancelJobRequest, CancelJobResponse>(c, "CancelJob", j,
                                                 &JobServiceImpl::CancelJob, b);
      return;
    case 4:
      return StreamCall<WatchJobRequest, JobEvent>(
          c, b, [](grpc::ClientContext* ctx, const WatchJobRequest& req) {
            return Streams().job_stub->WatchJob(ctx, req);
          });
    case 5:
      return RefusalChangesNothing<RegisterNodeRequest, RegisterNodeResponse>(
          c, "RegisterNode", n, &NodeServiceImpl::RegisterNode, b,
          [&c] { return AllNodes(c); });
    case 6:
      Unary<HeartbeatRequest, HeartbeatResponse>(
          c, "Heartbeat", n, &NodeServiceImpl::Heartbeat, b);
      return;
    case 7:
      Unary<ClusterRequest, ClusterResponse>(c, "GetCluster", n,
                                             &NodeServiceImpl::GetCluster, b);
      return;
    case 8:
      return StreamCall<WatchTasksRequest, TaskCommand>(
          c, b, [](grpc::ClientContext* ctx, const WatchTasksRequest& req) {
            return Streams().node_stub->WatchTasks(ctx, req);
          });
    case 9:
      Unary<TaskReport, TaskReportResponse>(c, "ReportTask", n,
                                            &NodeServiceImpl::ReportTask, b);
      return;
    default:
      return Tick(c, b);
  }
}

}  // namespace

// No leak checks in this binary, per input or at exit: the process-wide
// gRPC server's threads and gRPC's timer threads allocate while inputs run
// and hold objects that LeakSanitizer, whose stacks stop in the system
// libraries (built without frame pointers), reports as leaked (88 and 304
// bytes in two 600 s runs, not reproducible on the input). docs/fuzzing.md.
extern "C" const char* __asan_default_options() { return "detect_leaks=0"; }

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool quiet = (strata::fuzz::QuietLogs(), true);
  (void)quiet;
  Cluster cluster;
  strata::fuzz::ForEachRecord(
      data, size, [&](uint8_t op, const std::string& b) {
        Run(cluster, op, b);
        CHECK_LE(cluster.coordinator->registry().List().size(), kMaxNodes)
            << "the registry holds more nodes than its limit";
      });
  return 0;
}
