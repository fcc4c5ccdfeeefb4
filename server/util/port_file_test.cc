#include "server/util/port_file.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "gtest/gtest.h"

namespace strata {
namespace {

std::string Tmp() {
  const char* d = std::getenv("TEST_TMPDIR");
  return d ? d : "/tmp";
}

TEST(PortFileTest, WritesTheAddressAndALineEnd) {
  const std::string path = Tmp() + "/addr";
  ASSERT_TRUE(WritePortFile(path, "127.0.0.1:4242").ok());
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_EQ(ss.str(), "127.0.0.1:4242\n");
  ASSERT_TRUE(WritePortFile(path, "127.0.0.1:1").ok());  // replaces
  std::ifstream again(path);
  std::string line;
  std::getline(again, line);
  EXPECT_EQ(line, "127.0.0.1:1");
}

TEST(PortFileTest, MissingDirectoryIsUnavailableNamingThePath) {
  absl::Status s = WritePortFile(Tmp() + "/no/such/dir/addr", "x:1");
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(s.message().find("no/such/dir"), absl::string_view::npos);
}

}  // namespace
}  // namespace strata
