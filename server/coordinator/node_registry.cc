#include "server/coordinator/node_registry.h"

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "proto/base/names.h"
#include "proto/base/status_macros.h"

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
    return absl::InvalidArgumentError(
        absl::StrCat("ps node num_shards ", node.num_shards(),
                     " exceeds the most nodes the coordinator holds, ",
                     max_nodes, " (coordinator flag --max_nodes)"));
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

}  // namespace

NodeRegistry::NodeRegistry(Options options, Clock* clock)
    : options_(std::move(options)), clock_(clock) {}

void NodeRegistry::ExpireLocked(absl::Time now) {
  for (auto& [seq, node] : nodes_) {
    if (node.info.alive() &&
        now - node.last_heartbeat > options_.node_timeout) {
      node.info.set_alive(false);
      node.died_at = now;
      unreported_dead_.push_back(node.info);
    }
  }
}

NodeRegistry::Node* NodeRegistry::FindLocked(absl::string_view node_id) {
  auto it = nodes_.find(ParseNodeSeq(node_id));
  if (it == nodes_.end() || it->second.info.node_id() != node_id) {
    return nullptr;
  }
  return &it->second;
}

NodeRegistry::Node* NodeRegistry::LivePsShardLocked(uint32_t shard_id,
                                                    bool erase_dead) {
  for (auto it = nodes_.begin(); it != nodes_.end();) {
    NodeInfo& info = it->second.info;
    if (info.role() != kPsRole || info.shard_id() != shard_id) {
      ++it;
    } else if (info.alive()) {
      return &it->second;
    } else if (erase_dead) {
      it = nodes_.erase(it);
    } else {
      ++it;
    }
  }
  return nullptr;
}

std::map<uint64_t, NodeRegistry::Node>::iterator
NodeRegistry::OldestDeadLocked() {
  auto oldest = nodes_.end();
  for (auto it = nodes_.begin(); it != nodes_.end(); ++it) {
    if (!it->second.info.alive() &&
        (oldest == nodes_.end() ||
         it->second.died_at < oldest->second.died_at)) {
      oldest = it;
    }
  }
  return oldest;
}

absl::StatusOr<std::string> NodeRegistry::Register(const NodeInfo& node) {
  NodeInfo info = node;
  if (info.role().empty()) info.set_role(std::string(kDefaultWorkerRole));
  STRATA_RETURN_IF_ERROR(ValidateNode(info, options_.max_nodes));
  const bool is_ps = info.role() == kPsRole;
  if (!is_ps) {
    info.clear_shard_id();
    info.clear_num_shards();
  }
  const absl::Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  ExpireLocked(now);
  if (is_ps) {
    if (const Node* holder = LivePsShardLocked(info.shard_id(), false)) {
      return absl::AlreadyExistsError(
          absl::StrCat("parameter-server shard ", info.shard_id(),
                       " is already held by "
                       "live node ",
                       holder->info.node_id(), " at ", holder->info.address()));
    }
  }
  // A dead holder of the shard, if any, makes room: nothing can refuse the
  // registration after it is erased.
  if (is_ps) LivePsShardLocked(info.shard_id(), /*erase_dead=*/true);
  if (nodes_.size() >= options_.max_nodes) {
    auto oldest = OldestDeadLocked();
    if (oldest == nodes_.end()) {
      return absl::ResourceExhaustedError(
          absl::StrCat(nodes_.size(),
                       " live nodes are registered, the coordinator's limit "
                       "(coordinator flag --max_nodes)"));
    }
    nodes_.erase(oldest);
  }
  const uint64_t seq = next_seq_++;
  info.set_node_id(absl::StrCat(kNodeIdPrefix, seq));
  info.set_alive(true);
  info.set_last_heartbeat_unix_ms(absl::ToUnixMillis(now));
  info.clear_current_task();
  Node& entry = nodes_[seq];
  entry.info = std::move(info);
  entry.last_heartbeat = now;
  return entry.info.node_id();
}

absl::Status NodeRegistry::Heartbeat(absl::string_view node_id) {
  const absl::Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  ExpireLocked(now);
  Node* node = FindLocked(node_id);
  if (node == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("node '", node_id, "' is not registered"));
  }
  if (!node->info.alive()) {
    return absl::FailedPreconditionError(
        absl::StrCat("node ", node_id, " was declared dead (no heartbeat for ",
                     absl::FormatDuration(options_.node_timeout),
                     "); register again to get a new node id"));
  }
  node->last_heartbeat = now;
  node->info.set_last_heartbeat_unix_ms(absl::ToUnixMillis(now));
  return absl::OkStatus();
}

std::vector<NodeInfo> NodeRegistry::Sweep() {
  const absl::Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  ExpireLocked(now);
  for (auto it = nodes_.begin(); it != nodes_.end();) {
    const Node& node = it->second;
    if (!node.info.alive() &&
        now - node.died_at > options_.dead_node_retention) {
      it = nodes_.erase(it);
    } else {
      ++it;
    }
  }
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

absl::StatusOr<std::vector<std::string>> NodeRegistry::PsAddresses() {
  const absl::Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  ExpireLocked(now);
  // Live shards by shard_id; dead holders are remembered for the message.
  std::map<uint32_t, const NodeInfo*> live;
  std::map<uint32_t, const NodeInfo*> dead;
  uint32_t num_shards = 0;
  const NodeInfo* first = nullptr;
  for (const auto& [seq, node] : nodes_) {
    const NodeInfo& info = node.info;
    if (info.role() != kPsRole) continue;
    if (!info.alive()) {
      dead[info.shard_id()] = &info;
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
        "no parameter-server shard is registered and alive");
  }
  std::vector<std::string> missing;
  std::vector<std::string> addresses(num_shards);
  for (uint32_t shard = 0; shard < num_shards; ++shard) {
    if (auto it = live.find(shard); it != live.end()) {
      addresses[shard] = it->second->address();
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
