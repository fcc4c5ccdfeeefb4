#include "tools/internal/cluster_commands.h"

#include <memory>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tools/internal/fake_servers.h"
#include "tools/internal/format.h"

namespace strata {
namespace ctl {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr int64_t kNowMs = 1700000000000;

class ClusterCommandsTest : public ::testing::Test {
 protected:
  ClusterCommandsTest()
      : clock_(absl::FromUnixMillis(kNowMs)), client_([this] {
          CtlClientOptions options;
          options.coordinator = coordinator_.address();
          return options;
        }()) {
    for (uint32_t i = 0; i < 2; ++i) {
      shards_.push_back(std::make_unique<FakeShard>(i, 2));
    }
    coordinator_.SetCluster(Cluster(/*complete=*/true));
    env_.client = &client_;
    env_.out = &out_;
    env_.err = &err_;
    env_.clock = &clock_;
  }

  ClusterResponse Cluster(bool complete) {
    ClusterResponse cluster;
    for (uint32_t i = 0; i < 2; ++i) {
      NodeInfo* ps = cluster.add_nodes();
      ps->set_node_id(absl::StrCat("n-", 2 - i));  // out of order on purpose
      ps->set_role("ps");
      ps->set_address(shards_[i]->address());
      ps->set_hostname("host");
      ps->set_cpus(8);
      ps->set_shard_id(i);
      ps->set_num_shards(2);
      ps->set_alive(complete || i == 0);
      ps->set_last_heartbeat_unix_ms(kNowMs - 2000);
      if (complete || i == 0) cluster.add_ps_addresses(shards_[i]->address());
    }
    if (!complete) cluster.clear_ps_addresses();
    NodeInfo* worker = cluster.add_nodes();
    worker->set_node_id("n-3");
    worker->set_role("general");
    worker->set_hostname("host");
    worker->set_cpus(4);
    worker->set_gpus(1);
    worker->set_alive(true);
    worker->set_current_task("job-1/0");
    return cluster;
  }

  static TableInfo Sparse(uint64_t rows) {
    TableInfo t;
    t.set_name("emb");
    t.set_kind(TableInfo::SPARSE);
    t.set_dim(16);
    t.set_rows(rows);
    t.set_bytes(rows * 100);
    t.set_optimizer(OptimizerConfig::ADAGRAD);
    return t;
  }

  FakeCoordinator coordinator_;
  std::vector<std::unique_ptr<FakeShard>> shards_;
  FakeClock clock_;
  CtlClient client_;
  std::ostringstream out_, err_;
  CommandEnv env_;
};

TEST_F(ClusterCommandsTest, HealthChecksCoordinatorAndEveryAddressedNode) {
  EXPECT_EQ(RunHealth(env_), kExitOk);
  const std::string a0 = shards_[0]->address();
  const std::string a1 = shards_[1]->address();
  const std::string ac = coordinator_.address();
  Table expected({"ROLE", "NODE", "ADDRESS", "ALIVE", "HEALTH"});
  expected.AddRow({"coordinator", "-", ac, "yes", "SERVING"});
  expected.AddRow({"ps", "n-2", a0, "yes", "SERVING"});
  expected.AddRow({"ps", "n-1", a1, "yes", "SERVING"});
  expected.AddRow({"general", "n-3", "-", "yes", "-"});
  EXPECT_EQ(out_.str(), expected.Render());
  EXPECT_EQ(err_.str(), "");
}

TEST_F(ClusterCommandsTest, HealthFailsWhenAShardIsNotServing) {
  shards_[1]->server().SetServing(false);
  EXPECT_EQ(RunHealth(env_), kExitRpc);
  EXPECT_THAT(out_.str(), HasSubstr("NOT_SERVING"));
}

TEST_F(ClusterCommandsTest, HealthFailsWhenAShardIsUnreachable) {
  const std::string gone = shards_[1]->address();
  shards_[1].reset();
  EXPECT_EQ(RunHealth(env_), kExitRpc);
  EXPECT_THAT(err_.str(),
              StartsWith("UNAVAILABLE: ps shard 1 " + gone + " unreachable"));
  EXPECT_THAT(out_.str(), HasSubstr(gone + "  yes    UNAVAILABLE"));
}

TEST_F(ClusterCommandsTest, HealthOfUnreachableCoordinatorPrintsOnlyTheError) {
  CtlClientOptions options;
  options.coordinator = "127.0.0.1:1";
  CtlClient dead(options);
  env_.client = &dead;
  EXPECT_EQ(RunHealth(env_), kExitRpc);
  EXPECT_THAT(err_.str(),
              StartsWith("UNAVAILABLE: coordinator 127.0.0.1:1 unreachable: "));
  EXPECT_EQ(out_.str(), "");
}

TEST_F(ClusterCommandsTest, HealthJsonIsOneObject) {
  env_.json = true;
  EXPECT_EQ(RunHealth(env_), kExitOk);
  EXPECT_THAT(out_.str(), StartsWith("{\"healthy\":true,\"coordinator\":{"
                                     "\"role\":\"coordinator\""));
  EXPECT_THAT(out_.str(), HasSubstr("\"node_id\":\"n-3\",\"address\":\"\","
                                    "\"alive\":true,\"health\":"
                                    "\"NOT_CHECKED\"}]}\n"));
}

TEST_F(ClusterCommandsTest, NodesTableSortsShardsFirst) {
  EXPECT_EQ(RunNodes(env_), kExitOk);
  Table expected({"NODE", "ROLE", "ADDRESS", "HOST", "CPUS", "GPUS", "SHARD",
                  "ALIVE", "HEARTBEAT", "TASK"});
  expected.SetAlign(4, Table::Align::kRight);
  expected.SetAlign(5, Table::Align::kRight);
  expected.AddRow({"n-2", "ps", shards_[0]->address(), "host", "8", "0", "0/2",
                   "yes", "2s ago", "-"});
  expected.AddRow({"n-1", "ps", shards_[1]->address(), "host", "8", "0", "1/2",
                   "yes", "2s ago", "-"});
  expected.AddRow(
      {"n-3", "general", "-", "host", "4", "1", "-", "yes", "-", "job-1/0"});
  EXPECT_EQ(out_.str(), expected.Render());
}

TEST_F(ClusterCommandsTest, NodesJsonIsTheClusterMessage) {
  env_.json = true;
  EXPECT_EQ(RunNodes(env_), kExitOk);
  EXPECT_THAT(out_.str(), StartsWith("{\"nodes\":[{\"node_id\":\"n-2\","
                                     "\"role\":\"ps\""));
  EXPECT_THAT(out_.str(), HasSubstr("\"ps_addresses\":[\""));
}

TEST_F(ClusterCommandsTest, TablesMergesShards) {
  shards_[0]->AddTable(Sparse(1000));
  shards_[1]->AddTable(Sparse(1500));
  TableInfo dense;
  dense.set_name("w");
  dense.set_kind(TableInfo::DENSE);
  dense.set_size(4096);
  dense.set_rows(1);
  dense.set_bytes(32768);
  dense.set_optimizer(OptimizerConfig::ADAM);
  shards_[1]->AddTable(dense);
  EXPECT_EQ(RunTables(env_), kExitOk);
  EXPECT_EQ(
      out_.str(),
      "NAME  KIND    DIM/SIZE  ROWS/SHARD      ROWS      BYTES  OPTIMIZER\n"
      "emb   sparse        16  1,000 / 1,500  2,500  244.1 KiB  ADAGRAD\n"
      "w     dense      4,096  - / 1              1   32.0 KiB  ADAM\n");
}

TEST_F(ClusterCommandsTest, TablesJsonIsATablesReport) {
  shards_[0]->AddTable(Sparse(1));
  env_.json = true;
  EXPECT_EQ(RunTables(env_), kExitOk);
  EXPECT_EQ(out_.str(),
            "{\"tables\":[{\"name\":\"emb\",\"kind\":\"SPARSE\","
            "\"compressed\":false,\"dim\":16,\"size\":\"0\","
            "\"rows_per_shard\":[{\"shard_id\":0,\"rows\":\"1\"}],"
            "\"rows\":\"1\",\"bytes\":\"100\",\"optimizer\":\"ADAGRAD\"}],"
            "\"failed_shards\":[]}\n");
}

TEST_F(ClusterCommandsTest, TablesJsonNamesTheFailedShards) {
  shards_[0]->AddTable(Sparse(10));
  shards_[1]->script().SetError("ListTables", absl::InternalError("disk"));
  env_.json = true;
  EXPECT_EQ(RunTables(env_), kExitRpc);
  EXPECT_THAT(out_.str(),
              HasSubstr("\"failed_shards\":[{\"shard_id\":1,\"address\":\"" +
                        shards_[1]->address() +
                        "\",\"error\":{\"code\":\"INTERNAL\",\"message\":"
                        "\"ListTables on ps shard 1 " +
                        shards_[1]->address() + ": disk\"}}]}\n"));
}

TEST_F(ClusterCommandsTest, TablesShowsOtherShardsWhenOneFails) {
  shards_[0]->AddTable(Sparse(10));
  shards_[1]->script().SetError("ListTables", absl::InternalError("disk"));
  EXPECT_EQ(RunTables(env_), kExitRpc);
  EXPECT_THAT(err_.str(), StartsWith("INTERNAL: ListTables on ps shard 1 "));
  EXPECT_THAT(out_.str(), HasSubstr("10 / ?"));
}

TEST_F(ClusterCommandsTest, IncompleteClusterIsFailedPrecondition) {
  coordinator_.SetCluster(Cluster(/*complete=*/false));
  EXPECT_EQ(RunTables(env_), kExitRpc);
  EXPECT_THAT(err_.str(),
              HasSubstr("FAILED_PRECONDITION: the coordinator " +
                        coordinator_.address() +
                        " has no complete set of live ps shards (1 alive of 2 "
                        "expected)"));
  EXPECT_EQ(RunCheckpoint(env_), kExitRpc);
  EXPECT_TRUE(shards_[0]->checkpoint_requests().empty());
}

TEST_F(ClusterCommandsTest, CheckpointTakesTheIdTheCoordinatorPicks) {
  EXPECT_EQ(RunCheckpoint(env_), kExitOk);
  const uint64_t id = kNowMs;
  EXPECT_THAT(shards_[0]->checkpoint_requests(), ElementsAre(id));
  EXPECT_THAT(shards_[1]->checkpoint_requests(), ElementsAre(id));
  Table expected({"SHARD", "ADDRESS", "ROWS", "BYTES", "PATH"});
  for (size_t c : {0, 2, 3}) expected.SetAlign(c, Table::Align::kRight);
  expected.AddRow({"0", shards_[0]->address(), "10", "1000 B",
                   "/data/ckpt-1700000000000/shard-0"});
  expected.AddRow({"1", shards_[1]->address(), "20", "2.0 KiB",
                   "/data/ckpt-1700000000000/shard-1"});
  expected.AddRow({"total", "", "30", "2.9 KiB", ""});
  EXPECT_EQ(out_.str(), "checkpoint 1700000000000: 2 of 2 shards written\n" +
                            expected.Render());
}

TEST_F(ClusterCommandsTest, CheckpointFailsWithTheShardsError) {
  shards_[0]->script().SetError("Checkpoint",
                                absl::ResourceExhaustedError("disk full"));
  coordinator_.SetCheckpointId(42);
  EXPECT_EQ(RunCheckpoint(env_), kExitRpc);
  EXPECT_THAT(err_.str(),
              StartsWith("RESOURCE_EXHAUSTED: Checkpoint on coordinator " +
                         coordinator_.address() + ": "));
  EXPECT_THAT(err_.str(), HasSubstr("ps shard 0"));
  EXPECT_THAT(err_.str(), HasSubstr("disk full"));
  EXPECT_EQ(out_.str(), "");
}

TEST_F(ClusterCommandsTest, CheckpointPermissionDeniedIsReported) {
  coordinator_.script().SetError(
      "Checkpoint", absl::PermissionDeniedError("reader may not"));
  EXPECT_EQ(RunCheckpoint(env_), kExitRpc);
  EXPECT_THAT(err_.str(), StartsWith("PERMISSION_DENIED: Checkpoint on "
                                     "coordinator "));
  EXPECT_TRUE(shards_[0]->checkpoint_requests().empty());
}

TEST_F(ClusterCommandsTest, CheckpointJsonListsEveryShard) {
  coordinator_.SetCheckpointId(7);
  env_.json = true;
  EXPECT_EQ(RunCheckpoint(env_), kExitOk);
  EXPECT_THAT(out_.str(),
              StartsWith("{\"checkpoint_id\":\"7\",\"ok\":true,\"shards\":[{"
                         "\"shard_id\":0,\"address\":\"" +
                         shards_[0]->address() + "\","));
  EXPECT_THAT(out_.str(), HasSubstr("\"response\":{\"checkpoint_id\":\"7\","));
}

TEST_F(ClusterCommandsTest, LoadPassesTheIdToEveryShard) {
  EXPECT_EQ(RunLoad(env_, 42), kExitOk);
  EXPECT_THAT(shards_[0]->load_requests(), ElementsAre(42u));
  EXPECT_THAT(shards_[1]->load_requests(), ElementsAre(42u));
  EXPECT_THAT(out_.str(), StartsWith("loaded 2 of 2 shards\n"));
  EXPECT_THAT(out_.str(), HasSubstr("  42            2 shards    20\n"));
}

TEST_F(ClusterCommandsTest, LoadJsonIsALoadReport) {
  env_.json = true;
  EXPECT_EQ(RunLoad(env_, 42), kExitOk);
  EXPECT_THAT(out_.str(),
              StartsWith("{\"checkpoint_id\":\"42\",\"ok\":true,\"shards\":[{"
                         "\"shard_id\":0,\"address\":\"" +
                         shards_[0]->address() +
                         "\",\"response\":{\"checkpoint_id\":\"42\","));
}

TEST_F(ClusterCommandsTest, LoadNewestFailsWhenShardsDisagree) {
  shards_[0]->SetNewestCheckpoint(5);
  shards_[1]->SetNewestCheckpoint(6);
  EXPECT_EQ(RunLoad(env_, absl::nullopt), kExitRpc);
  EXPECT_THAT(shards_[0]->load_requests(), ElementsAre(0u));
  EXPECT_EQ(err_.str(),
            "FAILED_PRECONDITION: the shards loaded different checkpoints "
            "(checkpoint 5 on shard(s) 0; checkpoint 6 on shard(s) 1); load "
            "one explicitly with --checkpoint_id\n");
}

}  // namespace
}  // namespace ctl
}  // namespace strata
