#include "worker/data_roots.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "google/protobuf/descriptor.h"
#include "gtest/gtest.h"

namespace strata {
namespace {

// A fresh directory with data/ (holding train.tsv), outside/ (holding
// secret.tsv) and symlinks in data/ to outside/ and to data/train.tsv.
class DataRootsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "/data_roots_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    char* real = realpath(tmpl.c_str(), nullptr);
    dir_ = real;
    free(real);
    data_ = dir_ + "/data";
    outside_ = dir_ + "/outside";
    ASSERT_EQ(mkdir(data_.c_str(), 0755), 0);
    ASSERT_EQ(mkdir(outside_.c_str(), 0755), 0);
    std::ofstream(data_ + "/train.tsv") << "1\t2\n";
    std::ofstream(outside_ + "/secret.tsv") << "0\t0\n";
    ASSERT_EQ(symlink(outside_.c_str(), (data_ + "/escape").c_str()), 0);
    ASSERT_EQ(
        symlink((data_ + "/train.tsv").c_str(), (data_ + "/alias.tsv").c_str()),
        0);
    absl::StatusOr<DataRoots> roots = DataRoots::Create({data_});
    ASSERT_TRUE(roots.ok()) << roots.status();
    roots_ = *roots;
  }

  absl::Status Denied(const std::string& path) {
    return absl::PermissionDeniedError(absl::StrCat(
        "f: path ", path, " is outside this worker's --data_root"));
  }

  static std::string Basename(const std::string& path) {
    return path.substr(path.rfind('/') + 1);
  }

  std::string dir_, data_, outside_;
  DataRoots roots_;
};

TEST_F(DataRootsTest, APathInsideARootResolvesToItself) {
  absl::StatusOr<std::string> p = roots_.Resolve("f", data_ + "/train.tsv");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(*p, data_ + "/train.tsv");
  EXPECT_EQ(*roots_.Resolve("f", data_ + "/./x/../train.tsv"),
            data_ + "/train.tsv");
  EXPECT_EQ(*roots_.Resolve("f", data_), data_) << "the root itself";
}

TEST_F(DataRootsTest, ASymlinkInsideIsResolvedToWhatItNames) {
  EXPECT_EQ(*roots_.Resolve("f", data_ + "/alias.tsv"), data_ + "/train.tsv");
}

TEST_F(DataRootsTest, AMissingFileInsideIsAllowedToFailLater) {
  absl::StatusOr<std::string> p = roots_.Resolve("f", data_ + "/new/x.tsv");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(*p, data_ + "/new/x.tsv");
}

TEST_F(DataRootsTest, APathOutsideEveryRootIsPermissionDenied) {
  EXPECT_EQ(roots_.Resolve("f", "/etc/passwd").status(), Denied("/etc/passwd"));
  EXPECT_EQ(roots_.Resolve("f", outside_ + "/secret.tsv").status(),
            Denied(outside_ + "/secret.tsv"));
  EXPECT_EQ(roots_.Resolve("f", data_ + "-other/x").status(),
            Denied(data_ + "-other/x"))
      << "a sibling sharing the root's name as a prefix";
}

TEST_F(DataRootsTest, DotDotLeavingTheRootIsPermissionDenied) {
  const std::string up = data_ + "/../outside/secret.tsv";
  EXPECT_EQ(roots_.Resolve("f", up).status(), Denied(up));
  const std::string through_missing = data_ + "/nope/../../outside/secret.tsv";
  EXPECT_EQ(roots_.Resolve("f", through_missing).status(),
            Denied(through_missing));
}

TEST_F(DataRootsTest, APathWanderingOutsideAndBackIsPermissionDenied) {
  const std::string back = data_ + "/../outside/../data/train.tsv";
  EXPECT_EQ(roots_.Resolve("f", back).status(), Denied(back));
  // Outside, what exists cannot change the answer: a symlink and a missing
  // name, each followed by the same walk back, are refused alike.
  ASSERT_EQ(mkdir((outside_ + "/a").c_str(), 0755), 0);
  ASSERT_EQ(mkdir((outside_ + "/a/b").c_str(), 0755), 0);
  ASSERT_EQ(symlink((outside_ + "/a/b").c_str(), (outside_ + "/deep").c_str()),
            0);
  const std::string via_link = outside_ + "/deep/../../data/train.tsv";
  const std::string via_missing = outside_ + "/nope/../../data/train.tsv";
  EXPECT_EQ(roots_.Resolve("f", via_link).status(), Denied(via_link));
  EXPECT_EQ(roots_.Resolve("f", via_missing).status(), Denied(via_missing));
  // Directories above a root are on the way to it.
  const std::string above = dir_ + "/../" + Basename(dir_) + "/data/train.tsv";
  EXPECT_EQ(*roots_.Resolve("f", above), data_ + "/train.tsv");
}

TEST_F(DataRootsTest, ASymlinkLeadingOutIsPermissionDenied) {
  const std::string p = data_ + "/escape/secret.tsv";
  EXPECT_EQ(roots_.Resolve("f", p).status(), Denied(p));
  const std::string missing = data_ + "/escape/missing.tsv";
  EXPECT_EQ(roots_.Resolve("f", missing).status(), Denied(missing));
}

TEST_F(DataRootsTest, ADanglingSymlinkIsPermissionDenied) {
  ASSERT_EQ(
      symlink((outside_ + "/not-yet").c_str(), (data_ + "/dangling").c_str()),
      0);
  const std::string p = data_ + "/dangling";
  EXPECT_EQ(roots_.Resolve("f", p).status(), Denied(p));
}

TEST_F(DataRootsTest, AMissingFileOutsideLooksExactlyLikeAnExistingOne) {
  const absl::Status existing =
      roots_.Resolve("f", outside_ + "/secret.tsv").status();
  const absl::Status missing =
      roots_.Resolve("f", outside_ + "/secret.tsv2").status();
  EXPECT_EQ(existing.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(missing.code(), existing.code());
  EXPECT_EQ(absl::StrReplaceAll(std::string(missing.message()),
                                {{"secret.tsv2", "secret.tsv"}}),
            existing.message());
}

TEST_F(DataRootsTest, ARelativePathIsPermissionDenied) {
  EXPECT_EQ(roots_.Resolve("f", "train.tsv").status(), Denied("train.tsv"));
  EXPECT_EQ(roots_.Resolve("f", "").status(), Denied(""));
}

TEST_F(DataRootsTest, AnyOfSeveralRootsWill) {
  absl::StatusOr<DataRoots> two = DataRoots::Create({data_, outside_});
  ASSERT_TRUE(two.ok()) << two.status();
  EXPECT_TRUE(two->Resolve("f", outside_ + "/secret.tsv").ok());
  EXPECT_TRUE(two->Resolve("f", data_ + "/train.tsv").ok());
  EXPECT_EQ(two->Resolve("f", "/etc/passwd").status(), Denied("/etc/passwd"));
}

TEST_F(DataRootsTest, WithoutRootsEveryPathIsFailedPrecondition) {
  const DataRoots none;
  const absl::Status s = none.Resolve("f", data_ + "/train.tsv").status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(s.message(), "--data_root")) << s;
}

TEST_F(DataRootsTest, RootsAreResolvedAndMustBeExistingAbsoluteDirectories) {
  absl::StatusOr<DataRoots> via_link = DataRoots::Create({data_ + "/escape/"});
  ASSERT_TRUE(via_link.ok()) << via_link.status();
  EXPECT_EQ(via_link->roots(), std::vector<std::string>{outside_});
  EXPECT_EQ(DataRoots::Create({dir_ + "/none"}).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(DataRoots::Create({"data"}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DataRoots::Create({""}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DataRoots::Create({data_ + "/train.tsv"}).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(DataRootsTest, ConfineJobInputsRewritesEveryPathToTheResolvedOne) {
  JobSpec spec;
  spec.mutable_ctr_train()->set_data_path(data_ + "/alias.tsv");
  spec.mutable_ctr_train()->set_eval_path(data_ + "/./train.tsv");
  ASSERT_TRUE(ConfineJobInputs(roots_, &spec).ok());
  EXPECT_EQ(spec.ctr_train().data_path(), data_ + "/train.tsv");
  EXPECT_EQ(spec.ctr_train().eval_path(), data_ + "/train.tsv");
}

TEST_F(DataRootsTest, ConfineJobInputsLeavesSpecsWithoutFilesAlone) {
  const DataRoots none;
  JobSpec spec;
  spec.mutable_ctr_train()->mutable_generator()->set_rows(10);
  const JobSpec before = spec;
  EXPECT_TRUE(ConfineJobInputs(none, &spec).ok());
  spec.mutable_cnn_train()->set_model("lenet5");
  EXPECT_TRUE(ConfineJobInputs(none, &spec).ok());
  EXPECT_FALSE(spec.cnn_train().has_data()) << "no data message made up";
  spec.mutable_ps_load_test()->set_table("t");
  EXPECT_TRUE(ConfineJobInputs(none, &spec).ok());
}

// Sets, by reflection, every string field named *_path or *_dir of
// `message` and the messages under it (a part of `spec`) to `value`, one at
// a time, and calls `check` with the spec and the field's dotted name below
// JobSpec. Catches a path field added to proto/job.proto but not confined.
void ForEachPathField(
    JobSpec* spec, google::protobuf::Message* message,
    const std::string& prefix, const std::string& value,
    const std::function<void(const JobSpec&, const std::string&)>& check) {
  using google::protobuf::FieldDescriptor;
  const google::protobuf::Descriptor* d = message->GetDescriptor();
  const google::protobuf::Reflection* r = message->GetReflection();
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    const std::string name = prefix + f->name();
    if (f->is_repeated()) continue;
    if (f->type() == FieldDescriptor::TYPE_MESSAGE) {
      // Selects a oneof member: the previous one is done with.
      ForEachPathField(spec, r->MutableMessage(message, f), name + ".", value,
                       check);
      continue;
    }
    if (f->type() != FieldDescriptor::TYPE_STRING) continue;
    if (!absl::EndsWith(f->name(), "_path") &&
        !absl::EndsWith(f->name(), "_dir")) {
      continue;
    }
    const std::string old = r->GetString(*message, f);
    r->SetString(message, f, value);
    check(*spec, name);
    r->SetString(message, f, old);
  }
}

TEST_F(DataRootsTest, EveryPathFieldOfAJobSpecIsConfined) {
  std::vector<std::string> seen;
  JobSpec spec;
  ForEachPathField(&spec, &spec, "", "/etc/passwd",
                   [&](const JobSpec& s, const std::string& name) {
                     JobSpec copy = s;
                     const absl::Status st = ConfineJobInputs(roots_, &copy);
                     EXPECT_EQ(st, absl::PermissionDeniedError(absl::StrCat(
                                       name,
                                       ": path /etc/passwd is outside "
                                       "this worker's --data_root")))
                         << name;
                     seen.push_back(name);
                   });
  EXPECT_EQ(seen, (std::vector<std::string>{
                      "ctr_train.data_path", "ctr_train.eval_path",
                      "ctr_eval.data_path", "cnn_train.data.mnist_dir",
                      "cnn_train.data.cifar10_dir"}));
}

}  // namespace
}  // namespace strata
