// A daemon's membership in the cluster: registers with the coordinator
// (retrying with backoff while it is unreachable), heartbeats on a
// background thread, and re-registers by itself when the coordinator says it
// no longer knows the node (a coordinator restart without a state store,
// declared dead after a stall, or its id refused). Used by parameter-server
// shards and worker daemons.
//
// Identity: the coordinator binds a secret to the node's id. The session
// keeps both, sends the secret with every heartbeat (and hands both to the
// daemon for its own calls: credentials()), and re-asserts them when it
// registers again, so a node keeps its id whenever the coordinator still
// knows it alive (e.g. restarted over its state store). When the
// coordinator refuses the pair (PERMISSION_DENIED: the id is not this
// node's), the session drops it and registers for a new id.
#ifndef STRATA_SERVER_NODE_NODE_SESSION_H_
#define STRATA_SERVER_NODE_NODE_SESSION_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "proto/coordinator.grpc.pb.h"
#include "server/security/credentials.h"

namespace strata {

struct NodeSessionOptions {
  std::string coordinator = "127.0.0.1:7070";
  // Transport security of the channel to the coordinator
  // (docs/security.md); null: plaintext.
  std::shared_ptr<const security::Credentials> credentials;
  // What this node announces; node_id/alive/last_heartbeat are ignored.
  NodeInfo node;
  absl::Duration rpc_timeout = absl::Seconds(5);
  // Used until the coordinator's RegisterNode response names an interval.
  absl::Duration heartbeat_interval = absl::Seconds(1);
  // Wait between attempts to reach the coordinator; doubles up to the max.
  absl::Duration backoff = absl::Milliseconds(200);
  absl::Duration max_backoff = absl::Seconds(5);
  // Longest wait of the channel between reconnection attempts after the
  // coordinator went away (gRPC's default grows to 2 minutes). Keep it well
  // below the coordinator's node timeout: a node must heartbeat a restarted
  // coordinator within that timeout to keep its id and its tasks.
  absl::Duration max_reconnect_wait = absl::Seconds(1);
  // When set, the node's id and secret are kept in this file (mode 0600,
  // replaced atomically after each registration) and re-asserted by the
  // next process that starts with it: a restarted shard (its --data_dir)
  // keeps its node id and takes its shard back at once, instead of being
  // refused (ALREADY_EXISTS) until the coordinator declares the dead
  // process's node dead. Empty: the identity lives in memory only.
  std::string identity_file;
};

// Owns its stub and heartbeat thread. Thread-safe.
class NodeSession {
 public:
  // The node's id and the secret bound to it; both empty before Register.
  // Never log the secret.
  struct Credentials {
    std::string node_id;
    std::string secret;
  };

  explicit NodeSession(NodeSessionOptions options);
  ~NodeSession();  // stops heartbeats

  // Registers, re-asserting the id and secret of an earlier registration if
  // there was one (of this session, or in options.identity_file); retries
  // UNAVAILABLE/DEADLINE_EXCEEDED, and ALREADY_EXISTS (a shard id still
  // held by a node not yet declared dead: an earlier process of this
  // shard), until it succeeds or Stop() is called (CANCELLED). A refused
  // re-assertion (PERMISSION_DENIED) is dropped and the node registers
  // anew; other errors are returned at once.
  absl::Status Register();

  // Starts heartbeating. When the coordinator forgets this node or refuses
  // its secret, calls `on_lost` (from the heartbeat thread), then
  // re-registers and calls `on_registered` with the (new) id. Either
  // callback may be empty.
  void StartHeartbeats(std::function<void()> on_lost,
                       std::function<void(const std::string&)> on_registered);

  void Stop();
  bool stopped() const { return stop_.HasBeenNotified(); }
  std::string node_id() const;
  // The id and secret together (one lock), for the daemon's own calls.
  Credentials credentials() const;
  NodeService::Stub* stub() const { return stub_.get(); }
  // Sleeps for `d` or until Stop(), whichever is first.
  void SleepUnlessStopped(absl::Duration d) const;

 private:
  void HeartbeatLoop(std::function<void()> on_lost,
                     std::function<void(const std::string&)> on_registered);
  std::unique_ptr<NodeService::Stub> NewStub() const;
  // One RegisterNode call re-asserting `claim` (may be empty).
  absl::Status RegisterOnce(const Credentials& claim);

  // Constant after construction.
  const NodeSessionOptions options_;
  // For the daemon's calls (stub()) and registration.
  const std::unique_ptr<NodeService::Stub> stub_;
  // Heartbeats have a channel of their own, used by the heartbeat thread
  // only, and made anew after a heartbeat that could not reach the
  // coordinator: gRPC's reconnection was seen to take 4 s or more after a
  // coordinator restart, and heartbeats must reach a restarted coordinator
  // within its node timeout for the node to keep its id and tasks.
  std::unique_ptr<NodeService::Stub> heartbeat_stub_;

  absl::Notification stop_;
  std::thread heartbeat_;  // started once by StartHeartbeats
  mutable absl::Mutex mu_;
  Credentials credentials_ ABSL_GUARDED_BY(mu_);
  absl::Duration interval_ ABSL_GUARDED_BY(mu_);
};

}  // namespace strata

#endif  // STRATA_SERVER_NODE_NODE_SESSION_H_
