#include "server/coordinator/node_registry.h"

#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
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

absl::Status ValidatePsNode(const NodeInfo& node) {
  if (node.num_shards() == 0) {
    return absl::InvalidArgumentError("ps node must set num_shards >= 1");
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

absl::StatusOr<std::string> NodeRegistry::Register(const NodeInfo& node) {
  NodeInfo info = node;
  if (info.role().empty()) info.set_role(std::string(kDefaultWorkerRole));
  const bool is_ps = info.role() == kPsRole;
  if (is_ps) {
    STRATA_RETURN_IF_ERROR(ValidatePsNode(info));
  } else {
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
    LivePsShardLocked(info.shard_id(), /*erase_dead=*/true);
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
