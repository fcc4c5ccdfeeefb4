#include "server/node/node_session.h"

#include <algorithm>
#include <fstream>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "glog/logging.h"
#include "grpcpp/grpcpp.h"
#include "proto/base/status_macros.h"
#include "proto/rpc_util.h"
#include "server/util/port_file.h"

namespace strata {

namespace {

grpc::ChannelArguments SessionChannelArguments(
    const NodeSessionOptions& options) {
  grpc::ChannelArguments args =
      DefaultChannelArguments(kDefaultMaxMessageBytes);
  const int max_wait =
      static_cast<int>(absl::ToInt64Milliseconds(options.max_reconnect_wait));
  const int first_wait = std::min(
      max_wait, static_cast<int>(absl::ToInt64Milliseconds(options.backoff)));
  // Not GRPC_ARG_MIN_RECONNECT_BACKOFF_MS: it is also the time a connection
  // attempt may take, and a short one fails handshakes with a busy server.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, first_wait);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, max_wait);
  // A failed connection asks the resolver again; by default it answers at
  // most every 30 s, which would hold the reconnection back as long.
  args.SetInt(GRPC_ARG_DNS_MIN_TIME_BETWEEN_RESOLUTIONS_MS, max_wait);
  return args;
}

constexpr absl::string_view kIdLine = "node_id ";
constexpr absl::string_view kSecretLine = "secret ";

// The identity an earlier process kept in `path`; empty when there is
// none or it does not parse (the node then registers anew).
NodeSession::Credentials ReadIdentity(const std::string& path) {
  std::ifstream in(path);
  std::string id_line, secret_line;
  if (!in || !std::getline(in, id_line) || !std::getline(in, secret_line) ||
      !absl::StartsWith(id_line, kIdLine) ||
      !absl::StartsWith(secret_line, kSecretLine)) {
    return {};
  }
  const std::string hex = secret_line.substr(kSecretLine.size());
  if (hex.empty() || hex.size() % 2 != 0 ||
      hex.find_first_not_of("0123456789abcdef") != std::string::npos) {
    return {};
  }
  return {id_line.substr(kIdLine.size()), absl::HexStringToBytes(hex)};
}

// Replaces `path` with the identity; private (mode 0600): it holds the
// secret.
absl::Status WriteIdentity(const std::string& path,
                           const NodeSession::Credentials& c) {
  return WriteFileAtomically(
      path,
      absl::StrCat(kIdLine, c.node_id, "\n", kSecretLine,
                   absl::BytesToHexString(c.secret), "\n"),
      0600);
}

}  // namespace

NodeSession::NodeSession(NodeSessionOptions options)
    : options_(std::move(options)),
      stub_(NewStub()),
      heartbeat_stub_(NewStub()),
      interval_(options_.heartbeat_interval) {
  if (!options_.identity_file.empty()) {
    absl::MutexLock lock(&mu_);
    credentials_ = ReadIdentity(options_.identity_file);
  }
}

std::unique_ptr<NodeService::Stub> NodeSession::NewStub() const {
  return NodeService::NewStub(grpc::CreateCustomChannel(
      options_.coordinator,
      security::ChannelCredentialsOf(options_.credentials),
      SessionChannelArguments(options_)));
}

NodeSession::~NodeSession() {
  Stop();
  if (heartbeat_.joinable()) heartbeat_.join();
}

void NodeSession::Stop() {
  absl::MutexLock lock(&mu_);
  if (!stop_.HasBeenNotified()) stop_.Notify();
}

std::string NodeSession::node_id() const {
  absl::MutexLock lock(&mu_);
  return credentials_.node_id;
}

NodeSession::Credentials NodeSession::credentials() const {
  absl::MutexLock lock(&mu_);
  return credentials_;
}

void NodeSession::SleepUnlessStopped(absl::Duration d) const {
  stop_.WaitForNotificationWithTimeout(d);
}

absl::Status NodeSession::RegisterOnce(const Credentials& claim) {
  RegisterNodeRequest req;
  *req.mutable_node() = options_.node;
  req.set_node_id(claim.node_id);
  req.set_node_secret(claim.secret);
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + options_.rpc_timeout));
  RegisterNodeResponse resp;
  STRATA_RETURN_IF_ERROR(FromGrpcStatus(stub_->RegisterNode(&ctx, req, &resp)));
  absl::MutexLock lock(&mu_);
  credentials_ = {resp.node_id(), resp.node_secret()};
  if (!options_.identity_file.empty()) {
    const absl::Status kept =
        WriteIdentity(options_.identity_file, credentials_);
    LOG_IF(WARNING, !kept.ok())
        << "keeping the node identity in " << options_.identity_file << ": "
        << kept << " (a restart registers anew)";
  }
  if (resp.heartbeat_interval_ms() > 0) {
    interval_ = absl::Milliseconds(resp.heartbeat_interval_ms());
  }
  LOG(INFO) << (resp.node_id() == claim.node_id ? "re-registered"
                                                : "registered")
            << " with coordinator " << options_.coordinator << " as "
            << resp.node_id() << " (role " << options_.node.role() << ")"
            << (claim.node_id.empty() || resp.node_id() == claim.node_id
                    ? ""
                    : absl::StrCat("; ", claim.node_id, " was not kept"));
  return absl::OkStatus();
}

absl::Status NodeSession::Register() {
  Credentials claim = credentials();
  absl::Duration backoff = options_.backoff;
  while (!stop_.HasBeenNotified()) {
    absl::Status s = RegisterOnce(claim);
    if (s.ok()) return s;
    if (s.code() == absl::StatusCode::kPermissionDenied &&
        !claim.node_id.empty()) {
      LOG(WARNING) << "coordinator refused to let this node keep "
                   << claim.node_id << " (" << s << "); registering anew";
      claim = {};
      continue;
    }
    if (s.code() == absl::StatusCode::kAlreadyExists) {
      // A shard id still held by a node the coordinator has not declared
      // dead yet (this shard's previous process, without an identity
      // file): free within the coordinator's node timeout.
      LOG(WARNING) << s << "; retrying in " << backoff;
      SleepUnlessStopped(backoff);
      backoff = std::min(backoff * 2, options_.max_backoff);
      continue;
    }
    if (s.code() != absl::StatusCode::kUnavailable &&
        s.code() != absl::StatusCode::kDeadlineExceeded) {
      return s;
    }
    LOG(WARNING) << "coordinator " << options_.coordinator << " unreachable ("
                 << s << "); retrying in " << backoff;
    SleepUnlessStopped(backoff);
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
  return absl::CancelledError("stopped before registering");
}

void NodeSession::StartHeartbeats(
    std::function<void()> on_lost,
    std::function<void(const std::string&)> on_registered) {
  CHECK(!heartbeat_.joinable()) << "StartHeartbeats called twice";
  heartbeat_ = std::thread([this, on_lost = std::move(on_lost),
                            on_registered = std::move(on_registered)] {
    HeartbeatLoop(on_lost, on_registered);
  });
}

void NodeSession::HeartbeatLoop(
    std::function<void()> on_lost,
    std::function<void(const std::string&)> on_registered) {
  while (true) {
    absl::Duration interval;
    {
      absl::MutexLock lock(&mu_);
      interval = interval_;
    }
    if (stop_.WaitForNotificationWithTimeout(interval)) return;
    HeartbeatRequest req;
    const Credentials who = credentials();
    req.set_node_id(who.node_id);
    req.set_node_secret(who.secret);
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + options_.rpc_timeout));
    HeartbeatResponse resp;
    absl::Status s =
        FromGrpcStatus(heartbeat_stub_->Heartbeat(&ctx, req, &resp));
    if (s.code() == absl::StatusCode::kNotFound ||
        s.code() == absl::StatusCode::kFailedPrecondition ||
        s.code() == absl::StatusCode::kPermissionDenied) {
      LOG(WARNING) << "coordinator no longer knows " << req.node_id() << " ("
                   << s << "); re-registering";
      if (on_lost) on_lost();
      absl::Status r = Register();
      if (r.ok() && on_registered) on_registered(node_id());
      if (!r.ok() && !stop_.HasBeenNotified()) {
        LOG(ERROR) << "re-registration failed: " << r;
      }
    } else if (!s.ok()) {
      LOG(WARNING) << "heartbeat failed: " << s;
      if (s.code() == absl::StatusCode::kUnavailable ||
          s.code() == absl::StatusCode::kDeadlineExceeded) {
        // A fresh channel connects at the next heartbeat, whatever the old
        // one's reconnection backoff says: the coordinator may be back.
        heartbeat_stub_ = NewStub();
      }
    }
  }
}

}  // namespace strata
