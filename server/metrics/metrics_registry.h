// Prometheus metrics of one Strata daemon: the standard process_* metrics,
// per-method gRPC server metrics recorded by a server interceptor, and
// whatever library code registers. MetricsServer (metrics_server.h) serves
// them over HTTP; docs/metrics.md lists every metric.
//
// Typical daemon wiring:
//
//   auto metrics = MetricsRegistry::Create();          // once per process
//   auto http = MetricsServer::Start("127.0.0.1:9100", metrics->get());
//   grpc::ServerBuilder builder;
//   (*metrics)->InstallServerInterceptors(&builder);   // RPC metrics
//
// (Daemons do this through StartDaemonMetrics() in metrics_server.h and the
// `metrics` field of PsServerOptions / CoordinatorServer::Options.)
//
// Library code exporting its own metrics (e.g. the parameter server's
// per-table, per-field compression statistics; PsServer receives the
// registry as PsServerOptions::metrics) has two options:
//
//  1. Push: build a family on registry() once and update its children when
//     the value changes. prometheus-cpp's Counter/Gauge/Histogram are
//     thread-safe and cheap; keep the returned references, do not call
//     Family::Add on a hot path (it takes a lock and hashes the labels).
//
//       auto& ratio = prometheus::BuildGauge()
//           .Name("strata_ps_compression_ratio")
//           .Help("Uncompressed over compressed bytes, per table and field.")
//           .Register(registry->registry());
//       prometheus::Gauge& g = ratio.Add({{"table", t}, {"field", f}});
//       g.Set(raw_bytes / double(compressed_bytes));
//
//  2. Pull: implement prometheus::Collectable (Collect() builds
//     MetricFamily values from a snapshot of the owner's state, on the
//     scraping thread) and hand a weak_ptr to AddCollectable(). The owner
//     keeps the shared_ptr; when it is destroyed the collectable silently
//     drops out of the output. Best when the numbers already live in the
//     owner's data structures and copying them on every update would cost.
//
// Rules for custom metrics: names start with "strata_" and carry their unit
// ("_bytes", "_seconds", "_total" for counters); label values come from a
// bounded set (table and field names yes, keys or client addresses no).
// Names "process_*" and "strata_rpc_server_*" are taken, and a name must
// not be both registered on registry() and returned by a collectable (the
// output would hold the family twice). prometheus-cpp throws
// std::invalid_argument for malformed metric or label names and for a name
// registered twice with a different type or different constant labels
// (registering it again identically returns the same family). With
// constant names that is a programmer error caught by the first test that
// runs the code, so callers need no try/catch.
#ifndef STRATA_SERVER_METRICS_METRICS_REGISTRY_H_
#define STRATA_SERVER_METRICS_METRICS_REGISTRY_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "grpcpp/server_builder.h"
#include "grpcpp/support/server_interceptor.h"
#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"
#include "prometheus/registry.h"
#include "server/util/clock.h"

namespace strata {

// Upper bounds in seconds of the default RPC latency buckets: 100us .. 30s,
// roughly 1-2.5-5 per decade. A Pull/Push of a small batch on loopback lands
// in the sub-millisecond buckets; large batches and checkpoints in seconds.
std::vector<double> DefaultRpcLatencyBuckets();

struct MetricsRegistryOptions {
  // Time source for RPC latencies. Not owned; must outlive the registry and
  // every gRPC server it is installed in. Tests pass a FakeClock to get exact
  // latencies.
  Clock* clock = RealClock();
  // Bucket upper bounds (seconds) of strata_rpc_server_latency_seconds;
  // strictly increasing, finite and > 0 (+Inf is implicit). Each bucket is
  // one time series per method: more buckets mean finer quantiles and more
  // scrape volume.
  std::vector<double> latency_buckets_seconds = DefaultRpcLatencyBuckets();
  // Export the process_* metrics (read from /proc/self on every scrape,
  // a few microseconds). Only Linux has /proc; elsewhere they are omitted.
  bool process_metrics = true;
};

// Owns a prometheus::Registry plus the built-in collectors. Thread-safe: all
// methods may be called concurrently, including Collect() from the HTTP
// server's threads while RPCs record into it.
//
// Lifetime: the state shared with gRPC servers (interceptor factories and
// interceptors) and with MetricsServer is reference-counted, so destroying
// the registry before a server that uses it is safe: the servers keep the
// metrics alive, recording and serving them, until they go away too. Only
// options.clock must outlive them all. Still, the natural order is: create
// the registry first, destroy it last.
class MetricsRegistry {
 public:
  // INVALID_ARGUMENT if the latency buckets are empty, unsorted, repeated,
  // non-positive or not finite, or if clock is null.
  static absl::StatusOr<std::unique_ptr<MetricsRegistry>> Create(
      MetricsRegistryOptions options = MetricsRegistryOptions());
  ~MetricsRegistry();

  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  // For families that library code updates itself (option 1 in the file
  // comment). The reference stays valid for the registry's lifetime.
  prometheus::Registry& registry();

  // Adds a collectable that is asked for its metrics on every scrape (option
  // 2 in the file comment). Not owned: expired pointers are skipped and
  // forgotten. Adding the same collectable twice duplicates its output.
  void AddCollectable(std::weak_ptr<prometheus::Collectable> collectable);

  // A new factory for the per-RPC server interceptor recording the
  // strata_rpc_server_* metrics. Hand it to
  // ServerBuilder::experimental().SetInterceptorCreators() together with any
  // other interceptor factories; the gRPC server owns it.
  std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
  NewServerInterceptorFactory();

  // Shorthand for a server with no other interceptors: sets the builder's
  // interceptor creators to exactly one NewServerInterceptorFactory(). Call
  // before BuildAndStart(); replaces creators set earlier on this builder.
  void InstallServerInterceptors(grpc::ServerBuilder* builder);

  // Everything a scrape returns: the registry's families, the process_*
  // metrics, then each live collectable's.
  std::vector<prometheus::MetricFamily> Collect() const;

  // Collect() in the Prometheus text exposition format (version 0.0.4).
  std::string TextFormat() const;

  // What MetricsServer serves: a collectable whose Collect() is this
  // registry's. Shares ownership of the state, not of `this`.
  std::shared_ptr<prometheus::Collectable> collectable() const;

  // Implementation detail shared with interceptors and the HTTP server.
  class State;

 private:
  explicit MetricsRegistry(std::shared_ptr<State> state);

  // Constant after construction.
  const std::shared_ptr<State> state_;
};

// Exports the gauge strata_insecure on `registry` (no-op when null): 1 when
// the daemon serves plaintext on a non-loopback address (--insecure; no
// caller is authenticated), 0 otherwise. A daemon calls it once at
// start-up (docs/security.md).
void ExportInsecure(MetricsRegistry* registry, bool insecure);

}  // namespace strata

#endif  // STRATA_SERVER_METRICS_METRICS_REGISTRY_H_
