#include "server/coordinator/node_registry.h"

#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/coordinator/state_store.h"
#include "server/coordinator/testing/state_testing.h"
#include "server/util/clock.h"

namespace strata {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

NodeInfo Worker(const std::string& role = "general", uint32_t gpus = 0) {
  NodeInfo node;
  node.set_role(role);
  node.set_hostname("host-a");
  node.set_gpus(gpus);
  return node;
}

NodeInfo Ps(uint32_t shard, uint32_t num_shards) {
  NodeInfo node;
  node.set_role("ps");
  node.set_hostname("ps-host");
  node.set_address("10.0.0.1:" + std::to_string(9000 + shard));
  node.set_shard_id(shard);
  node.set_num_shards(num_shards);
  return node;
}

class NodeRegistryTest : public ::testing::Test {
 protected:
  NodeRegistry::Options Opts() {
    NodeRegistry::Options o;
    o.node_timeout = absl::Seconds(6);
    return o;
  }
  // Registers `node`, remembering its secret for Beat().
  std::string Add(const NodeInfo& node) {
    return secrets_.Track(registry_.Register(node));
  }
  absl::Status Beat(const std::string& id) {
    return secrets_.Beat(registry_, id);
  }
  FakeClock clock_;
  NodeRegistry registry_{Opts(), &clock_};
  testing::NodeSecrets secrets_;
};

TEST_F(NodeRegistryTest, AssignsSequentialIdsAndDefaultsTheRole) {
  EXPECT_EQ(Add(Worker()), "node-1");
  EXPECT_EQ(Add(Worker("")), "node-2");
  absl::StatusOr<NodeInfo> node = registry_.Get("node-2");
  ASSERT_TRUE(node.ok());
  EXPECT_EQ(node->role(), "general");
  EXPECT_TRUE(node->alive());
  EXPECT_EQ(node->hostname(), "host-a");
}

TEST_F(NodeRegistryTest, ListsNodesInNumericIdOrder) {
  for (int i = 0; i < 11; ++i) ASSERT_TRUE(registry_.Register(Worker()).ok());
  std::vector<std::string> ids;
  for (const NodeInfo& n : registry_.List()) ids.push_back(n.node_id());
  ASSERT_EQ(ids.size(), 11u);
  EXPECT_EQ(ids[1], "node-2");
  EXPECT_EQ(ids[10], "node-11");
}

TEST_F(NodeRegistryTest, HeartbeatUnknownNodeIsNotFound) {
  EXPECT_EQ(Beat("node-7").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Beat("bogus").code(), absl::StatusCode::kNotFound);
}

TEST_F(NodeRegistryTest, HeartbeatsKeepANodeAlive) {
  const std::string id = Add(Worker());
  for (int i = 0; i < 10; ++i) {
    clock_.Advance(absl::Seconds(5));
    ASSERT_TRUE(Beat(id).ok()) << i;
  }
  EXPECT_TRUE(registry_.IsAlive(id));
  EXPECT_THAT(registry_.Sweep(), IsEmpty());
}

TEST_F(NodeRegistryTest, NodeWithoutHeartbeatDiesAndIsSweptOnce) {
  const std::string a = Add(Worker());
  const std::string b = Add(Worker());
  clock_.Advance(absl::Seconds(4));
  ASSERT_TRUE(Beat(b).ok());
  clock_.Advance(absl::Seconds(2));
  EXPECT_THAT(registry_.Sweep(), IsEmpty()) << "exactly the timeout is alive";
  clock_.Advance(absl::Milliseconds(1));
  std::vector<NodeInfo> dead = registry_.Sweep();
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].node_id(), a);
  EXPECT_FALSE(dead[0].alive());
  EXPECT_THAT(registry_.Sweep(), IsEmpty()) << "each death reported once";
  EXPECT_FALSE(registry_.IsAlive(a));
  EXPECT_TRUE(registry_.IsAlive(b));
}

TEST_F(NodeRegistryTest, DeadNodeHeartbeatIsFailedPrecondition) {
  const std::string id = Add(Worker());
  clock_.Advance(absl::Seconds(7));
  // Declared dead on the next call even before any Sweep().
  absl::Status s = Beat(id);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.message()), HasSubstr("register again"));
  // The death is still reported by Sweep() so its work can be failed.
  std::vector<NodeInfo> dead = registry_.Sweep();
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].node_id(), id);
  // Re-registering gives a new id.
  EXPECT_EQ(Add(Worker()), "node-2");
}

TEST_F(NodeRegistryTest, ForgetsLongDeadNodes) {
  const std::string id = Add(Worker());
  clock_.Advance(absl::Seconds(7));
  registry_.Sweep();
  EXPECT_EQ(registry_.Get(id)->alive(), false);
  clock_.Advance(absl::Minutes(11));
  registry_.Sweep();
  EXPECT_EQ(registry_.Get(id).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(NodeRegistryTest, DuplicateLivePsShardIsAlreadyExists) {
  ASSERT_TRUE(registry_.Register(Ps(0, 2)).ok());
  absl::StatusOr<NodeCredentials> dup = registry_.Register(Ps(0, 2));
  EXPECT_EQ(dup.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(std::string(dup.status().message()), HasSubstr("node-1"));
}

TEST_F(NodeRegistryTest, DeadPsShardIsReplaced) {
  const std::string old_id = Add(Ps(0, 1));
  clock_.Advance(absl::Seconds(7));
  absl::StatusOr<NodeCredentials> replacement = registry_.Register(Ps(0, 1));
  ASSERT_TRUE(replacement.ok()) << replacement.status();
  EXPECT_EQ(registry_.Get(old_id).status().code(), absl::StatusCode::kNotFound);
  absl::StatusOr<std::vector<std::string>> ps = registry_.PsAddresses();
  ASSERT_TRUE(ps.ok()) << ps.status();
  EXPECT_THAT(*ps, ElementsAre("10.0.0.1:9000"));
}

TEST_F(NodeRegistryTest, RejectsMalformedPsRegistration) {
  EXPECT_EQ(registry_.Register(Ps(2, 2)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(registry_.Register(Ps(0, 0)).status().code(),
            absl::StatusCode::kInvalidArgument);
  NodeInfo no_address = Ps(0, 1);
  no_address.clear_address();
  EXPECT_EQ(registry_.Register(no_address).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(NodeRegistryTest, RoleMustBePsOrAName) {
  absl::StatusOr<NodeCredentials> spaced = registry_.Register(Worker("gpu box"));
  EXPECT_EQ(spaced.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(spaced.status().message(),
            "node role 'gpu box' may hold only letters, digits and _ . : / -");
  absl::StatusOr<NodeCredentials> long_role =
      registry_.Register(Worker(std::string(65, 'r')));
  EXPECT_EQ(long_role.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(long_role.status().message(),
            "node role is 65 bytes; it must be 1 to 64");
  EXPECT_THAT(registry_.List(), IsEmpty());
  EXPECT_TRUE(registry_.Register(Worker(std::string(64, 'r'))).ok());
  EXPECT_TRUE(registry_.Register(Worker("gpu.v100-x2")).ok());
}

TEST_F(NodeRegistryTest, HostnameIsBoundedAndPrintable) {
  NodeInfo node = Worker();
  node.set_hostname(std::string(256, 'h'));
  absl::StatusOr<NodeCredentials> id = registry_.Register(node);
  EXPECT_EQ(id.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(id.status().message(),
            "node hostname is 256 bytes; the limit is 255");
  node.set_hostname("host a");
  id = registry_.Register(node);
  EXPECT_EQ(id.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(id.status().message(),
            "node hostname 'host a' may not hold spaces or control characters");
  EXPECT_THAT(registry_.List(), IsEmpty());
  node.set_hostname(std::string(255, 'h'));
  EXPECT_TRUE(registry_.Register(node).ok());
}

TEST_F(NodeRegistryTest, AddressMustBeHostPort) {
  NodeInfo node = Worker();
  for (const std::string bad :
       {"host", "host:", ":80", "host:0", "host:65536", "host:8o", "host:+80",
        "host:000080", "::1:80", "[::1:80", "[]:80", "a b:80", "h\x01:80",
        "dns:///h:80"}) {
    node.set_address(bad);
    absl::StatusOr<NodeCredentials> id = registry_.Register(node);
    EXPECT_EQ(id.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(std::string(id.status().message()),
                HasSubstr("' is not HOST:PORT"))
        << bad;
  }
  node.set_address(std::string(251, 'h') + ":7000");
  EXPECT_EQ(registry_.Register(node).status().message(),
            "node address is 256 bytes; the limit is 255");
  EXPECT_THAT(registry_.List(), IsEmpty());
  for (const std::string good :
       {"", "h:1", "10.0.0.1:65535", "[::1]:80", "[fe80::1%eth0]:7000",
        "worker_3.rack-1.example.com:7000"}) {
    node.set_address(good);
    EXPECT_TRUE(registry_.Register(node).ok()) << good;
  }
}

TEST_F(NodeRegistryTest, CpusAndGpusAreBounded) {
  NodeInfo node = Worker("general", kMaxNodeGpus + 1);
  EXPECT_EQ(registry_.Register(node).status().message(),
            "node gpus 1025 is out of range [0, 1024]");
  node.set_gpus(kMaxNodeGpus);
  node.set_cpus(kMaxNodeCpus + 1);
  EXPECT_EQ(registry_.Register(node).status().message(),
            "node cpus 65537 is out of range [0, 65536]");
  EXPECT_THAT(registry_.List(), IsEmpty());
  node.set_cpus(kMaxNodeCpus);
  EXPECT_TRUE(registry_.Register(node).ok());
}

TEST_F(NodeRegistryTest, PsShardCountIsBoundedByMaxNodes) {
  absl::StatusOr<NodeCredentials> id = registry_.Register(Ps(0, 4097));
  EXPECT_EQ(id.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(id.status().message(),
            "ps node num_shards 4097 exceeds the most nodes the coordinator "
            "holds, 4096 (coordinator flag --max_nodes)");
  EXPECT_TRUE(registry_.Register(Ps(4095, 4096)).ok());
}

TEST_F(NodeRegistryTest, FullRegistryOfLiveNodesIsResourceExhausted) {
  NodeRegistry::Options o = Opts();
  o.max_nodes = 2;
  NodeRegistry registry(o, &clock_);
  testing::NodeSecrets secrets;
  const std::string worker = secrets.Track(registry.Register(Worker()));
  const std::string ps = secrets.Track(registry.Register(Ps(0, 1)));
  for (const NodeInfo& node : {Worker(), Ps(1, 2)}) {
    absl::StatusOr<NodeCredentials> id = registry.Register(node);
    EXPECT_EQ(id.status().code(), absl::StatusCode::kResourceExhausted);
    EXPECT_EQ(id.status().message(),
              "2 live nodes are registered; the coordinator holds at most 2 "
              "nodes (coordinator flag --max_nodes)");
  }
  EXPECT_EQ(registry.List().size(), 2u);
  EXPECT_TRUE(secrets.Beat(registry, worker).ok());
  EXPECT_TRUE(secrets.Beat(registry, ps).ok());
}

TEST_F(NodeRegistryTest, FullRegistryForgetsTheNodesDeadLongest) {
  NodeRegistry::Options o = Opts();
  o.max_nodes = 3;
  NodeRegistry registry(o, &clock_);
  testing::NodeSecrets secrets;
  const std::string first = secrets.Track(registry.Register(Worker()));
  clock_.Advance(absl::Seconds(1));
  const std::string second = secrets.Track(registry.Register(Worker()));
  clock_.Advance(absl::Seconds(1));
  const std::string live = secrets.Track(registry.Register(Worker()));
  clock_.Advance(absl::Seconds(5));
  ASSERT_TRUE(secrets.Beat(registry, live).ok());
  clock_.Advance(absl::Seconds(2));  // first and second are dead, in order
  ASSERT_TRUE(registry.Register(Worker()).ok());
  EXPECT_EQ(registry.Get(first).status().code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(registry.Get(second)->alive());
  ASSERT_TRUE(registry.Register(Worker()).ok());
  EXPECT_EQ(registry.Get(second).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(registry.List().size(), 3u);
  EXPECT_EQ(registry.Sweep().size(), 2u) << "forgotten deaths are reported";
}

TEST_F(NodeRegistryTest, PsAddressesOrderedByShard) {
  ASSERT_TRUE(registry_.Register(Ps(1, 2)).ok());
  ASSERT_TRUE(registry_.Register(Ps(0, 2)).ok());
  absl::StatusOr<std::vector<std::string>> ps = registry_.PsAddresses();
  ASSERT_TRUE(ps.ok()) << ps.status();
  EXPECT_THAT(*ps, ElementsAre("10.0.0.1:9000", "10.0.0.1:9001"));
}

TEST_F(NodeRegistryTest, PsAddressesIncompleteIsFailedPrecondition) {
  absl::StatusOr<std::vector<std::string>> none = registry_.PsAddresses();
  EXPECT_EQ(none.status().code(), absl::StatusCode::kFailedPrecondition);

  ASSERT_TRUE(registry_.Register(Ps(0, 2)).ok());
  absl::StatusOr<std::vector<std::string>> ps = registry_.PsAddresses();
  EXPECT_EQ(ps.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ps.status().message(), "shard 1 of 2 is not registered");
}

TEST_F(NodeRegistryTest, PsAddressesReportsDeadShard) {
  ASSERT_EQ(Add(Ps(0, 2)), "node-1");
  const std::string shard1 = Add(Ps(1, 2));
  clock_.Advance(absl::Seconds(4));
  ASSERT_TRUE(Beat("node-1").ok());
  clock_.Advance(absl::Seconds(3));
  absl::StatusOr<std::vector<std::string>> ps = registry_.PsAddresses();
  EXPECT_EQ(ps.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ps.status().message(),
            "shard 1 of 2 (node-2 at 10.0.0.1:9001) is dead");
}

TEST_F(NodeRegistryTest, AShardWithAnotherShardCountIsRefusedAtRegistration) {
  // It used to be accepted and then stop every scheduling pass (PsAddresses
  // saw the shards disagree); now it is refused and the cluster keeps going.
  ASSERT_TRUE(registry_.Register(Ps(0, 2)).ok());
  absl::StatusOr<NodeCredentials> other = registry_.Register(Ps(1, 3));
  EXPECT_EQ(other.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(other.status().message(),
            "parameter-server shard 1 says num_shards 3, but the live shards "
            "have 2 (node-1 holds shard 0 of 2); every shard of a cluster "
            "must agree");
  ASSERT_TRUE(registry_.Register(Ps(1, 2)).ok());
  EXPECT_TRUE(registry_.PsAddresses().ok());
  // Once the old shards are dead, a cluster of another size may register.
  clock_.Advance(absl::Seconds(7));
  EXPECT_TRUE(registry_.Register(Ps(0, 3)).ok());
}

TEST_F(NodeRegistryTest, DeathDescriptionNamesNodeHostAndTimeout) {
  NodeInfo node = Worker();
  node.set_node_id("node-2");
  EXPECT_EQ(registry_.DeathDescription(node),
            "node node-2 (host-a) died: no heartbeat for 6s");
}


// Node identity: ids are bound to secrets.
class NodeIdentityTest : public NodeRegistryTest {
 protected:
  NodeCredentials Register(const NodeInfo& node,
                           const NodeCredentials& claim = {}) {
    absl::StatusOr<NodeCredentials> r = registry_.Register(node, claim);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : NodeCredentials{};
  }
};

TEST_F(NodeIdentityTest, EachRegistrationGetsItsOwn128BitSecret) {
  const NodeCredentials a = Register(Worker());
  const NodeCredentials b = Register(Worker());
  EXPECT_EQ(a.secret.size(), 16u);
  EXPECT_NE(a.secret, b.secret);
  // Listings never carry it.
  for (const NodeInfo& node : registry_.List()) {
    EXPECT_EQ(node.SerializeAsString().find(a.secret), std::string::npos);
  }
}

TEST_F(NodeIdentityTest, HeartbeatWithAWrongOrMissingSecretIsPermissionDenied) {
  const NodeCredentials a = Register(Worker());
  const NodeCredentials b = Register(Worker());
  EXPECT_EQ(registry_.Heartbeat(a.node_id, "").code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(registry_.Heartbeat(a.node_id, b.secret).code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(registry_.Heartbeat(a.node_id, a.secret).ok());
  EXPECT_EQ(registry_.Authenticate(a.node_id, b.secret).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(registry_.Authenticate("node-9", a.secret).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(registry_.Authenticate(a.node_id, a.secret)->node_id(), a.node_id);
}

TEST_F(NodeIdentityTest, ReRegisteringWithItsSecretKeepsTheIdAndUpdatesIt) {
  const NodeCredentials a = Register(Worker("conv"));
  NodeInfo moved = Worker("conv", 2);
  moved.set_hostname("host-b");
  const NodeCredentials again = Register(moved, a);
  EXPECT_EQ(again.node_id, a.node_id);
  EXPECT_EQ(again.secret, a.secret);
  EXPECT_EQ(registry_.Get(a.node_id)->hostname(), "host-b");
  EXPECT_EQ(registry_.List().size(), 1u);
  EXPECT_EQ(Register(Worker()).node_id, "node-2") << "the counter moved on";
}

TEST_F(NodeIdentityTest, NoNodeCanTakeOverAnotherNodesId) {
  const NodeCredentials a = Register(Worker());
  const NodeCredentials b = Register(Worker());
  for (const std::string& secret : {std::string(), b.secret}) {
    absl::StatusOr<NodeCredentials> taken =
        registry_.Register(Worker(), {a.node_id, secret});
    EXPECT_EQ(taken.status().code(), absl::StatusCode::kPermissionDenied);
    EXPECT_THAT(std::string(taken.status().message()), HasSubstr(a.node_id));
    EXPECT_EQ(std::string(taken.status().message()).find(a.secret),
              std::string::npos);
  }
  EXPECT_TRUE(registry_.Heartbeat(a.node_id, a.secret).ok());
  EXPECT_EQ(registry_.List().size(), 2u);
}

TEST_F(NodeIdentityTest, ADeadOrUnknownIdGetsANewId) {
  const NodeCredentials a = Register(Worker());
  clock_.Advance(absl::Seconds(7));
  EXPECT_EQ(Register(Worker(), a).node_id, "node-2") << "a was declared dead";
  EXPECT_EQ(Register(Worker(), {"node-77", "whatever"}).node_id, "node-3");
}

// The registry over a state store, restarted: a new registry over the same
// directory.
// Certificates: a node registers only as what its certificate says and is
// then bound to it.
using security::Identity;
using security::Role;

const Identity kShard0{Role::kShard, "ps-0"};
const Identity kShard1{Role::kShard, "ps-1"};
const Identity kWorkerA{Role::kWorker, "host-a"};
const Identity kWorkerB{Role::kWorker, "host-b"};

TEST_F(NodeRegistryTest, AShardCertificateRegistersOnlyTheShardItNames) {
  EXPECT_TRUE(registry_.Register(Ps(0, 2), {}, kShard0).ok());
  absl::StatusOr<NodeCredentials> other = registry_.Register(Ps(1, 2), {},
                                                             kShard0);
  EXPECT_EQ(other.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(other.status().message(),
            "spiffe://strata/shard/ps-0 may not register as parameter-server "
            "shard 1: its certificate is for ps-1 only");
  absl::StatusOr<NodeCredentials> as_worker =
      registry_.Register(Worker(), {}, kShard1);
  EXPECT_EQ(as_worker.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(as_worker.status().message()),
              HasSubstr("shard certificate; it may not register as a "
                        "general node"));
  EXPECT_TRUE(registry_.Register(Ps(1, 2), {}, kShard1).ok());
}

TEST_F(NodeRegistryTest, AWorkerCertificateRegistersWorkerRolesOnly) {
  for (const char* role : {"general", "conv", "fc", ""}) {
    EXPECT_TRUE(registry_.Register(Worker(role), {}, kWorkerA).ok()) << role;
  }
  absl::StatusOr<NodeCredentials> shard = registry_.Register(Ps(0, 1), {},
                                                             kWorkerA);
  EXPECT_EQ(shard.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(shard.status().message(),
            "spiffe://strata/worker/host-a is a worker certificate; it may "
            "not register as a parameter-server shard");
  for (Role role : {Role::kAdmin, Role::kOperator, Role::kReader,
                    Role::kCoordinator}) {
    EXPECT_EQ(registry_.Register(Worker(), {}, Identity{role, "x"})
                  .status()
                  .code(),
              absl::StatusCode::kPermissionDenied);
  }
}

TEST_F(NodeRegistryTest, ANodeIsBoundToTheIdentityThatRegisteredIt) {
  absl::StatusOr<NodeCredentials> a = registry_.Register(Worker(), {},
                                                         kWorkerA);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_TRUE(registry_.Heartbeat(a->node_id, a->secret, kWorkerA).ok());
  EXPECT_TRUE(registry_.Authenticate(a->node_id, a->secret, kWorkerA).ok());
  // Plaintext calls carry no identity: unchecked, as before.
  EXPECT_TRUE(registry_.Heartbeat(a->node_id, a->secret).ok());
  const absl::Status beat = registry_.Heartbeat(a->node_id, a->secret,
                                                kWorkerB);
  EXPECT_EQ(beat.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(beat.message(),
            "spiffe://strata/worker/host-b may not act for node node-1, which "
            "spiffe://strata/worker/host-a registered");
  EXPECT_EQ(registry_.Authenticate(a->node_id, a->secret, kWorkerB)
                .status()
                .code(),
            absl::StatusCode::kPermissionDenied);
  // Re-attaching the id needs the same identity too.
  EXPECT_EQ(registry_.Register(Worker(), *a, kWorkerB).status().code(),
            absl::StatusCode::kPermissionDenied);
  absl::StatusOr<NodeCredentials> again = registry_.Register(Worker(), *a,
                                                             kWorkerA);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->node_id, a->node_id);
  // A node registered over plaintext has no registrant a certificate matches.
  absl::StatusOr<NodeCredentials> plain = registry_.Register(Worker());
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(registry_.Heartbeat(plain->node_id, plain->secret, kWorkerA).code(),
            absl::StatusCode::kPermissionDenied);
}

class NodeRegistryRestartTest : public NodeIdentityTest {
 protected:
  void SetUp() override {
    dir_ = testing::FreshTestDir("node_registry_restart");
    Reopen();
  }
  void Reopen() {
    stored_.reset();
    store_.reset();
    CoordinatorState state;
    store_ = testing::OpenStore(dir_, &state);
    ASSERT_NE(store_, nullptr);
    stored_ = std::make_unique<NodeRegistry>(Opts(), &clock_, store_.get());
    stored_->Restore(state.next_node_seq, state.nodes);
  }
  NodeCredentials Add(NodeRegistry& registry, const NodeInfo& node) {
    absl::StatusOr<NodeCredentials> r = registry.Register(node);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : NodeCredentials{};
  }
  std::vector<std::string> Ids(const std::vector<NodeInfo>& nodes) {
    std::vector<std::string> ids;
    for (const NodeInfo& n : nodes) ids.push_back(n.node_id());
    return ids;
  }

  std::string dir_;
  std::unique_ptr<StateStore> store_;
  std::unique_ptr<NodeRegistry> stored_;
};

TEST_F(NodeRegistryRestartTest, NodesKeepTheirIdsAndSecretsAndIdsAreNotReused) {
  const NodeCredentials a = Add(*stored_, Worker());
  const NodeCredentials b = Add(*stored_, Ps(0, 1));
  clock_.Advance(absl::Hours(1));  // the coordinator was down a long time
  Reopen();
  EXPECT_THAT(Ids(stored_->List()), ElementsAre(a.node_id, b.node_id));
  EXPECT_TRUE(stored_->IsAlive(a.node_id)) << "alive until the timeout";
  EXPECT_EQ(stored_->Get(b.node_id)->address(), "10.0.0.1:9000");
  EXPECT_TRUE(stored_->Heartbeat(a.node_id, a.secret).ok());
  EXPECT_EQ(stored_->Heartbeat(b.node_id, a.secret).code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(stored_->Register(Worker(), a)->node_id, a.node_id);
  EXPECT_EQ(Add(*stored_, Worker()).node_id, "node-3");
}

TEST_F(NodeRegistryRestartTest, RestoredNodesDieATimeoutAfterTheRestart) {
  const NodeCredentials a = Add(*stored_, Worker());
  const NodeCredentials b = Add(*stored_, Worker());
  clock_.Advance(absl::Seconds(5));
  Reopen();
  clock_.Advance(absl::Seconds(5));
  ASSERT_TRUE(stored_->Heartbeat(a.node_id, a.secret).ok());
  EXPECT_THAT(stored_->Sweep(), IsEmpty());
  clock_.Advance(absl::Seconds(2));
  EXPECT_THAT(Ids(stored_->Sweep()), ElementsAre(b.node_id));
  // The death is recorded too: after another restart it is still dead, and
  // reported once more so that its work is failed.
  Reopen();
  EXPECT_FALSE(stored_->IsAlive(b.node_id));
  EXPECT_THAT(Ids(stored_->Sweep()), ElementsAre(b.node_id));
  EXPECT_THAT(stored_->Sweep(), IsEmpty());
}

TEST_F(NodeRegistryRestartTest, RestoredNodesGetWorkOnlyOnceTheyCall) {
  const NodeCredentials ps = Add(*stored_, Ps(0, 1));
  const NodeCredentials w = Add(*stored_, Worker());
  Reopen();
  EXPECT_THAT(stored_->Schedulable(), IsEmpty());
  absl::StatusOr<std::vector<std::string>> none = stored_->PsAddresses();
  EXPECT_EQ(none.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(none.status().message()),
              HasSubstr("since the coordinator restarted"));
  ASSERT_TRUE(stored_->Heartbeat(ps.node_id, ps.secret).ok());
  ASSERT_TRUE(stored_->Authenticate(w.node_id, w.secret).ok());
  EXPECT_THAT(Ids(stored_->Schedulable()), ElementsAre(ps.node_id, w.node_id));
  EXPECT_THAT(*stored_->PsAddresses(), ElementsAre("10.0.0.1:9000"));
}

TEST_F(NodeRegistryRestartTest, ARestoredShardIsHeldUntilItCallsOrDies) {
  const NodeCredentials old_shard = Add(*stored_, Ps(0, 1));
  Reopen();
  // A new process for the same shard waits (UNAVAILABLE is retried) ...
  absl::StatusOr<NodeCredentials> early = stored_->Register(Ps(0, 1));
  EXPECT_EQ(early.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(early.status().message()), HasSubstr("retry"));
  // ... and takes the shard once the old holder is dead.
  clock_.Advance(absl::Seconds(7));
  absl::StatusOr<NodeCredentials> taken = stored_->Register(Ps(0, 1));
  ASSERT_TRUE(taken.ok()) << taken.status();
  EXPECT_EQ(taken->node_id, "node-2");
  Reopen();
  EXPECT_THAT(Ids(stored_->List()), ElementsAre("node-2"))
      << "the dead holder's record was dropped with the takeover";
}

TEST_F(NodeRegistryRestartTest, ANodesRegistrantSurvivesARestart) {
  absl::StatusOr<NodeCredentials> a = stored_->Register(Worker(), {},
                                                        kWorkerA);
  ASSERT_TRUE(a.ok()) << a.status();
  Reopen();
  EXPECT_EQ(stored_->Heartbeat(a->node_id, a->secret, kWorkerB).code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(stored_->Heartbeat(a->node_id, a->secret, kWorkerA).ok());
}

TEST_F(NodeRegistryRestartTest, ForgottenNodesLeaveTheStoreButNotTheCounter) {
  Add(*stored_, Worker());
  clock_.Advance(absl::Seconds(7));
  stored_->Sweep();
  clock_.Advance(absl::Minutes(11));
  stored_->Sweep();
  Reopen();
  EXPECT_THAT(stored_->List(), IsEmpty());
  EXPECT_EQ(Add(*stored_, Worker()).node_id, "node-2");
}

}  // namespace
}  // namespace strata
