#include "server/metrics/metrics_registry.h"

#include <unistd.h>

#include <atomic>
#include <cmath>
#include <sstream>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/support/byte_buffer.h"
#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/text_serializer.h"
#include "proto/base/status_macros.h"
#include "server/metrics/internal/process_stats.h"

namespace strata {

using grpc::experimental::InterceptionHookPoints;
using grpc::experimental::InterceptorBatchMethods;

std::vector<double> DefaultRpcLatencyBuckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
          0.1,    0.25,    0.5,    1,     2.5,    5,     10,   30};
}

namespace {

// The label value of a gRPC status code: its canonical upper-case name
// ("OK", "NOT_FOUND"), or the number for a code outside the canonical set.
std::string CodeLabel(grpc::StatusCode code) {
  std::string name =
      absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
  return name.empty() ? absl::StrCat(static_cast<int>(code)) : name;
}

prometheus::MetricFamily OneValueFamily(std::string name, std::string help,
                                        prometheus::MetricType type,
                                        double value) {
  prometheus::MetricFamily family;
  family.name = std::move(name);
  family.help = std::move(help);
  family.type = type;
  prometheus::ClientMetric metric;
  if (type == prometheus::MetricType::Counter) {
    metric.counter.value = value;
  } else {
    metric.gauge.value = value;
  }
  family.metric.push_back(std::move(metric));
  return family;
}

// process_start_time_seconds: boot time plus the process's start offset.
// NaN when /proc cannot tell (then the metric is omitted).
double ProcessStartTimeSeconds() {
  using namespace metrics_internal;  // NOLINT: local, for brevity
  absl::StatusOr<std::string> stat_text = ReadProcFile("/proc/self/stat");
  absl::StatusOr<std::string> boot_text = ReadProcFile("/proc/stat");
  if (!stat_text.ok() || !boot_text.ok()) return NAN;
  absl::StatusOr<ProcStat> stat =
      ParseProcStat(*stat_text, sysconf(_SC_CLK_TCK), sysconf(_SC_PAGESIZE));
  absl::StatusOr<double> boot = ParseBootTime(*boot_text);
  if (!stat.ok() || !boot.ok()) return NAN;
  return *boot + stat->start_seconds_after_boot;
}

// Appends the process_* families; each is omitted when its /proc source
// cannot be read or parsed (a scrape never fails because of them).
void AppendProcessMetrics(double start_time_seconds,
                          std::vector<prometheus::MetricFamily>* out) {
  using namespace metrics_internal;  // NOLINT: local, for brevity
  using prometheus::MetricType;
  absl::StatusOr<std::string> stat_text = ReadProcFile("/proc/self/stat");
  if (stat_text.ok()) {
    absl::StatusOr<ProcStat> stat =
        ParseProcStat(*stat_text, sysconf(_SC_CLK_TCK), sysconf(_SC_PAGESIZE));
    if (stat.ok()) {
      out->push_back(
          OneValueFamily("process_cpu_seconds_total",
                         "Total user and system CPU time spent in seconds.",
                         MetricType::Counter, stat->cpu_seconds));
      out->push_back(OneValueFamily(
          "process_resident_memory_bytes", "Resident memory size in bytes.",
          MetricType::Gauge, stat->resident_memory_bytes));
      out->push_back(OneValueFamily(
          "process_virtual_memory_bytes", "Virtual memory size in bytes.",
          MetricType::Gauge, stat->virtual_memory_bytes));
      out->push_back(OneValueFamily("process_threads",
                                    "Number of OS threads in the process.",
                                    MetricType::Gauge, stat->threads));
    }
  }
  if (absl::StatusOr<int64_t> fds = CountOpenFds("/proc/self/fd"); fds.ok()) {
    out->push_back(OneValueFamily("process_open_fds",
                                  "Number of open file descriptors.",
                                  MetricType::Gauge, *fds));
  }
  if (absl::StatusOr<std::string> limits = ReadProcFile("/proc/self/limits");
      limits.ok()) {
    if (absl::StatusOr<double> max = ParseMaxOpenFiles(*limits); max.ok()) {
      out->push_back(OneValueFamily("process_max_fds",
                                    "Maximum number of open file descriptors.",
                                    MetricType::Gauge, *max));
    }
  }
  if (!std::isnan(start_time_seconds)) {
    out->push_back(
        OneValueFamily("process_start_time_seconds",
                       "Start time of the process since unix epoch in seconds.",
                       MetricType::Gauge, start_time_seconds));
  }
}

absl::Status ValidateOptions(const MetricsRegistryOptions& options) {
  if (options.clock == nullptr) {
    return absl::InvalidArgumentError("MetricsRegistryOptions.clock is null");
  }
  const std::vector<double>& b = options.latency_buckets_seconds;
  if (b.empty()) {
    return absl::InvalidArgumentError("latency_buckets_seconds is empty");
  }
  for (size_t i = 0; i < b.size(); ++i) {
    if (!std::isfinite(b[i]) || b[i] <= 0 || (i > 0 && b[i] <= b[i - 1])) {
      return absl::InvalidArgumentError(absl::StrCat(
          "latency_buckets_seconds must be finite, > 0 and strictly "
          "increasing; bucket ",
          i, " is ", b[i]));
    }
  }
  return absl::OkStatus();
}

}  // namespace

// Everything the registry, its interceptors and the HTTP server share.
// Thread-safe. Owned jointly (shared_ptr) by the MetricsRegistry, every
// interceptor factory and interceptor, and every MetricsServer.
class MetricsRegistry::State final : public prometheus::Collectable {
 public:
  // The time series of one RPC method, created on its first call. Pointers
  // stay valid for the State's lifetime (prometheus-cpp families never
  // move their children).
  struct MethodMetrics {
    std::string method;
    prometheus::Histogram* latency;
    prometheus::Counter* received_messages;
    prometheus::Counter* sent_messages;
    prometheus::Counter* sent_bytes;
    prometheus::Gauge* in_flight;
  };

  explicit State(MetricsRegistryOptions options)
      : options_(std::move(options)),
        start_time_seconds_(options_.process_metrics ? ProcessStartTimeSeconds()
                                                     : NAN),
        requests_(prometheus::BuildCounter()
                      .Name("strata_rpc_server_requests_total")
                      .Help("RPCs completed by this server, by full method "
                            "name and gRPC status code.")
                      .Register(registry_)),
        latency_(prometheus::BuildHistogram()
                     .Name("strata_rpc_server_latency_seconds")
                     .Help("Server-side RPC latency in seconds, from the "
                           "call's arrival to its status being sent.")
                     .Register(registry_)),
        received_messages_(
            prometheus::BuildCounter()
                .Name("strata_rpc_server_received_messages_total")
                .Help("Request messages received, by method.")
                .Register(registry_)),
        sent_messages_(prometheus::BuildCounter()
                           .Name("strata_rpc_server_sent_messages_total")
                           .Help("Response messages sent, by method.")
                           .Register(registry_)),
        sent_bytes_(prometheus::BuildCounter()
                        .Name("strata_rpc_server_sent_bytes_total")
                        .Help("Serialized size of the response messages "
                              "sent, by method (before gRPC framing and "
                              "compression).")
                        .Register(registry_)),
        in_flight_(prometheus::BuildGauge()
                       .Name("strata_rpc_server_in_flight_requests")
                       .Help("RPCs started but not yet completed, by method.")
                       .Register(registry_)) {}

  std::vector<prometheus::MetricFamily> Collect() const override {
    std::vector<std::shared_ptr<prometheus::Collectable>> live;
    {
      absl::MutexLock lock(&mu_);
      std::vector<std::weak_ptr<prometheus::Collectable>> kept;
      for (const auto& weak : collectables_) {
        if (auto strong = weak.lock()) {
          live.push_back(std::move(strong));
          kept.push_back(weak);
        }
      }
      collectables_ = std::move(kept);
    }
    std::vector<prometheus::MetricFamily> families = registry_.Collect();
    if (options_.process_metrics) {
      AppendProcessMetrics(start_time_seconds_, &families);
    }
    // Outside mu_: a collectable may call back into AddCollectable().
    for (const auto& collectable : live) {
      std::vector<prometheus::MetricFamily> more = collectable->Collect();
      families.insert(families.end(), std::make_move_iterator(more.begin()),
                      std::make_move_iterator(more.end()));
    }
    return families;
  }

  prometheus::Registry& registry() { return registry_; }
  Clock* clock() const { return options_.clock; }

  void AddCollectable(std::weak_ptr<prometheus::Collectable> collectable) {
    std::shared_ptr<prometheus::Collectable> added = collectable.lock();
    if (added == nullptr) return;
    absl::MutexLock lock(&mu_);
    for (const auto& weak : collectables_) {
      if (weak.lock() == added) return;
    }
    collectables_.push_back(std::move(collectable));
  }

  MethodMetrics* ForMethod(const char* method_or_null) {
    // Unknown methods have no name; one label value keeps the number of
    // series bounded whatever clients send.
    const std::string method =
        method_or_null == nullptr ? "unknown" : method_or_null;
    absl::MutexLock lock(&mu_);
    std::unique_ptr<MethodMetrics>& entry = methods_[method];
    if (entry == nullptr) {
      const prometheus::Labels labels = {{"method", method}};
      entry = std::make_unique<MethodMetrics>(MethodMetrics{
          method, &latency_.Add(labels, options_.latency_buckets_seconds),
          &received_messages_.Add(labels), &sent_messages_.Add(labels),
          &sent_bytes_.Add(labels), &in_flight_.Add(labels)});
    }
    return entry.get();
  }

  void CountCompleted(const MethodMetrics& m, grpc::StatusCode code) {
    requests_.Add({{"method", m.method}, {"code", CodeLabel(code)}})
        .Increment();
  }

 private:
  // Constant after construction.
  const MetricsRegistryOptions options_;
  const double start_time_seconds_;  // NaN if unknown
  // Thread-safe itself (prometheus-cpp locks internally).
  prometheus::Registry registry_;
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Histogram>& latency_;
  prometheus::Family<prometheus::Counter>& received_messages_;
  prometheus::Family<prometheus::Counter>& sent_messages_;
  prometheus::Family<prometheus::Counter>& sent_bytes_;
  prometheus::Family<prometheus::Gauge>& in_flight_;

  mutable absl::Mutex mu_;
  // Pruned of expired entries by Collect().
  mutable std::vector<std::weak_ptr<prometheus::Collectable>> collectables_
      ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, std::unique_ptr<MethodMetrics>> methods_
      ABSL_GUARDED_BY(mu_);
};

namespace {

// One per server call; gRPC creates it when the call is matched to a method
// and destroys it with the call's ServerContext. Records the call's metrics
// at PRE_SEND_STATUS, before the client can see the status, so a client that
// has its answer also sees it counted. A call torn down without sending a
// status (cancelled before the handler finished, server shut down) is
// counted as CANCELLED from the destructor. Intercept() may run concurrently
// for the read and write batches of a stream, hence the atomic flag.
class ServerMetricsInterceptor final : public grpc::experimental::Interceptor {
 public:
  ServerMetricsInterceptor(std::shared_ptr<MetricsRegistry::State> state,
                           MetricsRegistry::State::MethodMetrics* method)
      : state_(std::move(state)),
        method_(method),
        start_(state_->clock()->Now()) {
    method_->in_flight->Increment();
  }

  ~ServerMetricsInterceptor() override {
    Complete(grpc::StatusCode::CANCELLED);
  }

  void Intercept(InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            InterceptionHookPoints::POST_RECV_MESSAGE) &&
        methods->GetRecvMessage() != nullptr) {
      method_->received_messages->Increment();
    }
    if (methods->QueryInterceptionHookPoint(
            InterceptionHookPoints::PRE_SEND_MESSAGE)) {
      method_->sent_messages->Increment();
      // Serializes now rather than just before sending; the bytes are then
      // sent as they are, so this costs no second serialization.
      if (const grpc::ByteBuffer* sent = methods->GetSerializedSendMessage()) {
        method_->sent_bytes->Increment(static_cast<double>(sent->Length()));
      }
    }
    if (methods->QueryInterceptionHookPoint(
            InterceptionHookPoints::PRE_SEND_STATUS)) {
      Complete(methods->GetSendStatus().error_code());
    }
    methods->Proceed();
  }

 private:
  void Complete(grpc::StatusCode code) {
    if (completed_.exchange(true)) return;
    const absl::Duration latency = state_->clock()->Now() - start_;
    method_->latency->Observe(absl::ToDoubleSeconds(latency));
    method_->in_flight->Decrement();
    state_->CountCompleted(*method_, code);
  }

  // Constant after construction.
  const std::shared_ptr<MetricsRegistry::State> state_;
  MetricsRegistry::State::MethodMetrics* const method_;
  const absl::Time start_;

  std::atomic<bool> completed_{false};
};

class ServerMetricsInterceptorFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit ServerMetricsInterceptorFactory(
      std::shared_ptr<MetricsRegistry::State> state)
      : state_(std::move(state)) {}

  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new ServerMetricsInterceptor(state_,
                                        state_->ForMethod(info->method()));
  }

 private:
  const std::shared_ptr<MetricsRegistry::State> state_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<MetricsRegistry>> MetricsRegistry::Create(
    MetricsRegistryOptions options) {
  STRATA_RETURN_IF_ERROR(ValidateOptions(options));
  return std::unique_ptr<MetricsRegistry>(
      new MetricsRegistry(std::make_shared<State>(std::move(options))));
}

MetricsRegistry::MetricsRegistry(std::shared_ptr<State> state)
    : state_(std::move(state)) {}

MetricsRegistry::~MetricsRegistry() = default;

prometheus::Registry& MetricsRegistry::registry() { return state_->registry(); }

void MetricsRegistry::AddCollectable(
    std::weak_ptr<prometheus::Collectable> collectable) {
  state_->AddCollectable(std::move(collectable));
}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
MetricsRegistry::NewServerInterceptorFactory() {
  return std::make_unique<ServerMetricsInterceptorFactory>(state_);
}

void MetricsRegistry::InstallServerInterceptors(grpc::ServerBuilder* builder) {
  std::vector<
      std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
      creators;
  creators.push_back(NewServerInterceptorFactory());
  builder->experimental().SetInterceptorCreators(std::move(creators));
}

std::vector<prometheus::MetricFamily> MetricsRegistry::Collect() const {
  return state_->Collect();
}

std::string MetricsRegistry::TextFormat() const {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, Collect());
  return out.str();
}

void ExportInsecure(MetricsRegistry* registry, bool insecure) {
  if (registry == nullptr) return;
  prometheus::BuildGauge()
      .Name("strata_insecure")
      .Help(
          "1 when this daemon serves plaintext on a non-loopback address "
          "(--insecure: no caller is authenticated), 0 otherwise.")
      .Register(registry->registry())
      .Add({})
      .Set(insecure ? 1 : 0);
}

std::shared_ptr<prometheus::Collectable> MetricsRegistry::collectable() const {
  return state_;
}

}  // namespace strata
