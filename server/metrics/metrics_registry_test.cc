#include "server/metrics/metrics_registry.h"

#include <unistd.h>

#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "grpcpp/generic/async_generic_service.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"
#include "gtest/gtest.h"
#include "prometheus/collectable.h"
#include "prometheus/gauge.h"
#include "proto/grpc/health/v1/health.grpc.pb.h"
#include "server/util/clock.h"

namespace strata {
namespace {

using grpc::health::v1::Health;
using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

constexpr char kCheck[] = "/grpc.health.v1.Health/Check";

// The one series of family `name` whose labels include all of `labels`;
// null if there is none. Fails the test if several match.
const prometheus::ClientMetric* Find(
    const std::vector<prometheus::MetricFamily>& families,
    const std::string& name,
    const std::map<std::string, std::string>& labels = {}) {
  const prometheus::ClientMetric* found = nullptr;
  for (const prometheus::MetricFamily& family : families) {
    if (family.name != name) continue;
    for (const prometheus::ClientMetric& metric : family.metric) {
      size_t matched = 0;
      for (const auto& label : metric.label) {
        auto it = labels.find(label.name);
        if (it != labels.end() && it->second == label.value) ++matched;
      }
      if (matched != labels.size()) continue;
      EXPECT_EQ(found, nullptr) << "several " << name << " series match";
      found = &metric;
    }
  }
  return found;
}

double CounterValue(const MetricsRegistry& metrics, const std::string& name,
                    const std::map<std::string, std::string>& labels) {
  const std::vector<prometheus::MetricFamily> families = metrics.Collect();
  const prometheus::ClientMetric* metric = Find(families, name, labels);
  return metric == nullptr ? -1 : metric->counter.value;
}

// grpc.health.v1.Health on the synchronous API: "" is SERVING, any other
// service NOT_FOUND. Each Check advances `clock` by `advance` first, so the
// server-side latency of a call is exactly `advance`.
class TestHealthService final : public Health::Service {
 public:
  TestHealthService(FakeClock* clock, absl::Duration advance)
      : clock_(clock), advance_(advance) {}

  grpc::Status Check(grpc::ServerContext*, const HealthCheckRequest* request,
                     HealthCheckResponse* response) override {
    clock_->Advance(advance_);
    if (!request->service().empty()) {
      return grpc::Status(grpc::StatusCode::NOT_FOUND, "unknown service");
    }
    response->set_status(HealthCheckResponse::SERVING);
    return grpc::Status::OK;
  }

 private:
  FakeClock* const clock_;
  const absl::Duration advance_;
};

class MetricsRegistryRpcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    MetricsRegistryOptions options;
    options.clock = &clock_;
    auto metrics = MetricsRegistry::Create(options);
    ASSERT_TRUE(metrics.ok()) << metrics.status();
    metrics_ = std::move(*metrics);
  }

  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown();
  }

  // Serves `service` with the metrics interceptor. If it is null, serves
  // gRPC's default health service instead, which is implemented on the
  // callback API (and a generic callback service, as a server needs one
  // service of its own).
  void StartServer(grpc::Service* service) {
    // A process-wide switch read in BuildAndStart(); restored right after.
    grpc::EnableDefaultHealthCheckService(service == nullptr);
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port);
    if (service != nullptr) {
      builder.RegisterService(service);
    } else {
      builder.RegisterCallbackGenericService(&generic_service_);
    }
    metrics_->InstallServerInterceptors(&builder);
    server_ = builder.BuildAndStart();
    grpc::EnableDefaultHealthCheckService(false);
    ASSERT_NE(server_, nullptr);
    ASSERT_GT(port, 0);
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", port),
                                   grpc::InsecureChannelCredentials());
    stub_ = Health::NewStub(channel_);
  }

  grpc::StatusCode Check(const std::string& service) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
    HealthCheckRequest request;
    request.set_service(service);
    HealthCheckResponse response;
    return stub_->Check(&context, request, &response).error_code();
  }

  FakeClock clock_;
  grpc::CallbackGenericService generic_service_;
  std::unique_ptr<MetricsRegistry> metrics_;
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<Health::Stub> stub_;
};

TEST_F(MetricsRegistryRpcTest, CountsRequestsByMethodAndCode) {
  TestHealthService service(&clock_, absl::ZeroDuration());
  ASSERT_NO_FATAL_FAILURE(StartServer(&service));
  for (int i = 0; i < 3; ++i) ASSERT_EQ(Check(""), grpc::StatusCode::OK);
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(Check("no.such.Service"), grpc::StatusCode::NOT_FOUND);
  }
  EXPECT_EQ(CounterValue(*metrics_, "strata_rpc_server_requests_total",
                         {{"method", kCheck}, {"code", "OK"}}),
            3);
  EXPECT_EQ(CounterValue(*metrics_, "strata_rpc_server_requests_total",
                         {{"method", kCheck}, {"code", "NOT_FOUND"}}),
            2);
  EXPECT_EQ(Find(metrics_->Collect(), "strata_rpc_server_requests_total",
                 {{"code", "UNAVAILABLE"}}),
            nullptr);
}

TEST_F(MetricsRegistryRpcTest, LatencyIsMeasuredWithTheConfiguredClock) {
  TestHealthService service(&clock_, absl::Milliseconds(300));
  ASSERT_NO_FATAL_FAILURE(StartServer(&service));
  ASSERT_EQ(Check(""), grpc::StatusCode::OK);
  const std::vector<prometheus::MetricFamily> families = metrics_->Collect();
  const prometheus::ClientMetric* latency =
      Find(families, "strata_rpc_server_latency_seconds", {{"method", kCheck}});
  ASSERT_NE(latency, nullptr);
  EXPECT_EQ(latency->histogram.sample_count, 1u);
  EXPECT_NEAR(latency->histogram.sample_sum, 0.3, 1e-9);
  for (const prometheus::ClientMetric::Bucket& bucket :
       latency->histogram.bucket) {
    EXPECT_EQ(bucket.cumulative_count, bucket.upper_bound >= 0.3 ? 1u : 0u)
        << "le=" << bucket.upper_bound;
  }
  // The default buckets plus +Inf.
  EXPECT_EQ(latency->histogram.bucket.size(),
            DefaultRpcLatencyBuckets().size() + 1);
}

TEST_F(MetricsRegistryRpcTest, CountsMessagesAndSerializedResponseBytes) {
  TestHealthService service(&clock_, absl::ZeroDuration());
  ASSERT_NO_FATAL_FAILURE(StartServer(&service));
  for (int i = 0; i < 3; ++i) ASSERT_EQ(Check(""), grpc::StatusCode::OK);
  ASSERT_EQ(Check("no.such.Service"), grpc::StatusCode::NOT_FOUND);
  HealthCheckResponse serving;
  serving.set_status(HealthCheckResponse::SERVING);
  const std::map<std::string, std::string> check = {{"method", kCheck}};
  EXPECT_EQ(CounterValue(*metrics_, "strata_rpc_server_received_messages_total",
                         check),
            4);
  // An error status carries no response message.
  EXPECT_EQ(
      CounterValue(*metrics_, "strata_rpc_server_sent_messages_total", check),
      3);
  EXPECT_EQ(
      CounterValue(*metrics_, "strata_rpc_server_sent_bytes_total", check),
      3.0 * serving.ByteSizeLong());
  // Completed calls are out of flight before the client sees their status.
  const std::vector<prometheus::MetricFamily> families = metrics_->Collect();
  const prometheus::ClientMetric* in_flight =
      Find(families, "strata_rpc_server_in_flight_requests", check);
  ASSERT_NE(in_flight, nullptr);
  EXPECT_EQ(in_flight->gauge.value, 0);
}

TEST_F(MetricsRegistryRpcTest, CountsCallbackApiServices) {
  ASSERT_NO_FATAL_FAILURE(StartServer(nullptr));  // callback-API health
  ASSERT_EQ(Check(""), grpc::StatusCode::OK);
  ASSERT_EQ(Check("no.such.Service"), grpc::StatusCode::NOT_FOUND);
  ASSERT_EQ(Check("no.such.Service"), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(CounterValue(*metrics_, "strata_rpc_server_requests_total",
                         {{"method", kCheck}, {"code", "OK"}}),
            1);
  EXPECT_EQ(CounterValue(*metrics_, "strata_rpc_server_requests_total",
                         {{"method", kCheck}, {"code", "NOT_FOUND"}}),
            2);
}

TEST_F(MetricsRegistryRpcTest, UnknownMethodsShareOneLabelValue) {
  TestHealthService service(&clock_, absl::ZeroDuration());
  ASSERT_NO_FATAL_FAILURE(StartServer(&service));
  grpc::GenericStub generic(channel_);
  for (const char* method : {"/no.such.Service/A", "/no.such.Service/B"}) {
    grpc::ClientContext context;
    grpc::Slice empty("");
    grpc::ByteBuffer request(&empty, 1), response;
    absl::Notification done;
    grpc::Status status;
    generic.UnaryCall(&context, method, grpc::StubOptions(), &request,
                      &response, [&](grpc::Status s) {
                        status = std::move(s);
                        done.Notify();
                      });
    done.WaitForNotification();
    ASSERT_EQ(status.error_code(), grpc::StatusCode::UNIMPLEMENTED);
  }
  EXPECT_EQ(CounterValue(*metrics_, "strata_rpc_server_requests_total",
                         {{"method", "unknown"}, {"code", "UNIMPLEMENTED"}}),
            2);
  EXPECT_EQ(Find(metrics_->Collect(), "strata_rpc_server_requests_total",
                 {{"method", "/no.such.Service/A"}}),
            nullptr);
}

TEST(MetricsRegistryTest, ReportsPlausibleProcessMetrics) {
  auto metrics = MetricsRegistry::Create();
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  const std::vector<prometheus::MetricFamily> families = (*metrics)->Collect();
  auto value = [&](const std::string& name) -> double {
    const prometheus::ClientMetric* metric = Find(families, name);
    EXPECT_NE(metric, nullptr) << name << " missing";
    if (metric == nullptr) return NAN;
    return name == "process_cpu_seconds_total" ? metric->counter.value
                                               : metric->gauge.value;
  };
  const double rss = value("process_resident_memory_bytes");
  EXPECT_GT(rss, 1 << 20);  // the binary alone maps more than 1 MiB
  EXPECT_GE(value("process_virtual_memory_bytes"), rss);
  EXPECT_GE(value("process_open_fds"), 3);  // stdin, stdout, stderr
  EXPECT_GE(value("process_max_fds"), value("process_open_fds"));
  EXPECT_GE(value("process_threads"), 1);
  EXPECT_GE(value("process_cpu_seconds_total"), 0);
  const double now = absl::ToUnixSeconds(absl::Now());
  const double start = value("process_start_time_seconds");
  EXPECT_LE(start, now + 1);          // /proc's clock ticks are coarse
  EXPECT_GT(start, now - 24 * 3600);  // this test started recently
}

TEST(MetricsRegistryTest, ProcessMetricsCanBeTurnedOff) {
  MetricsRegistryOptions options;
  options.process_metrics = false;
  auto metrics = MetricsRegistry::Create(options);
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_EQ(Find((*metrics)->Collect(), "process_resident_memory_bytes"),
            nullptr);
}

TEST(MetricsRegistryTest, ExportsFamiliesBuiltOnTheRegistry) {
  auto metrics = MetricsRegistry::Create();
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  prometheus::BuildGauge()
      .Name("strata_test_ratio")
      .Help("A gauge library code registered.")
      .Register((*metrics)->registry())
      .Add({{"table", "emb"}, {"field", "weights"}})
      .Set(3.5);
  const std::vector<prometheus::MetricFamily> families = (*metrics)->Collect();
  const prometheus::ClientMetric* ratio = Find(
      families, "strata_test_ratio", {{"table", "emb"}, {"field", "weights"}});
  ASSERT_NE(ratio, nullptr);
  EXPECT_EQ(ratio->gauge.value, 3.5);
  EXPECT_NE((*metrics)->TextFormat().find(
                "strata_test_ratio{field=\"weights\",table=\"emb\"} 3.5"),
            std::string::npos)
      << (*metrics)->TextFormat();
}

TEST(MetricsRegistryTest, ExportsWhetherTheDaemonServesInsecurely) {
  auto insecure = MetricsRegistry::Create();
  ASSERT_TRUE(insecure.ok()) << insecure.status();
  ExportInsecure(insecure->get(), true);
  EXPECT_NE((*insecure)->TextFormat().find("\nstrata_insecure 1\n"),
            std::string::npos)
      << (*insecure)->TextFormat();
  auto secure = MetricsRegistry::Create();
  ASSERT_TRUE(secure.ok()) << secure.status();
  ExportInsecure(secure->get(), false);
  const std::vector<prometheus::MetricFamily> families = (*secure)->Collect();
  const prometheus::ClientMetric* g = Find(families, "strata_insecure");
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(g->gauge.value, 0);
  ExportInsecure(nullptr, true);  // metrics disabled: nothing to do
}

// Reports one gauge whose value is read at collection time.
class ConstantCollectable final : public prometheus::Collectable {
 public:
  explicit ConstantCollectable(double value) : value_(value) {}
  std::vector<prometheus::MetricFamily> Collect() const override {
    prometheus::MetricFamily family;
    family.name = "strata_test_pulled";
    family.help = "A value pulled on scrape.";
    family.type = prometheus::MetricType::Gauge;
    family.metric.emplace_back();
    family.metric.back().gauge.value = value_;
    return {family};
  }

 private:
  const double value_;
};

TEST(MetricsRegistryTest, ScrapesCollectablesUntilTheirOwnerDropsThem) {
  auto metrics = MetricsRegistry::Create();
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  auto collectable = std::make_shared<ConstantCollectable>(42);
  (*metrics)->AddCollectable(collectable);
  (*metrics)->AddCollectable(collectable);  // a second add is ignored
  {
    const std::vector<prometheus::MetricFamily> families =
        (*metrics)->Collect();
    const prometheus::ClientMetric* pulled =
        Find(families, "strata_test_pulled");
    ASSERT_NE(pulled, nullptr);
    EXPECT_EQ(pulled->gauge.value, 42);
  }
  collectable.reset();
  EXPECT_EQ(Find((*metrics)->Collect(), "strata_test_pulled"), nullptr);
}

TEST(MetricsRegistryTest, RejectsInvalidLatencyBuckets) {
  for (const std::vector<double>& buckets : std::vector<std::vector<double>>{
           {}, {0.1, 0.05}, {0.1, 0.1}, {0, 1}, {-1, 1}, {1, INFINITY}}) {
    MetricsRegistryOptions options;
    options.latency_buckets_seconds = buckets;
    EXPECT_EQ(MetricsRegistry::Create(options).status().code(),
              absl::StatusCode::kInvalidArgument)
        << buckets.size() << " buckets";
  }
}

TEST(MetricsRegistryTest, RejectsNullClock) {
  MetricsRegistryOptions options;
  options.clock = nullptr;
  EXPECT_EQ(MetricsRegistry::Create(options).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace strata
