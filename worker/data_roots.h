// Where a worker may read a job's input files (issue 13, docs/security.md
// "Data paths"): only under the directories its operator named with
// --data_root. A path a job spec names is checked here before any task of
// the job opens a file; a path outside every root is refused with one
// message whether or not the file exists, so a job cannot probe the
// worker's file system.
#ifndef STRATA_WORKER_DATA_ROOTS_H_
#define STRATA_WORKER_DATA_ROOTS_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "proto/job.pb.h"

namespace strata {

// The roots a worker reads job inputs under, each a canonical absolute
// directory (symlinks resolved once, at Create). A default-constructed
// DataRoots has no root and refuses every path (secure by default). A value
// type, immutable after Create: thread-safe.
class DataRoots {
 public:
  DataRoots() = default;

  // Resolves each root with realpath(3). INVALID_ARGUMENT for an empty or
  // relative root, NOT_FOUND for one that does not exist,
  // FAILED_PRECONDITION for one that is not a directory: a start-up error.
  static absl::StatusOr<DataRoots> Create(
      const std::vector<std::string>& roots);

  const std::vector<std::string>& roots() const { return roots_; }

  // The path to open for `path` (a spec's field `what`, named in errors):
  // `path` with `.`, `..` and every symlink of its existing part resolved,
  // when that lies under a root and every step of the walk to it stays
  // under a root or in a directory above one (so `..` cannot wander out
  // and back). A missing file under a root is fine (the
  // task then fails NOT_FOUND as without roots). FAILED_PRECONDITION
  // naming --data_root when there is no root; PERMISSION_DENIED "WHAT: path
  // P is outside this worker's --data_root" for a relative path or one that
  // leaves every root, the same whether or not the file exists.
  absl::StatusOr<std::string> Resolve(absl::string_view what,
                                      absl::string_view path) const;

 private:
  explicit DataRoots(std::vector<std::string> roots)
      : roots_(std::move(roots)) {}
  // `canonical` is a root or below one.
  bool Contains(const std::string& canonical) const;
  // `canonical` is a root, below one, or a directory above one.
  bool OnTheWay(const std::string& canonical) const;

  std::vector<std::string> roots_;
};

// Checks every file path `spec` names (ctr_train.data_path and .eval_path,
// ctr_eval.data_path, cnn_train.data.mnist_dir; an empty one names none)
// with `roots.Resolve` and replaces it with the path to open, so the task
// opens what was checked. The first refusal is returned; `spec` is then
// partly rewritten.
absl::Status ConfineJobInputs(const DataRoots& roots, JobSpec* spec);

}  // namespace strata

#endif  // STRATA_WORKER_DATA_ROOTS_H_
