#include "server/metrics/metrics_server.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "glog/logging.h"
#include "prometheus/text_serializer.h"
#include "proto/base/status_macros.h"

namespace strata {
namespace {

// Requests are a request line and a few headers; anything longer is not a
// scraper.
constexpr size_t kMaxRequestBytes = 8192;
constexpr int kListenBacklog = 16;

struct HostPort {
  std::string host;  // without the brackets of an IPv6 literal
  std::string port;  // decimal, in [0, 65535]
};

// Splits "HOST:PORT" at the last ':'; "[v6]:PORT" loses its brackets.
absl::StatusOr<HostPort> ParseAddress(absl::string_view address) {
  const size_t colon = address.rfind(':');
  if (colon == absl::string_view::npos || colon == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "metrics address '", address, "' is not of the form HOST:PORT"));
  }
  absl::string_view host = address.substr(0, colon);
  const absl::string_view port = address.substr(colon + 1);
  int port_number = -1;
  if (port.empty() || port.size() > 5 ||
      !std::all_of(port.begin(), port.end(), absl::ascii_isdigit) ||
      !absl::SimpleAtoi(port, &port_number) || port_number > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics address '", address, "' has port '", port,
                     "'; need a number in [0, 65535]"));
  }
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics address '", address, "' has an empty host"));
  }
  return HostPort{std::string(host), std::string(port)};
}

absl::Status BindError(int err, absl::string_view address) {
  const std::string message = absl::StrCat(
      "cannot serve metrics on ", address, ": ", std::strerror(err),
      err == EADDRINUSE      ? " (another process holds the port)"
      : err == EADDRNOTAVAIL ? " (the host is not an address of this machine)"
                             : "");
  if (err == EACCES) return absl::PermissionDeniedError(message);
  return absl::UnavailableError(message);
}

// A listening socket on the first address `hp` resolves to that can be
// bound, and the port it got.
absl::StatusOr<std::pair<int, int>> Listen(const HostPort& hp,
                                           absl::string_view address) {
  addrinfo hints = {};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* results = nullptr;
  if (int rc =
          ::getaddrinfo(hp.host.c_str(), hp.port.c_str(), &hints, &results);
      rc != 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot serve metrics on ", address, ": resolving '",
                     hp.host, "': ", ::gai_strerror(rc)));
  }
  int fd = -1;
  int err = EADDRNOTAVAIL;
  for (const addrinfo* ai = results; ai != nullptr && fd < 0;
       ai = ai->ai_next) {
    fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
                  ai->ai_protocol);
    if (fd < 0) {
      err = errno;
      continue;
    }
    // Lets a restarted daemon rebind while old connections sit in
    // TIME_WAIT; Linux still refuses a port another socket listens on.
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (::bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 ||
        ::listen(fd, kListenBacklog) != 0) {
      err = errno;
      ::close(fd);
      fd = -1;
    }
  }
  ::freeaddrinfo(results);
  if (fd < 0) return BindError(err, address);
  sockaddr_storage bound = {};
  socklen_t len = sizeof(bound);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len) != 0) {
    err = errno;
    ::close(fd);
    return BindError(err, address);
  }
  const int port =
      bound.ss_family == AF_INET6
          ? ntohs(reinterpret_cast<const sockaddr_in6*>(&bound)->sin6_port)
          : ntohs(reinterpret_cast<const sockaddr_in*>(&bound)->sin_port);
  return std::make_pair(fd, port);
}

void SetIoTimeouts(int fd, absl::Duration timeout) {
  const timeval tv = absl::ToTimeval(timeout);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

// Reads up to the blank line ending the request head. OUT_OF_RANGE if the
// head exceeds kMaxRequestBytes, UNAVAILABLE on EOF, error or timeout.
absl::StatusOr<std::string> ReadRequestHead(int fd) {
  std::string head;
  char buffer[1024];
  while (head.find("\r\n\r\n") == std::string::npos &&
         head.find("\n\n") == std::string::npos) {
    if (head.size() > kMaxRequestBytes) {
      return absl::OutOfRangeError("request head too long");
    }
    const ssize_t n = ::recv(fd, buffer, sizeof(buffer), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return absl::UnavailableError("connection ended early");
    head.append(buffer, static_cast<size_t>(n));
  }
  return head;
}

void WriteAll(int fd, absl::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // the client is gone or too slow: drop it
    data.remove_prefix(static_cast<size_t>(n));
  }
}

void Respond(int fd, absl::string_view status, absl::string_view extra_header,
             absl::string_view content_type, absl::string_view body,
             bool send_body) {
  WriteAll(fd, absl::StrCat(
                   "HTTP/1.1 ", status, "\r\nContent-Type: ", content_type,
                   "\r\nContent-Length: ", body.size(), "\r\n", extra_header,
                   "Connection: close\r\n\r\n", send_body ? body : ""));
}

}  // namespace

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Start(
    const std::string& address, MetricsRegistry* registry) {
  if (registry == nullptr) {
    return absl::InvalidArgumentError("MetricsServer::Start: null registry");
  }
  STRATA_ASSIGN_OR_RETURN(const HostPort hp, ParseAddress(address));
  STRATA_ASSIGN_OR_RETURN(const auto listening, Listen(hp, address));
  const auto [listen_fd, port] = listening;  // socket, bound port
  int wake[2];
  if (::pipe2(wake, O_CLOEXEC) != 0) {
    const int err = errno;
    ::close(listen_fd);
    return absl::ResourceExhaustedError(
        absl::StrCat("metrics server: pipe2: ", std::strerror(err)));
  }
  std::unique_ptr<MetricsServer> server(new MetricsServer(
      registry->collectable(), listen_fd, wake[0], wake[1], port,
      absl::StrCat(address.substr(0, address.rfind(':')), ":", port)));
  server->thread_ = std::thread([s = server.get()] { s->Serve(); });
  return server;
}

MetricsServer::MetricsServer(
    std::shared_ptr<prometheus::Collectable> collectable, int listen_fd,
    int wake_read_fd, int wake_write_fd, int port, std::string address)
    : collectable_(std::move(collectable)),
      listen_fd_(listen_fd),
      wake_read_fd_(wake_read_fd),
      wake_write_fd_(wake_write_fd),
      port_(port),
      address_(std::move(address)) {}

MetricsServer::~MetricsServer() {
  if (thread_.joinable()) {
    const char byte = 0;
    while (::write(wake_write_fd_, &byte, 1) < 0 && errno == EINTR) {
    }
    thread_.join();
  }
  ::close(listen_fd_);
  ::close(wake_read_fd_);
  ::close(wake_write_fd_);
}

void MetricsServer::Serve() {
  while (true) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_read_fd_, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      LOG(ERROR) << "metrics server on " << address_
                 << ": poll: " << std::strerror(errno) << "; stopping";
      return;
    }
    if (fds[1].revents != 0) return;  // the destructor is waiting
    if (fds[0].revents == 0) continue;
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      // Out of descriptors or memory, or the client already left: back off
      // briefly (still waking for shutdown) instead of spinning.
      if (errno != EINTR && errno != ECONNABORTED && errno != EAGAIN) {
        pollfd wake = {wake_read_fd_, POLLIN, 0};
        ::poll(&wake, 1, 100);
      }
      continue;
    }
    HandleConnection(fd);
    ::shutdown(fd, SHUT_WR);
    ::close(fd);
  }
}

void MetricsServer::HandleConnection(int fd) const {
  constexpr absl::string_view kText = "text/plain; charset=utf-8";
  SetIoTimeouts(fd, kIoTimeout);
  absl::StatusOr<std::string> head = ReadRequestHead(fd);
  if (!head.ok()) {
    if (head.status().code() == absl::StatusCode::kOutOfRange) {
      Respond(fd, "431 Request Header Fields Too Large", "", kText,
              "request head too long\n", true);
    }
    return;
  }
  absl::string_view line = absl::string_view(*head).substr(0, head->find('\n'));
  line = absl::StripTrailingAsciiWhitespace(line);
  const std::vector<absl::string_view> parts = absl::StrSplit(line, ' ');
  if (parts.size() != 3 || !absl::StartsWith(parts[2], "HTTP/")) {
    Respond(fd, "400 Bad Request", "", kText, "malformed request line\n", true);
    return;
  }
  const absl::string_view method = parts[0];
  const absl::string_view path = parts[1].substr(0, parts[1].find('?'));
  if (method != "GET" && method != "HEAD") {
    Respond(fd, "405 Method Not Allowed", "Allow: GET, HEAD\r\n", kText,
            "only GET and HEAD\n", true);
    return;
  }
  if (path != "/metrics") {
    Respond(fd, "404 Not Found", "", kText, "metrics are at /metrics\n",
            method == "GET");
    return;
  }
  const std::string body =
      prometheus::TextSerializer().Serialize(collectable_->Collect());
  Respond(fd, "200 OK", "", "text/plain; version=0.0.4; charset=utf-8", body,
          method == "GET");
}

absl::StatusOr<DaemonMetrics> StartDaemonMetrics(const std::string& host,
                                                 int port) {
  if (port < 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics port ", port, " is not in [0, 65535]"));
  }
  DaemonMetrics metrics;
  if (port == 0) return metrics;
  if (host.empty()) {
    return absl::InvalidArgumentError("metrics host is empty");
  }
  STRATA_ASSIGN_OR_RETURN(metrics.registry, MetricsRegistry::Create());
  STRATA_ASSIGN_OR_RETURN(metrics.server,
                          MetricsServer::Start(absl::StrCat(host, ":", port),
                                               metrics.registry.get()));
  LOG(INFO) << "metrics at http://" << metrics.server->address() << "/metrics";
  return metrics;
}

}  // namespace strata
