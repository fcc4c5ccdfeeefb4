// Test helpers of the coordinator package: fresh state directories, opening
// a state store as a restarted coordinator does, and the secrets of the
// nodes a test registers.
#ifndef STRATA_SERVER_COORDINATOR_TESTING_STATE_TESTING_H_
#define STRATA_SERVER_COORDINATOR_TESTING_STATE_TESTING_H_

#include <map>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/coordinator/node_registry.h"
#include "server/coordinator/state_store.h"

namespace strata {
namespace testing {

// An empty directory for the running test: TEST_TMPDIR/<group>/<test name>
// (whatever an earlier run left there is removed).
std::string FreshTestDir(absl::string_view group);

// Opens the store at `dir` and loads it into `state`; null (and a test
// failure) on an error.
std::unique_ptr<StateStore> OpenStore(const std::string& dir,
                                      CoordinatorState* state);

// The secrets of the nodes a test registered, by node id. Not thread-safe.
class NodeSecrets {
 public:
  // The id of a registration, remembering its secret; "" (and a test
  // failure) on an error.
  std::string Track(const absl::StatusOr<NodeCredentials>& registered);
  // A heartbeat of `node_id` with its secret.
  absl::Status Beat(NodeRegistry& registry, const std::string& node_id);

 private:
  std::map<std::string, std::string> secrets_;
};

}  // namespace testing
}  // namespace strata

#endif  // STRATA_SERVER_COORDINATOR_TESTING_STATE_TESTING_H_
