#include "server/coordinator/testing/state_testing.h"

#include <filesystem>
#include <utility>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace strata {
namespace testing {

std::string FreshTestDir(absl::string_view group) {
  const std::string dir = absl::StrCat(
      ::testing::TempDir(), "/", group, "/",
      ::testing::UnitTest::GetInstance()->current_test_info()->name());
  std::filesystem::remove_all(dir);
  return dir;
}

std::unique_ptr<StateStore> OpenStore(const std::string& dir,
                                      CoordinatorState* state) {
  absl::StatusOr<std::unique_ptr<StateStore>> store = StateStore::Open({dir});
  EXPECT_TRUE(store.ok()) << store.status();
  if (!store.ok()) return nullptr;
  absl::StatusOr<CoordinatorState> loaded = (*store)->Load();
  EXPECT_TRUE(loaded.ok()) << loaded.status();
  if (!loaded.ok()) return nullptr;
  *state = *std::move(loaded);
  return *std::move(store);
}

std::string NodeSecrets::Track(
    const absl::StatusOr<NodeCredentials>& registered) {
  EXPECT_TRUE(registered.ok()) << registered.status();
  if (!registered.ok()) return "";
  secrets_[registered->node_id] = registered->secret;
  return registered->node_id;
}

absl::Status NodeSecrets::Beat(NodeRegistry& registry,
                               const std::string& node_id) {
  return registry.Heartbeat(node_id, secrets_[node_id]);
}

}  // namespace testing
}  // namespace strata
