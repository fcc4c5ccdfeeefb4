#include "server/security/policy.h"

#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/descriptor.h"
#include "gtest/gtest.h"
#include "proto/coordinator.grpc.pb.h"
#include "proto/ps.grpc.pb.h"
#include "proto/stanza.grpc.pb.h"

namespace strata {
namespace security {
namespace {

// Every RPC of every Strata service, from the generated descriptors.
std::set<std::string> StrataMethods() {
  std::set<std::string> out;
  for (const google::protobuf::FileDescriptor* file :
       {DropTableRequest::descriptor()->file(),
        SubmitJobRequest::descriptor()->file(),
        AverageFcRequest::descriptor()->file()}) {
    for (int s = 0; s < file->service_count(); ++s) {
      const google::protobuf::ServiceDescriptor* service = file->service(s);
      for (int m = 0; m < service->method_count(); ++m) {
        out.insert(absl::StrCat("/", service->full_name(), "/",
                                service->method(m)->name()));
      }
    }
  }
  return out;
}

TEST(PolicyTest, EveryRpcOfEveryStrataServiceHasARule) {
  std::set<std::string> listed;
  for (const MethodPolicy& p : PolicyTable()) {
    EXPECT_TRUE(listed.insert(std::string(p.method)).second)
        << p.method << " is listed twice";
  }
  for (const std::string& method : StrataMethods()) {
    EXPECT_TRUE(listed.count(method)) << method << " has no rule";
  }
  // And no rule names a Strata RPC that does not exist.
  for (const std::string& method : listed) {
    if (method.rfind("/strata.", 0) == 0) {
      EXPECT_TRUE(StrataMethods().count(method)) << method;
    }
  }
}

TEST(PolicyTest, RolesGetWhatTheirWorkNeedsAndNoMore) {
  EXPECT_TRUE(Allowed("/strata.AdminService/DropTable", Role::kAdmin));
  EXPECT_TRUE(Allowed("/strata.AdminService/DropTable", Role::kCoordinator));
  // FC nodes replace their snapshots; the shard checks the name.
  EXPECT_TRUE(Allowed("/strata.AdminService/DropTable", Role::kWorker));
  EXPECT_FALSE(Allowed("/strata.AdminService/DropTable", Role::kOperator));
  EXPECT_FALSE(Allowed("/strata.AdminService/DropTable", Role::kReader));
  EXPECT_TRUE(Allowed("/strata.JobService/SubmitJob", Role::kOperator));
  EXPECT_FALSE(Allowed("/strata.JobService/SubmitJob", Role::kReader));
  EXPECT_FALSE(Allowed("/strata.JobService/SubmitJob", Role::kWorker));
  EXPECT_TRUE(Allowed("/strata.JobService/ListJobs", Role::kReader));
  EXPECT_FALSE(Allowed("/strata.NodeService/RegisterNode", Role::kAdmin));
  EXPECT_TRUE(Allowed("/strata.NodeService/RegisterNode", Role::kShard));
  EXPECT_FALSE(Allowed("/strata.NodeService/WatchTasks", Role::kShard));
  EXPECT_TRUE(Allowed("/strata.DenseService/Push", Role::kWorker));
  EXPECT_FALSE(Allowed("/strata.DenseService/Push", Role::kAdmin));
  EXPECT_FALSE(Allowed("/strata.StanzaFc/Train", Role::kOperator));
  EXPECT_TRUE(Allowed("/grpc.health.v1.Health/Check", Role::kReader));
  EXPECT_FALSE(Allowed("/strata.Unknown/Method", Role::kAdmin));
}

TEST(PolicyTest, MarkdownHasARowPerRpcAndAColumnPerRole) {
  const std::string md = PolicyMarkdown();
  const std::vector<std::string> lines =
      absl::StrSplit(md, '\n', absl::SkipEmpty());
  EXPECT_EQ(lines.size(), PolicyTable().size() + 2);
  EXPECT_NE(lines[0].find("| admin |"), std::string::npos);
  EXPECT_NE(md.find("| `/strata.AdminService/DropTable` | yes | | | yes | | yes |"),
            std::string::npos)
      << md;
}

}  // namespace
}  // namespace security
}  // namespace strata
