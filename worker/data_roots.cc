#include "worker/data_roots.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <functional>
#include <optional>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "proto/base/status_macros.h"

namespace strata {
namespace {

// realpath(3) of `path`; nullopt when it fails.
std::optional<std::string> RealPath(const std::string& path) {
  char* resolved = realpath(path.c_str(), nullptr);
  if (resolved == nullptr) return std::nullopt;
  std::string out(resolved);
  free(resolved);
  return out;
}

std::string Join(const std::string& dir, absl::string_view name) {
  return dir == "/" ? absl::StrCat("/", name) : absl::StrCat(dir, "/", name);
}

std::string Parent(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == 0 || slash == std::string::npos ? "/" : path.substr(0, slash);
}

// The absolute `path` with `.` and `..` folded and the symlinks of its
// existing part resolved; the components from the first missing one on are
// taken as written (a `..` among them folds back into the existing part,
// which is resolved again from there). nullopt as soon as the walk reaches
// a place `allowed` refuses, before looking further (so what exists past
// that place cannot change the answer), or at an existing entry that cannot
// be resolved (a dangling symlink or a loop: where it points is unknown).
std::optional<std::string> Canonical(
    absl::string_view path,
    const std::function<bool(const std::string&)>& allowed) {
  std::string current = "/";
  int missing = 0;  // trailing components of `current` that do not exist
  for (absl::string_view name : absl::StrSplit(path, '/', absl::SkipEmpty())) {
    if (name == ".") continue;
    if (name == "..") {
      current = Parent(current);
      if (missing > 0) --missing;
    } else {
      const std::string next = Join(current, name);
      struct stat st;
      if (missing > 0 || lstat(next.c_str(), &st) != 0) {
        current = next;  // missing, or not searchable: opening it fails later
        ++missing;
      } else {
        std::optional<std::string> resolved = RealPath(next);
        if (!resolved) return std::nullopt;
        current = std::move(*resolved);
      }
    }
    if (!allowed(current)) return std::nullopt;
  }
  return current;
}

}  // namespace

absl::StatusOr<DataRoots> DataRoots::Create(
    const std::vector<std::string>& roots) {
  std::vector<std::string> resolved;
  for (const std::string& root : roots) {
    if (root.empty() || root[0] != '/') {
      return absl::InvalidArgumentError(absl::StrCat(
          "--data_root '", root, "' is not an absolute directory"));
    }
    std::optional<std::string> real = RealPath(root);
    if (!real) {
      const int err = errno;
      const std::string message =
          absl::StrCat("--data_root ", root, ": ", strerror(err));
      return err == ENOENT ? absl::NotFoundError(message)
                           : absl::FailedPreconditionError(message);
    }
    struct stat st;
    if (stat(real->c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      return absl::FailedPreconditionError(
          absl::StrCat("--data_root ", root, " is not a directory"));
    }
    resolved.push_back(std::move(*real));
  }
  return DataRoots(std::move(resolved));
}

bool DataRoots::Contains(const std::string& canonical) const {
  for (const std::string& root : roots_) {
    if (root == "/" || canonical == root ||
        absl::StartsWith(canonical, absl::StrCat(root, "/"))) {
      return true;
    }
  }
  return false;
}

bool DataRoots::OnTheWay(const std::string& canonical) const {
  if (Contains(canonical)) return true;
  const std::string dir = canonical == "/" ? "/" : absl::StrCat(canonical, "/");
  for (const std::string& root : roots_) {
    if (absl::StartsWith(root, dir)) return true;
  }
  return false;
}

absl::StatusOr<std::string> DataRoots::Resolve(absl::string_view what,
                                               absl::string_view path) const {
  if (roots_.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        what,
        ": this worker reads no files (start it with --data_root=DIR "
        "to let jobs read under DIR)"));
  }
  const absl::Status outside = absl::PermissionDeniedError(absl::StrCat(
      what, ": path ", path, " is outside this worker's --data_root"));
  if (!absl::StartsWith(path, "/") ||
      path.find('\0') != absl::string_view::npos) {
    return outside;
  }
  // Every step stays under a root or on the way to one: a path that
  // wanders outside and back is refused wherever it wanders.
  std::optional<std::string> canonical =
      Canonical(path, [this](const std::string& p) { return OnTheWay(p); });
  if (!canonical || !Contains(*canonical)) return outside;
  return *std::move(canonical);
}

namespace {

// A file path field of a job spec: its name in errors and the field.
struct Input {
  absl::string_view what;
  std::string* path;
};

// Every file path a job spec can name, by job type. Adding a path field to
// proto/job.proto means adding it here (data_roots_test finds the fields
// named *_path and *_dir and checks that each is confined).
std::vector<Input> Inputs(JobSpec* spec) {
  switch (spec->job_case()) {
    case JobSpec::kCtrTrain: {
      CtrTrainSpec* t = spec->mutable_ctr_train();
      return {{"ctr_train.data_path", t->mutable_data_path()},
              {"ctr_train.eval_path", t->mutable_eval_path()}};
    }
    case JobSpec::kCtrEval:
      return {{"ctr_eval.data_path",
               spec->mutable_ctr_eval()->mutable_data_path()}};
    case JobSpec::kCnnTrain:
      if (!spec->cnn_train().has_data()) return {};
      return {{"cnn_train.data.mnist_dir",
               spec->mutable_cnn_train()->mutable_data()->mutable_mnist_dir()},
              {"cnn_train.data.cifar10_dir",
               spec->mutable_cnn_train()->mutable_data()->mutable_cifar10_dir()}};
    default:
      return {};
  }
}

}  // namespace

absl::Status ConfineJobInputs(const DataRoots& roots, JobSpec* spec) {
  for (const Input& input : Inputs(spec)) {
    if (input.path->empty()) continue;
    STRATA_ASSIGN_OR_RETURN(*input.path,
                            roots.Resolve(input.what, *input.path));
  }
  return absl::OkStatus();
}

}  // namespace strata
