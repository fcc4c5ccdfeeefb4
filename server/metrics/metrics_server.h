// HTTP endpoint for Prometheus: serves a MetricsRegistry at GET /metrics
// (HEAD too) in the text exposition format, version 0.0.4. Any other path is
// 404, any other method 405. The endpoint has no authentication and no TLS:
// bind it to 127.0.0.1 unless the network in between is trusted.
//
// Why not prometheus::Exposer: prometheus-cpp's pull library embeds Debian's
// civetweb, which runs its threads on fixed 100 KiB stacks (a compile-time
// setting). In a process that also loads libquadmath (OpenBLAS pulls it in
// through libgfortran, so ps_server does), glibc's printf takes its
// "positional" path, which needs more stack than civetweb leaves, and the
// HTTP thread overflows its stack at start-up: ps_server --metrics_port
// crashed with SIGSEGV in vsnprintf. The server here is a plain poll() loop
// on one std::thread with a default-sized stack; prometheus-cpp still
// provides the registry, the metric types and the text serializer.
#ifndef STRATA_SERVER_METRICS_METRICS_SERVER_H_
#define STRATA_SERVER_METRICS_METRICS_SERVER_H_

#include <cstddef>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "prometheus/collectable.h"
#include "server/metrics/metrics_registry.h"

namespace strata {

namespace metrics_internal {
struct Connection;  // one client's state in the serving loop (the .cc)
}  // namespace metrics_internal

// Bounds of the endpoint, so that no client can hold it or exhaust it. The
// defaults suit Prometheus (one small GET per scrape interval and target).
// A plain value type.
struct MetricsServerOptions {
  // Connections open at once. A connection beyond them is answered
  // "503 Service Unavailable" at once and closed.
  int max_connections = 8;
  // Whole-connection deadline, from accept: the request must have arrived
  // and the response been written by then, or the connection is closed
  // without an answer. A client sending a byte every few seconds is cut off
  // here, whatever the pace.
  absl::Duration request_deadline = absl::Seconds(5);
  // Size of the request head (request line and headers); a longer one gets
  // "431 Request Header Fields Too Large".
  size_t max_request_bytes = 8192;
};

// Owns the listening socket and one serving thread; shares the registry's
// state, so the registry may be destroyed first (see MetricsRegistry).
// The thread multiplexes up to max_connections connections with poll() and
// non-blocking sockets, each under its own request_deadline, so a stalled
// client delays no one; the response to a complete request is serialized on
// that thread (milliseconds). Thread-safe: the accessors are const. The
// destructor stops the thread (closing open connections) and closes the
// socket.
class MetricsServer {
 public:
  // Starts serving `registry` (not owned) on `address`, "HOST:PORT" with a
  // numeric port; port 0 picks a free one (see port()). HOST is an IP
  // address ("0.0.0.0" for all IPv4 interfaces, "[::1]" style for IPv6) or
  // a host name. INVALID_ARGUMENT for a malformed address, a null registry
  // or options out of range (max_connections < 1, request_deadline <= 0,
  // max_request_bytes < 64); UNAVAILABLE when HOST does not resolve or
  // nothing can listen there (port in use, HOST not an address of this
  // machine); PERMISSION_DENIED for a privileged port.
  static absl::StatusOr<std::unique_ptr<MetricsServer>> Start(
      const std::string& address, MetricsRegistry* registry,
      const MetricsServerOptions& options = {});
  ~MetricsServer();

  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // The port actually bound.
  int port() const { return port_; }
  // "HOST:PORT" with the HOST given to Start() and the bound port.
  const std::string& address() const { return address_; }

 private:
  MetricsServer(std::shared_ptr<prometheus::Collectable> collectable,
                const MetricsServerOptions& options, int listen_fd,
                int wake_read_fd, int wake_write_fd, int port,
                std::string address);

  // The serving thread's loop: accepts, reads and answers connections until
  // the wake pipe becomes readable.
  void Serve();
  // Accepts one connection into `conns`, or answers 503 and closes it when
  // max_connections are open.
  void Accept(std::vector<metrics_internal::Connection>* conns) const;
  // Reads or writes what `c` is ready for; false once it is finished.
  bool Step(metrics_internal::Connection* c) const;
  // The whole HTTP response to a request whose head is `head`.
  std::string ResponseTo(const std::string& head) const;

  // Constant after construction.
  const std::shared_ptr<prometheus::Collectable> collectable_;
  const MetricsServerOptions options_;
  const int listen_fd_;
  const int wake_read_fd_;  // readable once the destructor runs
  const int wake_write_fd_;
  const int port_;
  const std::string address_;
  std::thread thread_;  // started by Start(), joined by the destructor
};

// What a daemon's --metrics_address / --metrics_port flags turn into. Keep
// it alive for the life of the process, and declared before the servers
// that record into `registry` (it then outlives them).
struct DaemonMetrics {
  // Null when metrics are disabled. Set it in the gRPC server's options so
  // the server installs the RPC interceptor.
  std::unique_ptr<MetricsRegistry> registry;
  // Null when metrics are disabled.
  std::unique_ptr<MetricsServer> server;
};

// For main(): port 0 disables metrics (both pointers null); otherwise creates
// a registry with default options and serves it on host:port. Unlike
// MetricsServer::Start, port 0 does not mean "pick one": a daemon's scrape
// target must be known in advance. INVALID_ARGUMENT for a port outside
// [0, 65535] or an empty host; otherwise as MetricsServer::Start.
absl::StatusOr<DaemonMetrics> StartDaemonMetrics(const std::string& host,
                                                 int port);

}  // namespace strata

#endif  // STRATA_SERVER_METRICS_METRICS_SERVER_H_
