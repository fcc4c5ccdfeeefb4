// /metrics must report the same numbers as the stats RPC and the library.
#include <cstdio>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gtest/gtest.h"
#include "server/client/ps_client.h"
#include "server/metrics/metrics_registry.h"
#include "server/ps/ps_server.h"

namespace strata {
namespace {

bool HasLine(const std::string& text, const std::string& line) {
  return text.find(line + "\n") != std::string::npos;
}

TEST(PsMetricsTest, MetricsAgreeWithTheStatsRpcAndTheLibrary) {
  auto registry = MetricsRegistry::Create({});
  ASSERT_TRUE(registry.ok()) << registry.status();
  PsServerOptions o;
  o.metrics = registry->get();
  auto server = PsServer::Start(o);
  ASSERT_TRUE(server.ok()) << server.status();
  auto client = PsClient::Connect({(*server)->address()});
  ASSERT_TRUE(client.ok());
  TableConfig t;
  t.set_name("emb");
  t.set_dim(4);
  t.mutable_optimizer()->set_type(OptimizerConfig::SGD);
  t.mutable_optimizer()->set_learning_rate(1.f);
  ASSERT_TRUE(AllOk((*client)->admin().CreateTable(t, false)).ok());
  std::vector<uint64_t> keys;
  std::vector<float> grads;
  for (uint64_t i = 0; i < 3000; ++i) {
    keys.push_back((uint64_t{7} << 56) | i);
    for (int d = 0; d < 4; ++d) grads.push_back(-float(i % 12) - d);
  }
  ASSERT_TRUE((*client)->Push("emb", keys, grads, 4).ok());
  std::string text = (*registry)->TextFormat();
  EXPECT_TRUE(HasLine(
      text, "strata_ps_table_rows{shard=\"0\",table=\"emb\",kind=\"sparse\"} 3000"))
      << text;
  EXPECT_EQ(text.find("strata_saec_ratio"), std::string::npos);

  SaecConfig c;
  c.set_clusters(12);
  c.set_min_features(100);
  ASSERT_TRUE(RequireAllOk((*client)->admin().Compress("emb", c)).ok());
  auto rpc = RequireAllOk((*client)->admin().CompressionStats("emb"));
  ASSERT_TRUE(rpc.ok());
  ASSERT_EQ((*rpc)[0].fields_size(), 1);
  const FieldStats& f = (*rpc)[0].fields(0);
  auto lib = (*server)->store()->Stats("emb");
  ASSERT_TRUE(lib.ok());
  EXPECT_EQ(f.SerializeAsString(), lib->at(0).SerializeAsString());

  text = (*registry)->TextFormat();
  const std::string labels =
      "{shard=\"0\",table=\"emb\",field=\"7\",method=\"saec\"}";
  EXPECT_TRUE(HasLine(text, "strata_saec_features" + labels + " 3000")) << text;
  EXPECT_TRUE(HasLine(text, "strata_saec_clusters" + labels + " 12")) << text;
  EXPECT_TRUE(HasLine(text, absl::StrCat("strata_saec_bytes_before", labels,
                                         " ", f.bytes_before())))
      << text;
  EXPECT_TRUE(HasLine(text, absl::StrCat("strata_saec_bytes_after", labels,
                                         " ", f.bytes_after())))
      << text;
  // Doubles print with %g-like precision: compare the parsed value.
  const std::string key = "strata_saec_ratio" + labels + " ";
  const size_t at = text.find(key);
  ASSERT_NE(at, std::string::npos) << text;
  EXPECT_NEAR(std::stod(text.substr(at + key.size())), f.ratio(),
              1e-9 * f.ratio());
  EXPECT_TRUE(HasLine(
      text,
      "strata_ps_table_rows{shard=\"0\",table=\"emb\",kind=\"sparse_saec\"} "
      "3000"))
      << text;
  EXPECT_TRUE(HasLine(text, "strata_saec_new_rows" + labels + " 0")) << text;

  // Growth after compression: 50 keys first seen now get rows of their own,
  // are counted, and a fold moves them into the clusters.
  std::vector<uint64_t> fresh;
  std::vector<float> fresh_grads;
  for (uint64_t i = 0; i < 50; ++i) {
    fresh.push_back((uint64_t{7} << 56) | (100000 + i));
    for (int d = 0; d < 4; ++d) fresh_grads.push_back(-float(i % 12) - d);
  }
  ASSERT_TRUE((*client)->Push("emb", fresh, fresh_grads, 4).ok());
  auto grown = (*server)->store()->Stats("emb");
  ASSERT_TRUE(grown.ok());
  ASSERT_EQ(grown->at(0).new_rows(), 50u);
  text = (*registry)->TextFormat();
  EXPECT_TRUE(HasLine(text, "strata_saec_new_rows" + labels + " 50")) << text;
  EXPECT_TRUE(HasLine(text, absl::StrCat("strata_saec_frequency", labels, " ",
                                         grown->at(0).frequency())))
      << text;
  EXPECT_TRUE(HasLine(text, absl::StrCat("strata_saec_growth_bytes", labels,
                                         " ", grown->at(0).growth_bytes())))
      << text;
  ASSERT_TRUE(RequireAllOk((*client)->admin().Compress("emb", c)).ok());
  text = (*registry)->TextFormat();
  EXPECT_TRUE(HasLine(text, "strata_saec_new_rows" + labels + " 0")) << text;
  EXPECT_TRUE(HasLine(text, "strata_saec_folded_features" + labels + " 50"))
      << text;
}

TEST(PsMetricsTest, MemoryBudgetAndUseAreExported) {
  auto registry = MetricsRegistry::Create({});
  ASSERT_TRUE(registry.ok()) << registry.status();
  PsServerOptions o;
  o.metrics = registry->get();
  o.max_memory_bytes = 1 << 20;
  auto server = PsServer::Start(o);
  ASSERT_TRUE(server.ok()) << server.status();
  TableStore* store = (*server)->store();
  DenseConfig d;
  d.set_name("w");
  d.set_size(1000);
  d.mutable_optimizer()->set_type(OptimizerConfig::ADAGRAD);
  d.mutable_optimizer()->set_learning_rate(0.1f);
  const absl::Status created = store->CreateDense(d, false);
  ASSERT_TRUE(created.ok()) << created;
  const std::string text = (*registry)->TextFormat();
  EXPECT_TRUE(HasLine(text,
                      "strata_ps_memory_budget_bytes{shard=\"0\"} 1048576"))
      << text;
  // Values and Adagrad's accumulator: 2000 floats.
  EXPECT_TRUE(HasLine(text, "strata_ps_memory_used_bytes{shard=\"0\"} 8000"))
      << text;
}

TEST(PsMetricsTest, UpdatesAppliedAndLostAreExported) {
  auto registry = MetricsRegistry::Create({});
  ASSERT_TRUE(registry.ok()) << registry.status();
  PsServerOptions o;
  o.metrics = registry->get();
  auto server = PsServer::Start(o);
  ASSERT_TRUE(server.ok()) << server.status();
  (*server)->store()->updates().Add(12);
  const std::string text = (*registry)->TextFormat();
  EXPECT_TRUE(HasLine(text, "strata_ps_updates_applied_total{shard=\"0\"} 12"))
      << text;
  EXPECT_TRUE(HasLine(text, "strata_ps_bsp_steps_skipped_total{shard=\"0\"} 0"))
      << text;
  EXPECT_EQ(text.find("strata_ps_updates_lost{"), std::string::npos)
      << "unknown without a restart";
}

}  // namespace
}  // namespace strata
