#include "server/metrics/metrics_server.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
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
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "glog/logging.h"
#include "prometheus/text_serializer.h"
#include "proto/base/status_macros.h"

namespace strata {
namespace {

constexpr int kListenBacklog = 16;
// Below this a request line with a path does not fit.
constexpr size_t kMinRequestBytes = 64;
constexpr absl::string_view kText = "text/plain; charset=utf-8";

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
    fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
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

std::string FormatResponse(absl::string_view status,
                           absl::string_view extra_header,
                           absl::string_view content_type,
                           absl::string_view body, bool send_body) {
  return absl::StrCat("HTTP/1.1 ", status, "\r\nContent-Type: ", content_type,
                      "\r\nContent-Length: ", body.size(), "\r\n", extra_header,
                      "Connection: close\r\n\r\n", send_body ? body : "");
}

absl::Status CheckOptions(const MetricsServerOptions& o) {
  if (o.max_connections < 1 || o.request_deadline <= absl::ZeroDuration() ||
      o.max_request_bytes < kMinRequestBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics server options: max_connections ",
                     o.max_connections, " (want >= 1), request_deadline ",
                     absl::FormatDuration(o.request_deadline), " (want > 0), ",
                     "max_request_bytes ", o.max_request_bytes,
                     " (want >= ", kMinRequestBytes, ")"));
  }
  return absl::OkStatus();
}

}  // namespace

namespace metrics_internal {

// One client connection of the serving loop: non-blocking, reading its
// request head until `responding`, then writing `out`.
struct Connection {
  int fd = -1;
  absl::Time deadline;
  std::string in;   // the request head so far
  std::string out;  // the response, once known
  size_t sent = 0;  // bytes of `out` written
  bool responding = false;
};

}  // namespace metrics_internal

namespace {

using metrics_internal::Connection;

bool HeadComplete(const std::string& head) {
  return head.find("\r\n\r\n") != std::string::npos ||
         head.find("\n\n") != std::string::npos;
}

// Reads what has arrived. False when the connection is finished (EOF,
// error).
bool ReadSome(Connection* c) {
  char buffer[4096];
  const ssize_t n = ::recv(c->fd, buffer, sizeof(buffer), MSG_DONTWAIT);
  if (n < 0) return errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK;
  if (n == 0) return false;  // the client left before sending its request
  c->in.append(buffer, static_cast<size_t>(n));
  return true;
}

// Writes what the socket takes. False when the connection is finished (all
// written, or the client is gone).
bool WriteSome(Connection* c) {
  const absl::string_view rest = absl::string_view(c->out).substr(c->sent);
  const ssize_t n =
      ::send(c->fd, rest.data(), rest.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  if (n < 0) return errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK;
  c->sent += static_cast<size_t>(n);
  return c->sent < c->out.size();
}

void Close(const Connection& c) {
  ::shutdown(c.fd, SHUT_WR);
  ::close(c.fd);
}

// Milliseconds until the earliest deadline (at least 0), or -1 for none.
int PollTimeoutMs(const std::vector<Connection>& conns, absl::Time now) {
  if (conns.empty()) return -1;
  absl::Time first = absl::InfiniteFuture();
  for (const Connection& c : conns) first = std::min(first, c.deadline);
  return static_cast<int>(
      std::max<int64_t>(0, absl::ToInt64Milliseconds(absl::Ceil(
                               first - now, absl::Milliseconds(1)))));
}

}  // namespace

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Start(
    const std::string& address, MetricsRegistry* registry,
    const MetricsServerOptions& options) {
  if (registry == nullptr) {
    return absl::InvalidArgumentError("MetricsServer::Start: null registry");
  }
  STRATA_RETURN_IF_ERROR(CheckOptions(options));
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
      registry->collectable(), options, listen_fd, wake[0], wake[1], port,
      absl::StrCat(address.substr(0, address.rfind(':')), ":", port)));
  server->thread_ = std::thread([s = server.get()] { s->Serve(); });
  return server;
}

MetricsServer::MetricsServer(
    std::shared_ptr<prometheus::Collectable> collectable,
    const MetricsServerOptions& options, int listen_fd, int wake_read_fd,
    int wake_write_fd, int port, std::string address)
    : collectable_(std::move(collectable)),
      options_(options),
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
  std::vector<Connection> conns;
  std::vector<pollfd> fds;
  while (true) {
    const absl::Time now = absl::Now();
    // Past its deadline a connection is closed without an answer.
    conns.erase(std::remove_if(conns.begin(), conns.end(),
                               [now](const Connection& c) {
                                 if (c.deadline > now) return false;
                                 Close(c);
                                 return true;
                               }),
                conns.end());
    fds.assign({{listen_fd_, POLLIN, 0}, {wake_read_fd_, POLLIN, 0}});
    for (const Connection& c : conns) {
      fds.push_back(
          {c.fd, static_cast<short>(c.responding ? POLLOUT : POLLIN), 0});
    }
    if (::poll(fds.data(), fds.size(), PollTimeoutMs(conns, now)) < 0) {
      if (errno == EINTR) continue;
      LOG(ERROR) << "metrics server on " << address_
                 << ": poll: " << std::strerror(errno) << "; stopping";
      break;
    }
    if (fds[1].revents != 0) break;  // the destructor is waiting
    std::vector<Connection> open;
    for (size_t i = 0; i < conns.size(); ++i) {
      if (fds[i + 2].revents == 0 || Step(&conns[i])) {
        open.push_back(std::move(conns[i]));
      } else {
        Close(conns[i]);
      }
    }
    conns = std::move(open);
    if (fds[0].revents != 0) Accept(&conns);
  }
  for (const Connection& c : conns) Close(c);
}

bool MetricsServer::Step(Connection* c) const {
  if (!c->responding) {
    if (!ReadSome(c)) return false;
    if (HeadComplete(c->in)) {
      c->out = ResponseTo(c->in);
    } else if (c->in.size() > options_.max_request_bytes) {
      c->out = FormatResponse("431 Request Header Fields Too Large", "", kText,
                              "request head too long\n", true);
    } else {
      return true;  // wait for more of the head
    }
    c->responding = true;
  }
  return WriteSome(c);
}

void MetricsServer::Accept(std::vector<Connection>* conns) const {
  const int fd =
      ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
  if (fd < 0) {
    // Out of descriptors or memory: back off briefly (still waking for
    // shutdown) instead of spinning. EAGAIN: the client already left.
    if (errno != EINTR && errno != ECONNABORTED && errno != EAGAIN &&
        errno != EWOULDBLOCK) {
      pollfd wake = {wake_read_fd_, POLLIN, 0};
      ::poll(&wake, 1, 100);
    }
    return;
  }
  Connection c;
  c.fd = fd;
  c.deadline = absl::Now() + options_.request_deadline;
  if (static_cast<int>(conns->size()) >= options_.max_connections) {
    // Over the limit: answer at once (a fresh socket's buffer takes it).
    c.out = FormatResponse("503 Service Unavailable", "Retry-After: 1\r\n",
                           kText, "too many connections\n", true);
    WriteSome(&c);
    Close(c);
    return;
  }
  conns->push_back(std::move(c));
}

std::string MetricsServer::ResponseTo(const std::string& head) const {
  absl::string_view line = absl::string_view(head).substr(0, head.find('\n'));
  line = absl::StripTrailingAsciiWhitespace(line);
  const std::vector<absl::string_view> parts = absl::StrSplit(line, ' ');
  if (parts.size() != 3 || !absl::StartsWith(parts[2], "HTTP/")) {
    return FormatResponse("400 Bad Request", "", kText,
                          "malformed request line\n", true);
  }
  const absl::string_view method = parts[0];
  const absl::string_view path = parts[1].substr(0, parts[1].find('?'));
  if (method != "GET" && method != "HEAD") {
    return FormatResponse("405 Method Not Allowed", "Allow: GET, HEAD\r\n",
                          kText, "only GET and HEAD\n", true);
  }
  if (path != "/metrics") {
    return FormatResponse("404 Not Found", "", kText,
                          "metrics are at /metrics\n", method == "GET");
  }
  const std::string body =
      prometheus::TextSerializer().Serialize(collectable_->Collect());
  return FormatResponse("200 OK", "",
                        "text/plain; version=0.0.4; charset=utf-8", body,
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
