#include "tools/internal/compression_commands.h"

#include <sstream>

#include "gtest/gtest.h"

namespace strata {
namespace ctl {
namespace {

FieldStats Field(const std::string& table, uint32_t field, uint32_t shard,
                 uint64_t features, uint64_t clusters, uint64_t before,
                 uint64_t after, double mse, double seconds) {
  FieldStats f;
  f.set_table(table);
  f.set_field(field);
  f.set_shard_id(shard);
  f.set_method("saec");
  f.set_features(features);
  f.set_clusters(clusters);
  f.set_bytes_before(before);
  f.set_bytes_after(after);
  f.set_weighted_mse(mse);
  f.set_seconds(seconds);
  return f;
}

TEST(CompressionCommandsTest, MergesShardsPerFieldAndAddsTableTotals) {
  std::ostringstream out, err;
  CommandEnv env;
  env.out = &out;
  env.err = &err;
  PrintFieldStats(env, {Field("emb", 1, 0, 600, 6, 60000, 2000, 0.01, 1.5),
                        Field("emb", 1, 1, 400, 4, 40000, 2000, 0.06, 2.0),
                        Field("emb", 2, 0, 100, 100, 9000, 9000, 0, 0.1)});
  const std::string text = out.str();
  // Field 1: 1000 features, 10 clusters, 100000/4000 = 25x, MSE
  // (0.01*600 + 0.06*400)/1000 = 0.03, slowest shard 2.00s.
  EXPECT_NE(text.find("25.0x"), std::string::npos) << text;
  EXPECT_NE(text.find("0.03"), std::string::npos) << text;
  EXPECT_NE(text.find("2.00s"), std::string::npos) << text;
  EXPECT_NE(text.find("1,000"), std::string::npos) << text;
  EXPECT_NE(text.find("NEW ROWS"), std::string::npos) << text;
  // Table total: 109000 / 13000 = 8.4x.
  EXPECT_NE(text.find("all"), std::string::npos) << text;
  EXPECT_NE(text.find("8.4x"), std::string::npos) << text;
}

TEST(CompressionCommandsTest, JsonIsAFieldStatsReportWithOneEntryPerField) {
  std::ostringstream out, err;
  CommandEnv env;
  env.out = &out;
  env.err = &err;
  env.json = true;
  FieldStats grown = Field("emb", 1, 1, 400, 4, 40000, 2000, 0.06, 2.0);
  grown.set_new_rows(12);
  grown.set_growth_bytes(960);
  PrintFieldStats(env,
                  {Field("emb", 1, 0, 600, 6, 60000, 2000, 0.01, 1.5), grown});
  EXPECT_EQ(out.str(),
            "{\"fields\":[{\"table\":\"emb\",\"field\":1,\"method\":\"saec\","
            "\"shards\":2,\"features\":\"1000\",\"clusters\":\"10\","
            "\"vectors_before\":\"0\",\"vectors_after\":\"0\","
            "\"bytes_before\":\"100000\",\"bytes_after\":\"4000\","
            "\"ratio\":25,\"weighted_mse\":0.03,\"seconds\":2,"
            "\"new_rows\":\"12\",\"folded_features\":\"0\","
            "\"frequency\":\"0\",\"growth_bytes\":\"960\"}],"
            "\"failed_shards\":[]}\n");
}

}  // namespace
}  // namespace ctl
}  // namespace strata

namespace strata {
namespace ctl {
namespace {

TEST(CompressionCommandsTest, MalformedSaecTextIsAUsageErrorBeforeAnyRpc) {
  std::ostringstream out, err;
  CommandEnv env;  // no client: a usage error must not need one
  env.out = &out;
  env.err = &err;
  EXPECT_EQ(RunCompress(env, "", "clusters: lots"), kExitUsage);
  EXPECT_NE(err.str().find("--saec"), std::string::npos) << err.str();
  EXPECT_EQ(RunCompress(env, "emb", "no_such_field: 3"), kExitUsage);
  EXPECT_TRUE(out.str().empty());
}

}  // namespace
}  // namespace ctl
}  // namespace strata
