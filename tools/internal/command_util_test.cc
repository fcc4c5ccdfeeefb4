#include "tools/internal/command_util.h"

#include <sstream>

#include "gtest/gtest.h"

namespace strata {
namespace ctl {
namespace {

TEST(ReportRpcErrorTest, PrintsCodeNameAndMessageAndReturnsThree) {
  std::ostringstream out, err;
  CommandEnv env;
  env.out = &out;
  env.err = &err;
  EXPECT_EQ(ReportRpcError(env, absl::UnavailableError(
                                    "coordinator 127.0.0.1:7070 unreachable")),
            kExitRpc);
  EXPECT_EQ(err.str(), "UNAVAILABLE: coordinator 127.0.0.1:7070 unreachable\n");
  EXPECT_EQ(out.str(), "");
}

TEST(ToJsonTest, UsesProtoNamesAndPrintsDefaults) {
  NodeInfo node;
  node.set_node_id("n1");
  node.set_last_heartbeat_unix_ms(5);
  EXPECT_EQ(ToJson(node),
            R"({"node_id":"n1","role":"","address":"","hostname":"",)"
            R"("cpus":0,"gpus":0,"shard_id":0,"num_shards":0,"alive":false,)"
            R"("last_heartbeat_unix_ms":"5","current_task":""})");
}

TEST(StateTest, NamesAndExitCodes) {
  EXPECT_EQ(StateName(RUNNING), "RUNNING");
  EXPECT_EQ(StateName(static_cast<JobState>(42)), "UNKNOWN(42)");
  EXPECT_EQ(ExitCodeForState(SUCCEEDED), kExitOk);
  EXPECT_EQ(ExitCodeForState(FAILED), kExitJobFailed);
  EXPECT_EQ(ExitCodeForState(CANCELLED), kExitJobFailed);
  EXPECT_EQ(ExitCodeForState(RUNNING), kExitRpc);
  EXPECT_TRUE(IsTerminal(CANCELLED));
  EXPECT_FALSE(IsTerminal(PENDING));
}

TEST(SortedMetricsTest, SortsByName) {
  google::protobuf::Map<std::string, double> m;
  m["qps"] = 2;
  m["acc"] = 1;
  m["loss"] = 3;
  const auto sorted = SortedMetrics(m);
  ASSERT_EQ(sorted.size(), 3u);
  EXPECT_EQ(sorted[0].first, "acc");
  EXPECT_EQ(sorted[1].first, "loss");
  EXPECT_EQ(sorted[2].first, "qps");
}

TEST(TimeFormatTest, UnsetTimesAreDashes) {
  EXPECT_EQ(FormatUnixMs(0, absl::UTCTimeZone()), "-");
  EXPECT_EQ(FormatUnixMs(86400000 + 3723000, absl::UTCTimeZone()),
            "1970-01-02 01:02:03");
  EXPECT_EQ(AgeOf(0, absl::FromUnixSeconds(100)), "-");
  EXPECT_EQ(AgeOf(40000, absl::FromUnixSeconds(100)), "1m00s");
}

TEST(StepsOfTest, UnknownTotalIsQuestionMark) {
  EXPECT_EQ(StepsOf(450, 1000), "450/1,000");
  EXPECT_EQ(StepsOf(450, 0), "450/?");
}

TEST(ForEachInParallelTest, CallsEveryIndexOnce) {
  std::vector<int> calls(16, 0);
  ForEachInParallel(calls.size(), [&](size_t i) { ++calls[i]; });
  for (int c : calls) EXPECT_EQ(c, 1);
  ForEachInParallel(0, [](size_t) { FAIL() << "no calls expected"; });
}

TEST(ErrorInfoTest, JsonHasCodeNameAndMessage) {
  EXPECT_EQ(ToJson(ToErrorInfo(absl::NotFoundError("no \"x\""))),
            R"({"code":"NOT_FOUND","message":"no \"x\""})");
}

}  // namespace
}  // namespace ctl
}  // namespace strata
