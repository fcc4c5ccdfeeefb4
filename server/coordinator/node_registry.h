// Registry of the nodes (worker daemons and parameter-server shards) known to
// the coordinator, and their liveness. See docs/coordinator.md.
#ifndef STRATA_SERVER_COORDINATOR_NODE_REGISTRY_H_
#define STRATA_SERVER_COORDINATOR_NODE_REGISTRY_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "proto/coordinator.pb.h"
#include "server/coordinator/state_store.h"
#include "server/jobs/job_type.h"
#include "server/security/identity.h"
#include "server/util/clock.h"

namespace strata {

// Role string of parameter-server shards; every other role is a worker role.
inline constexpr absl::string_view kPsRole = jobs::kParameterServerRole;
// Role given to nodes that register without one.
inline constexpr absl::string_view kDefaultWorkerRole = "general";

// Bounds on what a node says about itself (docs/limits.md). A role is "ps"
// or a worker role: a name (proto/base/names.h) of at most
// jobs::kMaxRoleBytes.
inline constexpr size_t kMaxHostnameBytes = 255;
inline constexpr size_t kMaxAddressBytes = 255;
inline constexpr uint32_t kMaxNodeCpus = 1 << 16;
inline constexpr uint32_t kMaxNodeGpus = 1024;

// The certificate name of shard `shard_id`: "ps-<shard_id>"
// (tools/certs.sh cluster).
std::string ShardIdentityName(uint32_t shard_id);

// Whether `caller` may register as `node` (its role set): a shard
// certificate only as role "ps" with the shard its name says
// (ShardIdentityName), a worker certificate only as a worker role (never
// "ps"), no other role at all. PERMISSION_DENIED naming the caller and
// what it asked for otherwise.
absl::Status CheckNodeIdentity(const NodeInfo& node,
                               const security::Identity& caller);

// A node's identity: its id and the secret the coordinator bound to it.
struct NodeCredentials {
  std::string node_id;
  std::string secret;  // kSecretBytes random bytes; never logged
};

// Tracks registered nodes and declares them dead when they stop sending
// heartbeats. Ids are "node-1", "node-2", ... in registration order and are
// never reused, across coordinator restarts too when there is a store; a
// node that was declared dead must register again and gets a new id.
//
// Identity: every registration gets a random secret bound to its id. Every
// later call of the node names both (Heartbeat, Authenticate); a wrong or
// missing secret is PERMISSION_DENIED, so no node can act as, or take over
// the id of, another. A node re-registering with its id and secret keeps the
// id while it is alive.
//
// Certificates (docs/security.md, "Identity rules"): calls that come over
// TLS carry the caller's identity. A registration must match it
// (CheckNodeIdentity), the node remembers (and stores) it, and every later
// call naming the node (Heartbeat, Authenticate, a re-registration) must
// come from the same identity: PERMISSION_DENIED naming the caller and the
// node otherwise. Plaintext calls (caller nullopt) skip these checks.
//
// Durability: with a StateStore, registrations (and the id counter) are
// written synchronously before they are answered, deaths and forgotten nodes
// buffered; heartbeats write nothing. Restore() loads the records of a
// restarted coordinator: live nodes count as alive until node_timeout after
// the restart, but are "restored" (not offered to the scheduler, not in
// PsAddresses, and their shard not handed to another node) until they call
// again with their secret.
//
// Liveness is evaluated against the injected Clock on every call, so a node
// whose heartbeat is overdue is dead for Heartbeat(), List() and
// PsAddresses() even before the next Sweep(); Sweep() reports each death
// exactly once so the caller can fail the node's work.
//
// Thread-safe. Does not own the clock, which must outlive the registry.
class NodeRegistry {
 public:
  struct Options {
    // A node with no heartbeat for this long is declared dead. Shorter
    // detects crashed nodes (and fails their jobs) sooner; longer tolerates
    // heartbeats delayed by a loaded machine or network without killing
    // healthy jobs.
    absl::Duration node_timeout = absl::Seconds(6);
    // Heartbeat period the coordinator asks nodes to use. Several heartbeats
    // per node_timeout make one lost or late heartbeat harmless; shorter costs
    // more RPCs.
    absl::Duration heartbeat_interval = absl::Seconds(1);
    // Dead nodes stay listed (alive = false) this long for operators, then
    // are forgotten so a flapping node cannot grow the registry forever.
    absl::Duration dead_node_retention = absl::Minutes(10);
    // Most nodes the registry holds, alive and dead (coordinator flag
    // --max_nodes); also the largest num_shards a ps node may claim. When
    // it is full, a new registration makes room by forgetting the nodes that
    // died longest ago; with max_nodes live nodes it is RESOURCE_EXHAUSTED.
    // Bounds the coordinator's memory and every scheduling pass against a
    // flood of registrations; too low refuses the nodes of a big cluster.
    size_t max_nodes = 4096;
  };

  // `store` may be null (state in memory only); not owned, must outlive the
  // registry.
  NodeRegistry(Options options, Clock* clock, StateStore* store = nullptr);
  NodeRegistry(const NodeRegistry&) = delete;
  NodeRegistry& operator=(const NodeRegistry&) = delete;

  // Loads the nodes of a restarted coordinator (StateStore::Load). Call
  // once, before anything else. Live ones are alive until node_timeout from
  // now; dead ones are reported by the next Sweep() again (their work may
  // not have been failed before the restart).
  void Restore(uint64_t next_seq, const std::vector<StoredNode>& nodes);

  // Registers a node and returns its id and secret. node_id, alive,
  // last_heartbeat_unix_ms and current_task of `node` are ignored; an empty
  // role becomes "general". INVALID_ARGUMENT naming the field for a role
  // that is neither "ps" nor a name of at most jobs::kMaxRoleBytes, a
  // hostname over kMaxHostnameBytes or with spaces or control characters,
  // an address that is not HOST:PORT (port 1 to 65535, at most
  // kMaxAddressBytes), cpus over kMaxNodeCpus or gpus over kMaxNodeGpus.
  // Role "ps" nodes must have an address and shard_id < num_shards <=
  // max_nodes (INVALID_ARGUMENT otherwise); a shard_id held by a live ps
  // node is ALREADY_EXISTS (UNAVAILABLE while the holder is a restored node
  // that has not called since the restart: retry), one held by a dead node
  // is taken over. A new id when max_nodes live nodes are registered is
  // RESOURCE_EXHAUSTED. A refused registration changes nothing.
  //
  // `claim` (both empty for a new node) re-asserts an earlier registration:
  // a known id with its secret keeps the id (and secret) while the node is
  // alive, with `node`'s new details; a dead node gets a new id. A known id
  // with another secret is PERMISSION_DENIED; an unknown id gets a new id.
  // UNAVAILABLE when the store cannot record a new registration.
  // A ps node whose num_shards differs from a live ps node's is
  // FAILED_PRECONDITION naming both counts (it would stop scheduling).
  //
  // `caller`: the identity of a TLS caller (see the class comment):
  // CheckNodeIdentity's errors, and a claimed id registered by another
  // identity is PERMISSION_DENIED.
  absl::StatusOr<NodeCredentials> Register(
      const NodeInfo& node, const NodeCredentials& claim = {},
      const std::optional<security::Identity>& caller = std::nullopt);

  // Records a heartbeat. NOT_FOUND for an unknown id, PERMISSION_DENIED for
  // a wrong secret or a `caller` other than the node's registrant,
  // FAILED_PRECONDITION for a node already declared dead (it must register
  // again).
  absl::Status Heartbeat(
      absl::string_view node_id, absl::string_view secret,
      const std::optional<security::Identity>& caller = std::nullopt);

  // The node, when `secret` is its secret: NOT_FOUND for an unknown id,
  // PERMISSION_DENIED for a wrong secret or a `caller` other than the
  // node's registrant. Dead nodes are returned (alive = false). A live
  // restored node counts as back.
  absl::StatusOr<NodeInfo> Authenticate(
      absl::string_view node_id, absl::string_view secret,
      const std::optional<security::Identity>& caller = std::nullopt);

  // Marks nodes whose heartbeat is overdue as dead and returns every node
  // that died since the previous Sweep() (each death is reported once).
  // Also forgets nodes dead for longer than dead_node_retention.
  std::vector<NodeInfo> Sweep();

  // The node with this id: NOT_FOUND if unknown (or forgotten).
  absl::StatusOr<NodeInfo> Get(absl::string_view node_id);

  // True if the node is registered and alive.
  bool IsAlive(absl::string_view node_id);

  // All known nodes, alive and dead, in id order (node-2 before node-10).
  // current_task is left empty; the registry does not track tasks.
  std::vector<NodeInfo> List();

  // The live nodes that may be given work: alive and, if restored, heard
  // from since the restart. In id order.
  std::vector<NodeInfo> Schedulable();

  // Addresses of the parameter-server shards indexed by shard_id, when every
  // shard in [0, num_shards) is registered, alive and not a restored node
  // waiting to call again, and all live ps nodes agree on num_shards. Otherwise
  // FAILED_PRECONDITION saying what is missing, e.g. "shard 1 of 2 is not
  // registered".
  absl::StatusOr<std::vector<std::string>> PsAddresses();

  // "node node-2 (host-a) died: no heartbeat for 6s".
  std::string DeathDescription(const NodeInfo& node) const;

  const Options& options() const { return options_; }

 private:
  struct Node {
    NodeInfo info;  // alive and last_heartbeat_unix_ms kept current
    std::string secret;
    // IdentityUri of the caller that registered it; "" over plaintext.
    std::string identity;
    absl::Time last_heartbeat;
    absl::Time died_at;  // valid when !info.alive()
    // Loaded by Restore() and not heard from since (see the class comment).
    bool restored = false;
  };

  // Declares overdue nodes (or `node`) dead and queues them for the next
  // Sweep().
  void ExpireLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ExpireNodeLocked(Node& node, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Node* FindLocked(absl::string_view node_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The node with `node_id` if `secret` is its secret and `caller` (when
  // set) registered it, else the error.
  absl::StatusOr<Node*> AuthenticateLocked(
      absl::string_view node_id, absl::string_view secret,
      const std::optional<security::Identity>& caller)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // FAILED_PRECONDITION when a live ps node other than `self` has another
  // num_shards than info (ps only).
  absl::Status CheckShardCountLocked(const NodeInfo& info, const Node* self)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The live ps node other than `self` holding `shard_id`, or nullptr; dead
  // holders are appended to `dead` when it is not null.
  Node* LivePsShardLocked(uint32_t shard_id, const Node* self,
                          std::vector<uint64_t>* dead)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // OK unless a live node other than `self` holds info's shard (ps only).
  absl::Status CheckShardFreeLocked(const NodeInfo& info, const Node* self)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Register() for a live node re-asserting its id: updates its details.
  absl::StatusOr<NodeCredentials> ReclaimLocked(Node& node, NodeInfo info,
                                                absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Register() for a new id, registered by `identity` ("" plaintext).
  absl::StatusOr<NodeCredentials> AddLocked(NodeInfo info,
                                            std::string identity,
                                            absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Writes the node's record (and `batch`'s other changes). Errors are
  // returned for the caller to refuse the change, or logged by PutLocked.
  absl::Status WriteLocked(const Node& node, StateStore::Batch batch,
                           StateStore::Durability durability)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void PutLocked(const Node& node, StateStore::Durability durability)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Forgets nodes (by seq) in memory and in the store.
  void EraseLocked(const std::vector<uint64_t>& seqs)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Appends to `forget` the nodes dead longest (not in it yet) until one
  // more node fits max_nodes; RESOURCE_EXHAUSTED when too few are dead.
  absl::Status MakeRoomLocked(std::vector<uint64_t>* forget)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Constant after construction.
  const Options options_;
  Clock* const clock_;
  StateStore* const store_;  // may be null; thread-safe itself

  absl::Mutex mu_;
  uint64_t next_seq_ ABSL_GUARDED_BY(mu_) = 1;
  // Keyed by the numeric part of the id, so iteration is in id order.
  std::map<uint64_t, Node> nodes_ ABSL_GUARDED_BY(mu_);
  // Nodes declared dead and not yet returned by Sweep().
  std::vector<NodeInfo> unreported_dead_ ABSL_GUARDED_BY(mu_);
};

}  // namespace strata

#endif  // STRATA_SERVER_COORDINATOR_NODE_REGISTRY_H_
