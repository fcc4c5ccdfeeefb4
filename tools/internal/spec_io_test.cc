#include "tools/internal/spec_io.h"

#include <sys/stat.h>

#include <cstdlib>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace strata {
namespace ctl {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

std::string TempPath(absl::string_view name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return absl::StrCat(dir != nullptr ? dir : "/tmp", "/", name);
}

std::string WriteTemp(absl::string_view name, absl::string_view content) {
  const std::string path = TempPath(name);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
  return path;
}

TEST(SpecFormatTest, OnlyJsonExtensionSelectsJson) {
  EXPECT_EQ(SpecFormatForPath("a/b.json"), SpecFormat::kJson);
  EXPECT_EQ(SpecFormatForPath("B.JSON"), SpecFormat::kJson);
  EXPECT_EQ(SpecFormatForPath("b.textproto"), SpecFormat::kText);
  EXPECT_EQ(SpecFormatForPath("b.pbtxt"), SpecFormat::kText);
  EXPECT_EQ(SpecFormatForPath("json"), SpecFormat::kText);
}

TEST(LoadJobSpecTest, ReadsBothShippedExamplesIdentically) {
  auto text = LoadJobSpec("tools/examples/ps_load_test.textproto");
  auto json = LoadJobSpec("tools/examples/ps_load_test.json");
  ASSERT_TRUE(text.ok()) << text.status();
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_EQ(text->num_workers(), 1u);
  EXPECT_EQ(text->ps_load_test().dim(), 16u);
  EXPECT_EQ(text->ps_load_test().keys_per_worker(), 500000u);
  EXPECT_EQ(text->SerializeAsString(), json->SerializeAsString());
}

TEST(LoadJobSpecTest, AcceptsCamelCaseJsonNames) {
  const std::string path = WriteTemp(
      "camel.json", R"({"name": "x", "numWorkers": 3, "psLoadTest": {}})");
  auto spec = LoadJobSpec(path);
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->num_workers(), 3u);
  EXPECT_TRUE(spec->has_ps_load_test());
}

TEST(LoadJobSpecTest, MissingFileIsNotFound) {
  auto spec = LoadJobSpec(TempPath("does_not_exist.textproto"));
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(spec.status().message(), HasSubstr("does_not_exist.textproto"));
}

TEST(LoadJobSpecTest, DirectoryIsInvalidArgument) {
  const std::string dir = TempPath("a_directory.json");
  ::mkdir(dir.c_str(), 0755);
  auto spec = LoadJobSpec(dir);
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(spec.status().message(), HasSubstr("a_directory.json"));
}

TEST(LoadJobSpecTest, TextUnknownFieldReportsFileLineAndColumn) {
  const std::string path = WriteTemp("bad_field.textproto",
                                     "name: \"x\"\n"
                                     "ps_load_test {\n"
                                     "  dimm: 4\n"
                                     "}\n");
  auto spec = LoadJobSpec(path);
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(spec.status().message()),
              StartsWith(path + ":3:7: "));
  EXPECT_THAT(spec.status().message(), HasSubstr("dimm"));
}

TEST(LoadJobSpecTest, TextSyntaxErrorReportsPosition) {
  const std::string path = WriteTemp("bad_syntax.pbtxt",
                                     "name: \"x\"\n"
                                     "num_workers: two\n");
  auto spec = LoadJobSpec(path);
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(spec.status().message()),
              StartsWith(path + ":2:14: "));
}

TEST(LoadJobSpecTest, JsonSyntaxErrorReportsLineAndColumn) {
  const std::string path = WriteTemp("bad_syntax.json",
                                     "{\n"
                                     "  \"name\": \"x\",\n"
                                     "  \"num_workers\": \n"
                                     "}\n");
  auto spec = LoadJobSpec(path);
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(spec.status().message(), path + ":4:1: expected a value, got '}'");
}

TEST(LoadJobSpecTest, JsonTrailingCommaIsRejectedWithPosition) {
  const std::string path = WriteTemp("trailing.json", "{\"name\": \"x\",}");
  auto spec = LoadJobSpec(path);
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(spec.status().message(),
            path + ":1:14: expected a quoted field name, got '}'");
}

TEST(LoadJobSpecTest, JsonUnknownFieldIsLocatedAtItsKey) {
  const std::string path = WriteTemp("unknown.json",
                                     "{\n"
                                     "  \"ps_load_test\": {\n"
                                     "    \"dimm\": 4\n"
                                     "  }\n"
                                     "}\n");
  auto spec = LoadJobSpec(path);
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(spec.status().message()),
              StartsWith(path + ":3:5: "));
  EXPECT_THAT(spec.status().message(), HasSubstr("dimm"));
}

TEST(LoadJobSpecTest, JsonBadValueIsLocatedByFieldPath) {
  // "dim" appears twice; the error is about the nested one.
  const std::string path = WriteTemp("bad_value.json",
                                     "{\"name\": \"dim\",\n"
                                     " \"psLoadTest\": {\"dim\": -1}}\n");
  auto spec = LoadJobSpec(path);
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(spec.status().message()),
              StartsWith(path + ":2:17: "));
  EXPECT_THAT(spec.status().message(), HasSubstr("-1"));
}

TEST(LoadJobSpecTest, JsonTopLevelMustBeAnObject) {
  const std::string path = WriteTemp("array.json", "  [1, 2]");
  auto spec = LoadJobSpec(path);
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(spec.status().message()),
              StartsWith(path + ":1:3: expected a JSON object"));
}

TEST(LoadJobSpecTest, JsonGarbageAfterObjectIsRejected) {
  const std::string path = WriteTemp("garbage.json", "{}\n}");
  auto spec = LoadJobSpec(path);
  EXPECT_EQ(spec.status().message(),
            path + ":2:1: unexpected '}' after the end of the JSON object");
}

TEST(ParseJobSpecTest, JsonStringErrorsArePositioned) {
  auto spec = ParseJobSpec("{\"name\": \"a\\qb\"}", SpecFormat::kJson, "s");
  EXPECT_EQ(spec.status().message(), "s:1:13: invalid escape \\'q'");
  spec = ParseJobSpec("{\"name\": \"abc", SpecFormat::kJson, "s");
  EXPECT_EQ(spec.status().message(), "s:1:14: unterminated string");
  spec = ParseJobSpec("{\"n\": 01}", SpecFormat::kJson, "s");
  EXPECT_EQ(spec.status().message(), "s:1:8: expected ',' or '}', got '1'");
}

TEST(ParseJobSpecTest, DeepNestingIsRejectedNotRecursedForever) {
  const std::string deep = "{\"a\":" + std::string(10000, '[');
  auto spec = ParseJobSpec(deep, SpecFormat::kJson, "deep.json");
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(spec.status().message(), HasSubstr("nesting deeper than"));
}

TEST(ParseJobSpecTest, SpecWithoutJobIsRejectedInBothFormats) {
  auto text = ParseJobSpec("name: \"x\"", SpecFormat::kText, "a.textproto");
  EXPECT_EQ(text.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(text.status().message(), HasSubstr("a.textproto: the spec sets "
                                                 "no job"));
  auto json = ParseJobSpec("{}", SpecFormat::kJson, "a.json");
  EXPECT_EQ(json.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ParseJobSpecTest, TextAcceptsCommentsAndDefaults) {
  auto spec = ParseJobSpec("# comment\nps_load_test {}\n", SpecFormat::kText,
                           "c.textproto");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->num_workers(), 0u);  // the coordinator applies defaults
}

}  // namespace
}  // namespace ctl
}  // namespace strata
