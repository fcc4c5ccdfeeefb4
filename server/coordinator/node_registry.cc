#include "server/coordinator/node_registry.h"

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "glog/logging.h"
#include "proto/base/names.h"
#include "proto/base/status_macros.h"
#include "server/coordinator/internal/secret.h"

namespace strata {
namespace {

constexpr absl::string_view kNodeIdPrefix = "node-";

// The numeric part of "node-N", or 0 when `id` is not of that form.
uint64_t ParseNodeSeq(absl::string_view id) {
  if (!absl::ConsumePrefix(&id, kNodeIdPrefix)) return 0;
  uint64_t seq = 0;
  if (!absl::SimpleAtoi(id, &seq)) return 0;
  return seq;
}

// HOST:PORT with a port in [1, 65535]; HOST is a host name or IPv4 address
// of [A-Za-z0-9._-], or an IPv6 literal in brackets.
bool IsHostPort(absl::string_view address) {
  const size_t colon = address.rfind(':');
  if (colon == absl::string_view::npos) return false;
  absl::string_view host = address.substr(0, colon);
  const absl::string_view port = address.substr(colon + 1);
  uint32_t port_number = 0;
  if (port.empty() || port.size() > 5 ||
      !std::all_of(port.begin(), port.end(), absl::ascii_isdigit) ||
      !absl::SimpleAtoi(port, &port_number) || port_number == 0 ||
      port_number > 65535) {
    return false;
  }
  const bool v6 = absl::ConsumePrefix(&host, "[");
  if (v6 && !absl::ConsumeSuffix(&host, "]")) return false;
  return !host.empty() && std::all_of(host.begin(), host.end(), [v6](char c) {
    return absl::ascii_isalnum(c) || c == '.' || c == '-' || c == '_' ||
           (v6 && (c == ':' || c == '%'));
  });
}

absl::Status CheckHostname(absl::string_view hostname) {
  if (hostname.size() > kMaxHostnameBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("node hostname is ", hostname.size(),
                     " bytes; the limit is ", kMaxHostnameBytes));
  }
  if (!std::all_of(hostname.begin(), hostname.end(), absl::ascii_isgraph)) {
    return absl::InvalidArgumentError(
        absl::StrCat("node hostname '", absl::CHexEscape(hostname),
                     "' may not hold spaces or control characters"));
  }
  return absl::OkStatus();
}

absl::Status CheckAddress(absl::string_view address) {
  if (address.size() > kMaxAddressBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("node address is ", address.size(),
                     " bytes; the limit is ", kMaxAddressBytes));
  }
  if (!address.empty() && !IsHostPort(address)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "node address '", absl::CHexEscape(address),
        "' is not HOST:PORT (a host name, IPv4 address or [IPv6] literal, "
        "and a port in [1, 65535])"));
  }
  return absl::OkStatus();
}

absl::Status CheckCount(absl::string_view what, uint32_t value, uint32_t max) {
  if (value <= max) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "node ", what, " ", value, " is out of range [0, ", max, "]"));
}

absl::Status ValidatePsNode(const NodeInfo& node, size_t max_nodes) {
  if (node.num_shards() == 0) {
    return absl::InvalidArgumentError("ps node must set num_shards >= 1");
  }
  if (node.num_shards() > max_nodes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ps node num_shards ", node.num_shards(),
        " exceeds the most nodes the coordinator holds, ", max_nodes,
        " (coordinator flag --max_nodes)"));
  }
  if (node.shard_id() >= node.num_shards()) {
    return absl::InvalidArgumentError(
        absl::StrCat("ps node shard_id ", node.shard_id(),
                     " is out of range [0, ", node.num_shards(), ")"));
  }
  if (node.address().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("ps node for shard ", node.shard_id(),
                     " must set the address it serves on"));
  }
  return absl::OkStatus();
}

// Every rule of Register() that needs no lock; `node` has its role set.
absl::Status ValidateNode(const NodeInfo& node, size_t max_nodes) {
  if (node.role() != kPsRole) {
    STRATA_RETURN_IF_ERROR(
        CheckName("node role", node.role(), jobs::kMaxRoleBytes));
  }
  STRATA_RETURN_IF_ERROR(CheckHostname(node.hostname()));
  STRATA_RETURN_IF_ERROR(CheckAddress(node.address()));
  STRATA_RETURN_IF_ERROR(CheckCount("cpus", node.cpus(), kMaxNodeCpus));
  STRATA_RETURN_IF_ERROR(CheckCount("gpus", node.gpus(), kMaxNodeGpus));
  if (node.role() == kPsRole) return ValidatePsNode(node, max_nodes);
  return absl::OkStatus();
}

StoredNode ToStored(const NodeInfo& info, absl::string_view secret,
                    absl::string_view identity, absl::Time died_at) {
  StoredNode stored;
  *stored.mutable_node() = info;
  stored.set_secret(std::string(secret));
  stored.set_identity(std::string(identity));
  if (!info.alive()) stored.set_died_unix_ms(absl::ToUnixMillis(died_at));
  return stored;
}

}  // namespace

std::string ShardIdentityName(uint32_t shard_id) {
  return absl::StrCat("ps-", shard_id);
}

absl::Status CheckNodeIdentity(const NodeInfo& node,
                               const security::Identity& caller) {
  const bool ps = node.role() == kPsRole;
  const std::string who = security::IdentityUri(caller);
  switch (caller.role) {
    case security::Role::kShard:
      if (!ps) {
        return absl::PermissionDeniedError(absl::StrCat(
            who, " is a shard certificate; it may not register as a ",
            node.role(), " node"));
      }
      if (caller.name != ShardIdentityName(node.shard_id())) {
        return absl::PermissionDeniedError(absl::StrCat(
            who, " may not register as parameter-server shard ",
            node.shard_id(), ": its certificate is for ",
            ShardIdentityName(node.shard_id()), " only"));
      }
      return absl::OkStatus();
    case security::Role::kWorker:
      if (ps) {
        return absl::PermissionDeniedError(absl::StrCat(
            who, " is a worker certificate; it may not register as a "
                 "parameter-server shard"));
      }
      return absl::OkStatus();
    default:
      return absl::PermissionDeniedError(
          absl::StrCat(who, " is no node: only shard and worker certificates "
                            "register nodes"));
  }
}

NodeRegistry::NodeRegistry(Options options, Clock* clock, StateStore* store)
    : options_(std::move(options)), clock_(clock), store_(store) {}

void NodeRegistry::Restore(uint64_t next_seq,
                           const std::vector<StoredNode>& nodes) {
  const absl::Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  next_seq_ = std::max(next_seq_, next_seq);
  for (const StoredNode& stored : nodes) {
    const uint64_t seq = ParseNodeSeq(stored.node().node_id());
    if (seq == 0) continue;  // not an id this registry hands out
    next_seq_ = std::max(next_seq_, seq + 1);
    Node& node = nodes_[seq];
    node.info = stored.node();
    node.info.clear_current_task();
    node.secret = stored.secret();
    node.identity = stored.identity();
    node.last_heartbeat = now;
    if (node.info.alive()) {
      // Alive for node_timeout from now; its listing keeps the last time it
      // was heard from until it calls again.
      node.restored = true;
    } else {
      node.died_at = absl::FromUnixMillis(stored.died_unix_ms());
      unreported_dead_.push_back(node.info);
    }
  }
}

absl::Status NodeRegistry::WriteLocked(const Node& node,
                                       StateStore::Batch batch,
                                       StateStore::Durability durability) {
  if (store_ == nullptr) return absl::OkStatus();
  batch.PutNode(ParseNodeSeq(node.info.node_id()),
                ToStored(node.info, node.secret, node.identity, node.died_at));
  return store_->Write(std::move(batch), durability);
}

void NodeRegistry::PutLocked(const Node& node,
                             StateStore::Durability durability) {
  const absl::Status s = WriteLocked(node, {}, durability);
  LOG_IF(ERROR, !s.ok()) << "node " << node.info.node_id()
                         << " not recorded in the state store: " << s;
}

void NodeRegistry::EraseLocked(const std::vector<uint64_t>& seqs) {
  StateStore::Batch batch;
  for (uint64_t seq : seqs) {
    nodes_.erase(seq);
    batch.DeleteNode(seq);
  }
  if (store_ == nullptr || batch.empty()) return;
  const absl::Status s =
      store_->Write(std::move(batch), StateStore::Durability::kBuffered);
  LOG_IF(ERROR, !s.ok()) << "forgotten nodes not removed from the state "
                            "store: "
                         << s;
}

void NodeRegistry::ExpireLocked(absl::Time now) {
  for (auto& [seq, node] : nodes_) ExpireNodeLocked(node, now);
}

void NodeRegistry::ExpireNodeLocked(Node& node, absl::Time now) {
  if (node.info.alive() && now - node.last_heartbeat > options_.node_timeout) {
    node.info.set_alive(false);
    node.died_at = now;
    unreported_dead_.push_back(node.info);
    PutLocked(node, StateStore::Durability::kBuffered);
  }
}

NodeRegistry::Node* NodeRegistry::FindLocked(absl::string_view node_id) {
  auto it = nodes_.find(ParseNodeSeq(node_id));
  if (it == nodes_.end() || it->second.info.node_id() != node_id) {
    return nullptr;
  }
  return &it->second;
}

absl::StatusOr<NodeRegistry::Node*> NodeRegistry::AuthenticateLocked(
    absl::string_view node_id, absl::string_view secret,
    const std::optional<security::Identity>& caller) {
  Node* node = FindLocked(node_id);
  if (node == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("node '", node_id, "' is not registered"));
  }
  if (!coordinator_internal::SecretMatches(node->secret, secret)) {
    return absl::PermissionDeniedError(absl::StrCat(
        "wrong or missing node secret for ", node_id,
        ": a node may only act as the id it registered under; register "
        "without a node_id for a new one"));
  }
  if (caller.has_value() && security::IdentityUri(*caller) != node->identity) {
    return absl::PermissionDeniedError(absl::StrCat(
        security::IdentityUri(*caller), " may not act for node ", node_id,
        ", which ",
        node->identity.empty() ? "was registered without a certificate"
                               : absl::StrCat(node->identity, " registered")));
  }
  return node;
}

NodeRegistry::Node* NodeRegistry::LivePsShardLocked(
    uint32_t shard_id, const Node* self, std::vector<uint64_t>* dead) {
  Node* live = nullptr;
  for (auto& [seq, node] : nodes_) {
    const NodeInfo& info = node.info;
    if (&node == self || info.role() != kPsRole ||
        info.shard_id() != shard_id) {
      continue;
    }
    if (info.alive()) {
      live = &node;
    } else if (dead != nullptr) {
      dead->push_back(seq);
    }
  }
  return live;
}

absl::Status NodeRegistry::CheckShardFreeLocked(const NodeInfo& info,
                                                const Node* self) {
  if (info.role() != kPsRole) return absl::OkStatus();
  const Node* holder = LivePsShardLocked(info.shard_id(), self, nullptr);
  if (holder == nullptr) return absl::OkStatus();
  if (holder->restored) {
    return absl::UnavailableError(absl::StrCat(
        "parameter-server shard ", info.shard_id(), " is held by node ",
        holder->info.node_id(), " at ", holder->info.address(),
        ", which has not called since the coordinator restarted; it is free "
        "once that node is declared dead (retry)"));
  }
  return absl::AlreadyExistsError(
      absl::StrCat("parameter-server shard ", info.shard_id(),
                   " is already held by live node ", holder->info.node_id(),
                   " at ", holder->info.address()));
}

absl::Status NodeRegistry::CheckShardCountLocked(const NodeInfo& info,
                                                 const Node* self) {
  if (info.role() != kPsRole) return absl::OkStatus();
  for (const auto& [seq, node] : nodes_) {
    const NodeInfo& other = node.info;
    if (&node == self || other.role() != kPsRole || !other.alive() ||
        other.num_shards() == info.num_shards()) {
      continue;
    }
    return absl::FailedPreconditionError(absl::StrCat(
        "parameter-server shard ", info.shard_id(), " says num_shards ",
        info.num_shards(), ", but the live shards have ", other.num_shards(),
        " (", other.node_id(), " holds shard ", other.shard_id(), " of ",
        other.num_shards(), "); every shard of a cluster must agree"));
  }
  return absl::OkStatus();
}

absl::StatusOr<NodeCredentials> NodeRegistry::Register(
    const NodeInfo& node, const NodeCredentials& claim,
    const std::optional<security::Identity>& caller) {
  NodeInfo info = node;
  if (info.role().empty()) info.set_role(std::string(kDefaultWorkerRole));
  STRATA_RETURN_IF_ERROR(ValidateNode(info, options_.max_nodes));
  if (caller.has_value()) {
    STRATA_RETURN_IF_ERROR(CheckNodeIdentity(info, *caller));
  }
  if (info.role() != kPsRole) {
    info.clear_shard_id();
    info.clear_num_shards();
  }
  const absl::Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  ExpireLocked(now);
  if (!claim.node_id.empty() || !claim.secret.empty()) {
    if (FindLocked(claim.node_id) != nullptr) {
      STRATA_ASSIGN_OR_RETURN(
          Node * known, AuthenticateLocked(claim.node_id, claim.secret, caller));
      if (known->info.alive())
        return ReclaimLocked(*known, std::move(info), now);
    }
  }
  return AddLocked(std::move(info), security::CallerUri(caller), now);
}

absl::StatusOr<NodeCredentials> NodeRegistry::ReclaimLocked(Node& node,
                                                            NodeInfo info,
                                                            absl::Time now) {
  STRATA_RETURN_IF_ERROR(CheckShardFreeLocked(info, &node));
  STRATA_RETURN_IF_ERROR(CheckShardCountLocked(info, &node));
  info.set_node_id(node.info.node_id());
  info.set_alive(true);
  info.set_last_heartbeat_unix_ms(absl::ToUnixMillis(now));
  info.clear_current_task();
  node.info = std::move(info);
  node.last_heartbeat = now;
  node.restored = false;
  PutLocked(node, StateStore::Durability::kSync);
  return NodeCredentials{node.info.node_id(), node.secret};
}

absl::StatusOr<NodeCredentials> NodeRegistry::AddLocked(NodeInfo info,
                                                        std::string identity,
                                                        absl::Time now) {
  STRATA_RETURN_IF_ERROR(CheckShardFreeLocked(info, nullptr));
  STRATA_ASSIGN_OR_RETURN(std::string secret,
                          coordinator_internal::NewSecret());
  // Forgotten with the registration: dead holders of the shard (taken
  // over), then the nodes dead longest while the registry is full.
  std::vector<uint64_t> forget;
  if (info.role() == kPsRole) {
    LivePsShardLocked(info.shard_id(), nullptr, &forget);
  }
  STRATA_RETURN_IF_ERROR(MakeRoomLocked(&forget));
  STRATA_RETURN_IF_ERROR(CheckShardCountLocked(info, nullptr));
  const uint64_t seq = next_seq_;
  Node entry;
  info.set_node_id(absl::StrCat(kNodeIdPrefix, seq));
  info.set_alive(true);
  info.set_last_heartbeat_unix_ms(absl::ToUnixMillis(now));
  info.clear_current_task();
  entry.info = std::move(info);
  entry.secret = std::move(secret);
  entry.identity = std::move(identity);
  entry.last_heartbeat = now;
  // The id is handed out only once it is recorded.
  StateStore::Batch batch;
  batch.PutNodeCounter(seq + 1);
  for (uint64_t dead : forget) batch.DeleteNode(dead);
  STRATA_RETURN_IF_ERROR(
      WriteLocked(entry, std::move(batch), StateStore::Durability::kSync));
  for (uint64_t dead : forget) nodes_.erase(dead);
  next_seq_ = seq + 1;
  Node& added = nodes_[seq] = std::move(entry);
  return NodeCredentials{added.info.node_id(), added.secret};
}

absl::Status NodeRegistry::MakeRoomLocked(std::vector<uint64_t>* forget) {
  if (nodes_.size() - forget->size() < options_.max_nodes) {
    return absl::OkStatus();
  }
  std::vector<std::pair<absl::Time, uint64_t>> dead;  // died_at, seq
  for (const auto& [seq, node] : nodes_) {
    if (!node.info.alive() &&
        std::find(forget->begin(), forget->end(), seq) == forget->end()) {
      dead.emplace_back(node.died_at, seq);
    }
  }
  const size_t live = nodes_.size() - forget->size() - dead.size();
  std::sort(dead.begin(), dead.end());
  for (const auto& [died_at, seq] : dead) {
    if (nodes_.size() - forget->size() < options_.max_nodes) break;
    forget->push_back(seq);
  }
  if (nodes_.size() - forget->size() < options_.max_nodes) {
    return absl::OkStatus();
  }
  return absl::ResourceExhaustedError(absl::StrCat(
      live, " live nodes are registered; the coordinator holds at most ",
      options_.max_nodes, " nodes (coordinator flag --max_nodes)"));
}

absl::Status NodeRegistry::Heartbeat(
    absl::string_view node_id, absl::string_view secret,
    const std::optional<security::Identity>& caller) {
  const absl::Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  STRATA_ASSIGN_OR_RETURN(Node * node,
                          AuthenticateLocked(node_id, secret, caller));
  ExpireNodeLocked(*node, now);  // O(1): Sweep() expires the others
  if (!node->info.alive()) {
    return absl::FailedPreconditionError(
        absl::StrCat("node ", node_id, " was declared dead (no heartbeat for ",
                     absl::FormatDuration(options_.node_timeout),
                     "); register again to get a new node id"));
  }
  node->last_heartbeat = now;
  node->restored = false;
  node->info.set_last_heartbeat_unix_ms(absl::ToUnixMillis(now));
  return absl::OkStatus();
}

absl::StatusOr<NodeInfo> NodeRegistry::Authenticate(
    absl::string_view node_id, absl::string_view secret,
    const std::optional<security::Identity>& caller) {
  const absl::Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  STRATA_ASSIGN_OR_RETURN(Node * node,
                          AuthenticateLocked(node_id, secret, caller));
  ExpireNodeLocked(*node, now);
  if (node->info.alive()) node->restored = false;
  return node->info;
}

std::vector<NodeInfo> NodeRegistry::Sweep() {
  const absl::Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  ExpireLocked(now);
  std::vector<uint64_t> forget;
  for (const auto& [seq, node] : nodes_) {
    if (!node.info.alive() &&
        now - node.died_at > options_.dead_node_retention) {
      forget.push_back(seq);
    }
  }
  EraseLocked(forget);
  return std::exchange(unreported_dead_, {});
}

absl::StatusOr<NodeInfo> NodeRegistry::Get(absl::string_view node_id) {
  const absl::Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  ExpireLocked(now);
  const Node* node = FindLocked(node_id);
  if (node == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("node '", node_id, "' is not registered"));
  }
  return node->info;
}

bool NodeRegistry::IsAlive(absl::string_view node_id) {
  absl::StatusOr<NodeInfo> node = Get(node_id);
  return node.ok() && node->alive();
}

std::vector<NodeInfo> NodeRegistry::List() {
  const absl::Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  ExpireLocked(now);
  std::vector<NodeInfo> out;
  out.reserve(nodes_.size());
  for (const auto& [seq, node] : nodes_) out.push_back(node.info);
  return out;
}

std::vector<NodeInfo> NodeRegistry::Schedulable() {
  const absl::Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  ExpireLocked(now);
  std::vector<NodeInfo> out;
  for (const auto& [seq, node] : nodes_) {
    if (node.info.alive() && !node.restored) out.push_back(node.info);
  }
  return out;
}

absl::StatusOr<std::vector<std::string>> NodeRegistry::PsAddresses() {
  const absl::Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  ExpireLocked(now);
  // Live shards by shard_id; dead holders are remembered for the message.
  std::map<uint32_t, const NodeInfo*> live;
  std::map<uint32_t, const NodeInfo*> dead;
  std::map<uint32_t, const NodeInfo*> restored;
  uint32_t num_shards = 0;
  const NodeInfo* first = nullptr;
  for (const auto& [seq, node] : nodes_) {
    const NodeInfo& info = node.info;
    if (info.role() != kPsRole) continue;
    if (!info.alive()) {
      dead[info.shard_id()] = &info;
      continue;
    }
    if (node.restored) {
      restored[info.shard_id()] = &info;
      continue;
    }
    if (first == nullptr) {
      first = &info;
      num_shards = info.num_shards();
    } else if (info.num_shards() != num_shards) {
      return absl::FailedPreconditionError(absl::StrCat(
          "parameter-server shards disagree on num_shards: ", first->node_id(),
          " says ", num_shards, ", ", info.node_id(), " says ",
          info.num_shards()));
    }
    live[info.shard_id()] = &info;
  }
  if (first == nullptr) {
    return absl::FailedPreconditionError(
        restored.empty()
            ? "no parameter-server shard is registered and alive"
            : "no parameter-server shard has called since the coordinator "
              "restarted");
  }
  std::vector<std::string> missing;
  std::vector<std::string> addresses(num_shards);
  for (uint32_t shard = 0; shard < num_shards; ++shard) {
    if (auto it = live.find(shard); it != live.end()) {
      addresses[shard] = it->second->address();
    } else if (auto r = restored.find(shard); r != restored.end()) {
      missing.push_back(
          absl::StrCat("shard ", shard, " of ", num_shards, " (",
                       r->second->node_id(), " at ", r->second->address(),
                       ") has not called since the coordinator restarted"));
    } else if (auto d = dead.find(shard); d != dead.end()) {
      missing.push_back(absl::StrCat("shard ", shard, " of ", num_shards, " (",
                                     d->second->node_id(), " at ",
                                     d->second->address(), ") is dead"));
    } else {
      missing.push_back(absl::StrCat("shard ", shard, " of ", num_shards,
                                     " is not registered"));
    }
  }
  if (!missing.empty()) {
    return absl::FailedPreconditionError(absl::StrJoin(missing, "; "));
  }
  return addresses;
}

std::string NodeRegistry::DeathDescription(const NodeInfo& node) const {
  const std::string& where =
      node.hostname().empty() ? node.address() : node.hostname();
  return absl::StrCat("node ", node.node_id(),
                      where.empty() ? "" : absl::StrCat(" (", where, ")"),
                      " died: no heartbeat for ",
                      absl::FormatDuration(options_.node_timeout));
}

}  // namespace strata
