#include "server/metrics/metrics_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "proto/grpc/health/v1/health.grpc.pb.h"

namespace strata {
namespace {

using grpc::health::v1::Health;
using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

// A listening TCP socket on 127.0.0.1 with a kernel-chosen port; closed on
// destruction.
class ListeningSocket {
 public:
  ListeningSocket() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr = {};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof(addr);
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
        ::listen(fd_, 1) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      return;
    }
    port_ = ntohs(addr.sin_port);
  }
  ~ListeningSocket() {
    if (fd_ >= 0) ::close(fd_);
  }
  int port() const { return port_; }  // 0 if setting up failed

 private:
  int fd_ = -1;
  int port_ = 0;
};

// A TCP socket connected to 127.0.0.1:port, or -1. Receives time out
// after 30 s: fail rather than hang if the server is mute.
int Connect(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  timeval timeout = {30, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Sends `request` verbatim to 127.0.0.1:port and returns the whole response
// (status line, headers, body), read until the server closes.
absl::StatusOr<std::string> HttpExchange(int port, const std::string& request) {
  const int fd = Connect(port);
  if (fd < 0) return absl::UnavailableError(absl::StrCat("connect to ", port));
  if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size())) {
    ::close(fd);
    return absl::UnavailableError("send failed");
  }
  std::string response;
  char buffer[4096];
  ssize_t n;
  while ((n = ::recv(fd, buffer, sizeof(buffer), 0)) > 0) {
    response.append(buffer, n);
  }
  ::close(fd);
  if (n < 0) return absl::UnavailableError("recv failed or timed out");
  return response;
}

// A plain HTTP/1.0 GET of `path`.
absl::StatusOr<std::string> HttpGet(int port, const std::string& path) {
  return HttpExchange(port, absl::StrCat("GET ", path, " HTTP/1.0\r\n\r\n"));
}

// The status line of `response`, without its CRLF.
std::string StatusLine(const std::string& response) {
  return response.substr(0, response.find("\r\n"));
}

// grpc.health.v1.Health: "" is SERVING, any other service NOT_FOUND.
class TestHealthService final : public Health::Service {
 public:
  grpc::Status Check(grpc::ServerContext*, const HealthCheckRequest* request,
                     HealthCheckResponse* response) override {
    if (!request->service().empty()) {
      return grpc::Status(grpc::StatusCode::NOT_FOUND, "unknown service");
    }
    response->set_status(HealthCheckResponse::SERVING);
    return grpc::Status::OK;
  }
};

std::unique_ptr<MetricsRegistry> NewRegistry() {
  absl::StatusOr<std::unique_ptr<MetricsRegistry>> registry =
      MetricsRegistry::Create();
  EXPECT_TRUE(registry.ok()) << registry.status();
  return registry.ok() ? std::move(*registry) : nullptr;
}

// A server on 127.0.0.1 with `options` and a fresh registry (the server
// keeps the registry's state alive); null, failing the test, if it does not
// start.
std::unique_ptr<MetricsServer> StartWith(const MetricsServerOptions& options) {
  std::unique_ptr<MetricsRegistry> registry = NewRegistry();
  if (registry == nullptr) return nullptr;
  auto server = MetricsServer::Start("127.0.0.1:0", registry.get(), options);
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? std::move(*server) : nullptr;
}

TEST(MetricsServerTest, ServesRpcAndProcessMetricsOverHttp) {
  std::unique_ptr<MetricsRegistry> registry = NewRegistry();
  ASSERT_NE(registry, nullptr);
  TestHealthService service;
  grpc::EnableDefaultHealthCheckService(false);
  grpc::ServerBuilder builder;
  int grpc_port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                           &grpc_port);
  builder.RegisterService(&service);
  registry->InstallServerInterceptors(&builder);
  std::unique_ptr<grpc::Server> grpc_server = builder.BuildAndStart();
  ASSERT_NE(grpc_server, nullptr);
  auto stub =
      Health::NewStub(grpc::CreateChannel(absl::StrCat("127.0.0.1:", grpc_port),
                                          grpc::InsecureChannelCredentials()));
  for (const char* name : {"", "", "no.such.Service"}) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
    HealthCheckRequest request;
    request.set_service(name);
    HealthCheckResponse response;
    stub->Check(&context, request, &response);
  }

  absl::StatusOr<std::unique_ptr<MetricsServer>> server =
      MetricsServer::Start("127.0.0.1:0", registry.get());
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_GT((*server)->port(), 0);
  EXPECT_EQ((*server)->address(),
            absl::StrCat("127.0.0.1:", (*server)->port()));
  absl::StatusOr<std::string> response = HttpGet((*server)->port(), "/metrics");
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(StatusLine(*response), "HTTP/1.1 200 OK");
  EXPECT_TRUE(absl::StrContains(
      *response,
      "\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"))
      << *response;
  for (const char* line :
       {"\nstrata_rpc_server_requests_total{code=\"OK\",method=\"/"
        "grpc.health.v1.Health/Check\"} 2\n",
        "\nstrata_rpc_server_requests_total{code=\"NOT_FOUND\",method=\"/"
        "grpc.health.v1.Health/Check\"} 1\n",
        "\n# TYPE strata_rpc_server_latency_seconds histogram\n",
        "\nstrata_rpc_server_latency_seconds_count{method=\"/"
        "grpc.health.v1.Health/Check\"} 3\n",
        "\n# TYPE process_resident_memory_bytes gauge\n",
        "\n# TYPE process_open_fds gauge\n"}) {
    EXPECT_TRUE(absl::StrContains(*response, line))
        << "missing: " << line << "\nin:\n"
        << *response;
  }
  grpc_server->Shutdown();
}

TEST(MetricsServerTest, OtherPathsAreNotFound) {
  std::unique_ptr<MetricsRegistry> registry = NewRegistry();
  ASSERT_NE(registry, nullptr);
  auto server = MetricsServer::Start("127.0.0.1:0", registry.get());
  ASSERT_TRUE(server.ok()) << server.status();
  for (const char* path : {"/", "/metricsX", "/metrics/x"}) {
    absl::StatusOr<std::string> response = HttpGet((*server)->port(), path);
    ASSERT_TRUE(response.ok()) << response.status();
    EXPECT_EQ(StatusLine(*response), "HTTP/1.1 404 Not Found") << path;
  }
}

TEST(MetricsServerTest, AcceptsHttp11RequestsWithHeadersAndQuery) {
  std::unique_ptr<MetricsRegistry> registry = NewRegistry();
  ASSERT_NE(registry, nullptr);
  auto server = MetricsServer::Start("127.0.0.1:0", registry.get());
  ASSERT_TRUE(server.ok()) << server.status();
  absl::StatusOr<std::string> response =
      HttpExchange((*server)->port(),
                   "GET /metrics?x=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: "
                   "text/plain\r\nUser-Agent: Prometheus/2.45\r\n\r\n");
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(StatusLine(*response), "HTTP/1.1 200 OK");
  EXPECT_TRUE(absl::StrContains(*response, "\nprocess_open_fds ")) << *response;
}

TEST(MetricsServerTest, HeadHasHeadersButNoBody) {
  std::unique_ptr<MetricsRegistry> registry = NewRegistry();
  ASSERT_NE(registry, nullptr);
  auto server = MetricsServer::Start("127.0.0.1:0", registry.get());
  ASSERT_TRUE(server.ok()) << server.status();
  absl::StatusOr<std::string> response =
      HttpExchange((*server)->port(), "HEAD /metrics HTTP/1.0\r\n\r\n");
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(StatusLine(*response), "HTTP/1.1 200 OK");
  EXPECT_TRUE(absl::EndsWith(*response, "\r\n\r\n")) << *response;
  EXPECT_FALSE(absl::StrContains(*response, "process_open_fds")) << *response;
}

TEST(MetricsServerTest, RejectsOtherMethodsAndGarbage) {
  std::unique_ptr<MetricsRegistry> registry = NewRegistry();
  ASSERT_NE(registry, nullptr);
  auto server = MetricsServer::Start("127.0.0.1:0", registry.get());
  ASSERT_TRUE(server.ok()) << server.status();
  absl::StatusOr<std::string> post = HttpExchange(
      (*server)->port(), "POST /metrics HTTP/1.0\r\nContent-Length: 0\r\n\r\n");
  ASSERT_TRUE(post.ok()) << post.status();
  EXPECT_EQ(StatusLine(*post), "HTTP/1.1 405 Method Not Allowed");
  EXPECT_TRUE(absl::StrContains(*post, "\r\nAllow: GET, HEAD\r\n")) << *post;
  absl::StatusOr<std::string> garbage =
      HttpExchange((*server)->port(), "hello\r\n\r\n");
  ASSERT_TRUE(garbage.ok()) << garbage.status();
  EXPECT_EQ(StatusLine(*garbage), "HTTP/1.1 400 Bad Request");
  absl::StatusOr<std::string> huge = HttpExchange(
      (*server)->port(), absl::StrCat("GET /metrics HTTP/1.0\r\nX: ",
                                      std::string(20000, 'x'), "\r\n\r\n"));
  ASSERT_TRUE(huge.ok()) << huge.status();
  EXPECT_EQ(StatusLine(*huge), "HTTP/1.1 431 Request Header Fields Too Large");
  // The server is still serving after all that.
  absl::StatusOr<std::string> good = HttpGet((*server)->port(), "/metrics");
  ASSERT_TRUE(good.ok()) << good.status();
  EXPECT_EQ(StatusLine(*good), "HTTP/1.1 200 OK");
}

// Sends `request` one byte every 100 ms until the server closes the
// connection or 30 s pass; returns when the server closed it (InfiniteFuture
// if it never did).
absl::Time DripUntilClosed(int port, const std::string& request) {
  const int fd = Connect(port);
  if (fd < 0) return absl::InfinitePast();
  const absl::Time give_up = absl::Now() + absl::Seconds(30);
  absl::Time closed = absl::InfiniteFuture();
  for (size_t i = 0; absl::Now() < give_up; ++i) {
    const char byte = request[i % request.size()];
    if (::send(fd, &byte, 1, MSG_NOSIGNAL) != 1) {
      closed = absl::Now();
      break;
    }
    pollfd p = {fd, POLLIN, 0};
    char answer;
    if (::poll(&p, 1, 100) > 0 && ::recv(fd, &answer, 1, 0) <= 0) {
      closed = absl::Now();
      break;
    }
  }
  ::close(fd);
  return closed;
}

TEST(MetricsServerTest, SlowClientIsCutAtTheDeadlineWhileOthersAreServed) {
  MetricsServerOptions options;
  options.request_deadline = absl::Seconds(1);
  const std::unique_ptr<MetricsServer> server = StartWith(options);
  ASSERT_NE(server, nullptr);
  const int port = server->port();
  const absl::Time start = absl::Now();
  absl::Time slow_closed;
  std::thread slow([&] {
    // A head that never ends: a header line that grows by a byte a tick.
    slow_closed = DripUntilClosed(
        port, "GET /metrics HTTP/1.1\r\nX-Slow: " + std::string(4000, 'a'));
  });
  absl::SleepFor(absl::Milliseconds(300));
  absl::StatusOr<std::string> response = HttpGet(port, "/metrics");
  const absl::Time scraped = absl::Now();
  slow.join();
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(StatusLine(*response), "HTTP/1.1 200 OK");
  EXPECT_LT(scraped, slow_closed) << "the scrape waited for the slow client";
  EXPECT_GE(slow_closed - start, absl::Milliseconds(900));
  EXPECT_LT(slow_closed - start, absl::Seconds(5))
      << "the slow client was not cut at the 1 s deadline";
}

TEST(MetricsServerTest, ConcurrentScrapesAllSucceed) {
  MetricsServerOptions options;
  options.max_connections = 8;
  const std::unique_ptr<MetricsServer> server = StartWith(options);
  ASSERT_NE(server, nullptr);
  std::atomic<int> ok{0};
  std::vector<std::thread> scrapers;
  for (int t = 0; t < options.max_connections; ++t) {
    scrapers.emplace_back([&] {
      for (int i = 0; i < 10; ++i) {
        absl::StatusOr<std::string> r = HttpGet(server->port(), "/metrics");
        if (r.ok() && StatusLine(*r) == "HTTP/1.1 200 OK" &&
            absl::StrContains(*r, "\nprocess_open_fds ")) {
          ++ok;
        }
      }
    });
  }
  for (std::thread& t : scrapers) t.join();
  EXPECT_EQ(ok.load(), options.max_connections * 10);
}

TEST(MetricsServerTest, ConnectionsBeyondTheLimitGet503) {
  MetricsServerOptions options;
  options.max_connections = 2;
  const std::unique_ptr<MetricsServer> server = StartWith(options);
  ASSERT_NE(server, nullptr);
  const int port = server->port();
  // Two idle connections fill the server (accepted in connection order).
  const int held[2] = {Connect(port), Connect(port)};
  ASSERT_GE(held[0], 0);
  ASSERT_GE(held[1], 0);
  absl::StatusOr<std::string> refused = HttpGet(port, "/metrics");
  ASSERT_TRUE(refused.ok()) << refused.status();
  EXPECT_EQ(StatusLine(*refused), "HTTP/1.1 503 Service Unavailable");
  EXPECT_TRUE(absl::StrContains(*refused, "\r\nRetry-After: 1\r\n"));
  // Once they leave, scrapes are served again.
  ::close(held[0]);
  ::close(held[1]);
  std::string status;
  for (int i = 0; i < 50 && status != "HTTP/1.1 200 OK"; ++i) {
    absl::StatusOr<std::string> r = HttpGet(port, "/metrics");
    ASSERT_TRUE(r.ok()) << r.status();
    status = StatusLine(*r);
    if (status != "HTTP/1.1 200 OK") absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_EQ(status, "HTTP/1.1 200 OK");
}

TEST(MetricsServerTest, RejectsOptionsOutOfRange) {
  std::unique_ptr<MetricsRegistry> registry = NewRegistry();
  ASSERT_NE(registry, nullptr);
  MetricsServerOptions no_connections, no_deadline, tiny_requests;
  no_connections.max_connections = 0;
  no_deadline.request_deadline = absl::ZeroDuration();
  tiny_requests.max_request_bytes = 10;
  for (const MetricsServerOptions& o :
       {no_connections, no_deadline, tiny_requests}) {
    EXPECT_EQ(
        MetricsServer::Start("127.0.0.1:0", registry.get(), o).status().code(),
        absl::StatusCode::kInvalidArgument);
  }
}

TEST(MetricsServerTest, KeepsServingAfterTheRegistryIsDestroyed) {
  std::unique_ptr<MetricsRegistry> registry = NewRegistry();
  ASSERT_NE(registry, nullptr);
  auto server = MetricsServer::Start("127.0.0.1:0", registry.get());
  ASSERT_TRUE(server.ok()) << server.status();
  registry.reset();
  absl::StatusOr<std::string> response = HttpGet((*server)->port(), "/metrics");
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_TRUE(absl::StrContains(*response, "\nprocess_open_fds ")) << *response;
}

TEST(MetricsServerTest, PortInUseIsUnavailable) {
  ListeningSocket taken;
  ASSERT_GT(taken.port(), 0);
  std::unique_ptr<MetricsRegistry> registry = NewRegistry();
  ASSERT_NE(registry, nullptr);
  const std::string address = absl::StrCat("127.0.0.1:", taken.port());
  auto server = MetricsServer::Start(address, registry.get());
  EXPECT_EQ(server.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(server.status().message(), address))
      << server.status();
  EXPECT_TRUE(absl::StrContains(server.status().message(), "in use"))
      << server.status();
}

TEST(MetricsServerTest, ForeignHostIsUnavailable) {
  std::unique_ptr<MetricsRegistry> registry = NewRegistry();
  ASSERT_NE(registry, nullptr);
  // TEST-NET-1 (RFC 5737): never an address of this machine.
  auto server = MetricsServer::Start("192.0.2.1:0", registry.get());
  EXPECT_EQ(server.status().code(), absl::StatusCode::kUnavailable);
}

TEST(MetricsServerTest, AcceptsHostNames) {
  std::unique_ptr<MetricsRegistry> registry = NewRegistry();
  ASSERT_NE(registry, nullptr);
  auto server = MetricsServer::Start("localhost:0", registry.get());
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_EQ((*server)->address(),
            absl::StrCat("localhost:", (*server)->port()));
}

TEST(MetricsServerTest, RejectsMalformedAddresses) {
  std::unique_ptr<MetricsRegistry> registry = NewRegistry();
  ASSERT_NE(registry, nullptr);
  for (const char* address :
       {"127.0.0.1", ":9100", "[]:9100", "127.0.0.1:", "127.0.0.1:http",
        "127.0.0.1:-1", "127.0.0.1:65536", "127.0.0.1:9100s"}) {
    EXPECT_EQ(MetricsServer::Start(address, registry.get()).status().code(),
              absl::StatusCode::kInvalidArgument)
        << address;
  }
}

TEST(MetricsServerTest, RejectsNullRegistry) {
  EXPECT_EQ(MetricsServer::Start("127.0.0.1:0", nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(StartDaemonMetricsTest, PortZeroDisablesMetrics) {
  absl::StatusOr<DaemonMetrics> metrics = StartDaemonMetrics("127.0.0.1", 0);
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_EQ(metrics->registry, nullptr);
  EXPECT_EQ(metrics->server, nullptr);
}

TEST(StartDaemonMetricsTest, RejectsBadPortsAndHosts) {
  EXPECT_EQ(StartDaemonMetrics("127.0.0.1", -1).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(StartDaemonMetrics("127.0.0.1", 65536).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(StartDaemonMetrics("", 9100).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// Also shows that a non-zero port is used as given (not replaced by a free
// one).
TEST(StartDaemonMetricsTest, PortInUseIsUnavailable) {
  ListeningSocket taken;
  ASSERT_GT(taken.port(), 0);
  EXPECT_EQ(StartDaemonMetrics("127.0.0.1", taken.port()).status().code(),
            absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace strata
