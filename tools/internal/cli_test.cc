#include "tools/internal/cli.h"

#include <sstream>

#include "absl/flags/flag.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tools/internal/fake_servers.h"

// Flags of this test binary, standing in for stratactl's.
ABSL_FLAG(std::string, t_name, "", "string flag");
ABSL_FLAG(bool, t_bool, false, "bool flag");
ABSL_FLAG(int, t_int, 0, "int flag");
ABSL_FLAG(absl::optional<uint64_t>, t_opt, absl::nullopt, "optional flag");

namespace strata {
namespace ctl {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

class ParseFlagArgsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::SetFlag(&FLAGS_t_name, "");
    absl::SetFlag(&FLAGS_t_bool, false);
    absl::SetFlag(&FLAGS_t_int, 0);
    absl::SetFlag(&FLAGS_t_opt, absl::nullopt);
  }
  absl::StatusOr<ParsedArgs> Parse(std::vector<const char*> args) {
    args.insert(args.begin(), "stratactl");
    return ParseFlagArgs(static_cast<int>(args.size()), args.data());
  }
};

TEST_F(ParseFlagArgsTest, FlagsMayFollowTheSubcommand) {
  auto parsed = Parse({"--t_name=a", "submit", "spec.json", "--t_bool",
                       "-t_int", "7", "--t_opt=9"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_THAT(parsed->positional, ElementsAre("submit", "spec.json"));
  EXPECT_FALSE(parsed->help);
  EXPECT_EQ(absl::GetFlag(FLAGS_t_name), "a");
  EXPECT_TRUE(absl::GetFlag(FLAGS_t_bool));
  EXPECT_EQ(absl::GetFlag(FLAGS_t_int), 7);
  EXPECT_EQ(absl::GetFlag(FLAGS_t_opt), absl::optional<uint64_t>(9));
}

TEST_F(ParseFlagArgsTest, NegatedBoolAndDoubleDashEndFlags) {
  absl::SetFlag(&FLAGS_t_bool, true);
  auto parsed = Parse({"--not_bool", "cancel", "--", "--t_int=3"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_FALSE(absl::GetFlag(FLAGS_t_bool));
  EXPECT_THAT(parsed->positional, ElementsAre("cancel", "--t_int=3"));
  EXPECT_EQ(absl::GetFlag(FLAGS_t_int), 0);
}

TEST_F(ParseFlagArgsTest, HelpIsReportedNotParsed) {
  auto parsed = Parse({"list", "-h"});
  ASSERT_TRUE(parsed.ok());
  EXPECT_TRUE(parsed->help);
  EXPECT_TRUE(Parse({"--help"})->help);
}

TEST_F(ParseFlagArgsTest, UnknownFlagIsInvalidArgument) {
  auto parsed = Parse({"list", "--bogus=1"});
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(parsed.status().message(), "unknown flag --bogus");
  // "no" + a non-boolean flag is not a negation.
  EXPECT_EQ(Parse({"--not_int"}).status().message(), "unknown flag --not_int");
}

TEST_F(ParseFlagArgsTest, MissingOrBadValueIsInvalidArgument) {
  auto missing = Parse({"--t_int"});
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(missing.status().message(), "flag --t_int needs a value");
  auto bad = Parse({"--t_int=seven"});
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.status().message()),
              StartsWith("invalid value \"seven\" for --t_int"));
  EXPECT_EQ(Parse({"--t_bool=maybe"}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

class RunCliTest : public ::testing::Test {
 protected:
  RunCliTest() {
    io_.out = &out_;
    io_.err = &err_;
    io_.clock = &clock_;
  }
  int Run(std::vector<std::string> args) { return RunCli(args, options_, io_); }

  FakeClock clock_;
  std::ostringstream out_, err_;
  CliIo io_;
  CliOptions options_;
};

TEST_F(RunCliTest, MissingCommandIsAUsageError) {
  EXPECT_EQ(Run({}), 2);
  EXPECT_THAT(err_.str(),
              StartsWith("stratactl: missing command\n\nstratactl:"));
  EXPECT_EQ(out_.str(), "");
}

TEST_F(RunCliTest, UnknownCommandPrintsUsageAndExitsTwo) {
  EXPECT_EQ(Run({"frobnicate"}), 2);
  EXPECT_THAT(err_.str(),
              StartsWith("stratactl: unknown command \"frobnicate\""));
  EXPECT_THAT(err_.str(), HasSubstr("Exit codes:"));
}

TEST_F(RunCliTest, WrongArgumentCountsAreUsageErrors) {
  EXPECT_EQ(Run({"status"}), 2);
  EXPECT_THAT(err_.str(), StartsWith("stratactl: status: missing JOB_ID"));
  err_.str("");
  EXPECT_EQ(Run({"list", "extra"}), 2);
  EXPECT_THAT(err_.str(),
              StartsWith("stratactl: list: unexpected argument \"extra\""));
}

TEST_F(RunCliTest, FlagsOfOtherCommandsAreUsageErrors) {
  options_.watch = true;
  EXPECT_EQ(Run({"list"}), 2);
  EXPECT_THAT(err_.str(), StartsWith("stratactl: list does not take --watch"));
  options_.watch = false;
  options_.checkpoint_id = 5;
  EXPECT_EQ(Run({"submit", "x.json"}), 2);
  // Ids come from the coordinator: checkpoint takes none.
  EXPECT_EQ(Run({"checkpoint"}), 2);
  EXPECT_THAT(err_.str(),
              HasSubstr("stratactl: checkpoint does not take --checkpoint_id"));
}

TEST_F(RunCliTest, NonPositiveTimeoutIsAUsageError) {
  options_.timeout_s = 0;
  EXPECT_EQ(Run({"list"}), 2);
  EXPECT_THAT(err_.str(), HasSubstr("--timeout_s must be a positive number"));
}

TEST_F(RunCliTest, HelpCommandPrintsUsageOnStdout) {
  EXPECT_EQ(Run({"help"}), 0);
  EXPECT_EQ(out_.str(), UsageText());
}

TEST_F(RunCliTest, UsageDocumentsEveryCommandFlagAndExitCode) {
  const std::string usage = UsageText();
  for (const char* word : {"health",           "nodes",
                           "submit SPEC_FILE", "list",
                           "status JOB_ID",    "watch JOB_ID",
                           "cancel JOB_ID",    "tables",
                           "checkpoint",       "load",
                           "--coordinator",    "STRATA_COORDINATOR",
                           "--json",           "--timeout_s",
                           "--watch",          "--checkpoint_id",
                           "\n  0  ",          "\n  1  ",
                           "\n  2  ",          "\n  3  "}) {
    EXPECT_THAT(usage, HasSubstr(word));
  }
}

TEST_F(RunCliTest, DispatchesToTheCoordinator) {
  FakeCoordinator fake;
  options_.coordinator = fake.address();
  options_.json = true;
  EXPECT_EQ(Run({"list"}), 0);
  EXPECT_EQ(out_.str(), "{\"jobs\":[]}\n");
}

TEST_F(RunCliTest, UnreachableCoordinatorExitsThree) {
  options_.coordinator = "127.0.0.1:1";
  options_.timeout_s = 5;
  EXPECT_EQ(Run({"health"}), 3);
  EXPECT_THAT(err_.str(),
              StartsWith("UNAVAILABLE: coordinator 127.0.0.1:1 unreachable: "));
}

TEST_F(RunCliTest, InvalidSpecExitsTwoBeforeAnyRpc) {
  options_.coordinator = "127.0.0.1:1";  // would give 3 if contacted
  EXPECT_EQ(Run({"submit", "/nonexistent.textproto"}), 2);
  EXPECT_THAT(err_.str(), StartsWith("NOT_FOUND: cannot open spec file"));
}

}  // namespace
}  // namespace ctl
}  // namespace strata
