#include "server/security/policy.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace strata {
namespace security {
namespace {

using C = MethodPolicy::Callers;
constexpr Role kAdmin = Role::kAdmin;
constexpr Role kOperator = Role::kOperator;
constexpr Role kReader = Role::kReader;
constexpr Role kCoordinator = Role::kCoordinator;
constexpr Role kShard = Role::kShard;
constexpr Role kWorker = Role::kWorker;

std::vector<MethodPolicy> BuildTable() {
  const std::vector<Role> humans_read = {kAdmin, kOperator, kReader};
  return {
      // Jobs: operators submit and cancel (their own: the coordinator
      // checks the owner), everyone human reads.
      {"/strata.JobService/SubmitJob", C::kRoles, {kAdmin, kOperator}},
      {"/strata.JobService/GetJob", C::kRoles, humans_read},
      {"/strata.JobService/ListJobs", C::kRoles, humans_read},
      {"/strata.JobService/CancelJob", C::kRoles, {kAdmin, kOperator}},
      {"/strata.JobService/WatchJob", C::kRoles, humans_read},
      // Cluster administration: the coordinator picks the checkpoint id.
      {"/strata.ClusterAdminService/Checkpoint", C::kRoles, {kAdmin}},
      // Nodes: only daemons register, and only as themselves (checked by
      // the coordinator against the identity).
      {"/strata.NodeService/RegisterNode", C::kRoles, {kShard, kWorker}},
      {"/strata.NodeService/Heartbeat", C::kRoles, {kShard, kWorker}},
      {"/strata.NodeService/GetCluster", C::kAuthenticated, {}},
      {"/strata.NodeService/WatchTasks", C::kRoles, {kWorker}},
      {"/strata.NodeService/ReportTask", C::kRoles, {kWorker}},
      // The data plane: workers' tasks.
      {"/strata.EmbeddingService/Pull", C::kRoles, {kWorker}},
      {"/strata.EmbeddingService/Push", C::kRoles, {kWorker}},
      // Cluster-wide compressed tables (docs/saec.md): before pull/push.
      {"/strata.EmbeddingService/Resolve", C::kRoles, {kWorker}},
      {"/strata.DenseService/Pull", C::kRoles, {kWorker}},
      {"/strata.DenseService/Push", C::kRoles, {kWorker}},
      // Shard administration. Tasks create their tables, CTR_TRAIN writes
      // its final checkpoint and CTR_EVAL loads one; the coordinator drops
      // ended jobs' tensors, resets BSP steps and takes periodic
      // checkpoints.
      {"/strata.AdminService/CreateTable", C::kRoles, {kAdmin, kWorker}},
      // Workers drop only job-scoped tensors (FC snapshots; the shard
      // checks the name).
      {"/strata.AdminService/DropTable",
       C::kRoles,
       {kAdmin, kCoordinator, kWorker}},
      {"/strata.AdminService/ListTables",
       C::kRoles,
       {kAdmin, kOperator, kReader, kCoordinator, kWorker}},
      {"/strata.AdminService/Checkpoint",
       C::kRoles,
       {kAdmin, kCoordinator, kWorker}},
      {"/strata.AdminService/Load", C::kRoles, {kAdmin, kWorker}},
      {"/strata.AdminService/ResetDenseSteps",
       C::kRoles,
       {kAdmin, kCoordinator}},
      // A consistent checkpoint pauses every shard's pushes first.
      {"/strata.AdminService/PausePushes", C::kRoles, {kAdmin, kCoordinator}},
      {"/strata.CompressionService/Compress", C::kRoles, {kAdmin}},
      {"/strata.CompressionService/GetStats", C::kRoles, humans_read},
      // The first step of a cluster-wide compress (stratactl).
      {"/strata.CompressionService/SampleHead", C::kRoles, {kAdmin}},
      // Stanza: conv workers to FC nodes, FC nodes to each other (the FC
      // node also checks the job's secret).
      {"/strata.StanzaFc/Train", C::kRoles, {kWorker}},
      {"/strata.StanzaFc/AverageFc", C::kRoles, {kWorker}},
      // Health for everyone (load balancers, probes); reflection only to
      // authenticated callers.
      {"/grpc.health.v1.Health/Check", C::kAnyone, {}},
      {"/grpc.health.v1.Health/Watch", C::kAnyone, {}},
      {"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
       C::kAuthenticated,
       {}},
  };
}

}  // namespace

const std::vector<MethodPolicy>& PolicyTable() {
  static const auto* table = new std::vector<MethodPolicy>(BuildTable());
  return *table;
}

const MethodPolicy* FindPolicy(absl::string_view method) {
  for (const MethodPolicy& p : PolicyTable()) {
    if (p.method == method) return &p;
  }
  return nullptr;
}

bool Allowed(absl::string_view method, Role role) {
  const MethodPolicy* p = FindPolicy(method);
  if (p == nullptr) return false;
  if (p->callers != C::kRoles) return true;
  for (Role r : p->roles) {
    if (r == role) return true;
  }
  return false;
}

std::string PolicyMarkdown() {
  std::string out = "| RPC |";
  std::string rule = "| --- |";
  for (Role r : AllRoles()) {
    absl::StrAppend(&out, " ", RoleName(r), " |");
    absl::StrAppend(&rule, " :-: |");
  }
  absl::StrAppend(&out, "\n", rule, "\n");
  for (const MethodPolicy& p : PolicyTable()) {
    absl::StrAppend(&out, "| `", p.method, "`");
    if (p.callers == C::kAnyone) absl::StrAppend(&out, " (anyone)");
    if (p.callers == C::kAuthenticated) {
      absl::StrAppend(&out, " (any certificate)");
    }
    absl::StrAppend(&out, " |");
    for (Role r : AllRoles()) {
      absl::StrAppend(&out, Allowed(p.method, r) ? " yes |" : " |");
    }
    absl::StrAppend(&out, "\n");
  }
  return out;
}

}  // namespace security
}  // namespace strata
