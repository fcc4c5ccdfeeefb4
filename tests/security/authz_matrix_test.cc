// The proof of issue 13's authorization (docs/security.md, "Tests"): real
// TLS servers in this process (the coordinator, one parameter-server shard,
// a Stanza FC node), certificates made by tools/certs.sh, and every RPC of
// every service they serve called with grpc::GenericStub by every kind of
// caller: no client certificate, a cluster certificate without a Strata
// identity, a certificate of another CA, and one certificate per role.
//
// Expected, from the policy table (server/security/policy.h): a role the
// row lists, or anyone for a health check, passes the policy (the call
// reaches the service, which may still refuse the empty request: any status
// except UNAUTHENTICATED and the enforcer's PERMISSION_DENIED); a caller
// without an identity gets UNAUTHENTICATED; a role the row does not list
// gets PERMISSION_DENIED with the enforcer's message; another CA's
// certificate fails the TLS handshake (UNAVAILABLE at the client).
//
// The served methods come from the servers themselves (server reflection's
// list of services, the services' descriptors), so an RPC added to a server
// is called here without a change to this file, and the test fails when a
// served RPC has no row in the table or a row names no served RPC.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>

#include <cstdlib>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/unknown_field_set.h"
#include "gtest/gtest.h"
#include "proto/grpc/health/v1/health.grpc.pb.h"
#include "server/coordinator/coordinator_server.h"
#include "server/ps/ps_server.h"
#include "server/security/credentials.h"
#include "server/security/identity.h"
#include "server/security/policy.h"
#include "tests/security/test_certs.h"
#include "worker/cnn/fc_service.h"

namespace strata {
namespace {

using security::MethodPolicy;
using security::Role;

// Generous for one call on loopback; calls that wait (a watch, a stream)
// are answered or end before it in practice.
constexpr absl::Duration kCallDeadline = absl::Seconds(5);
constexpr char kReflection[] =
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo";

// Who calls. A plain value type.
struct Caller {
  enum class Kind { kAnonymous, kNoIdentity, kOtherCa, kRole };
  Kind kind = Kind::kRole;
  Role role = Role::kReader;  // kRole only
  std::string label;          // for messages
  std::shared_ptr<grpc::ChannelCredentials> creds;
};

// How one call ended.
struct CallResult {
  bool answered = false;  // the service sent a response message
  grpc::StatusCode code = grpc::StatusCode::OK;
  std::string message;
};

// Waits for the one outstanding operation on `cq`; its ok flag.
bool Next(grpc::CompletionQueue* cq) {
  void* tag = nullptr;
  bool ok = false;
  if (!cq->Next(&tag, &ok)) return false;
  return ok;
}

// One call of `method` with an empty request message, as a bidirectional
// stream (the same on the wire as a unary or server-streaming call): one
// empty message, half-close, one read. A read that returns a message means
// the call reached the service; the call is then cancelled (a watch would
// go on).
CallResult CallEmpty(const std::shared_ptr<grpc::Channel>& channel,
                     const std::string& method) {
  grpc::GenericStub stub(channel);
  grpc::CompletionQueue cq;
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + kCallDeadline));
  std::unique_ptr<grpc::GenericClientAsyncReaderWriter> call =
      stub.PrepareCall(&ctx, method, &cq);
  CallResult result;
  call->StartCall(nullptr);
  if (Next(&cq)) {
    const grpc::Slice empty{std::string()};
    grpc::ByteBuffer request(&empty, 1);
    call->Write(request, nullptr);
    if (Next(&cq)) {
      call->WritesDone(nullptr);
      Next(&cq);
      grpc::ByteBuffer response;
      call->Read(&response, nullptr);
      result.answered = Next(&cq);
      if (result.answered) ctx.TryCancel();
    }
  }
  grpc::Status status;
  call->Finish(&status, nullptr);
  Next(&cq);
  cq.Shutdown();
  void* tag = nullptr;
  bool ok = false;
  while (cq.Next(&tag, &ok)) {
  }
  result.code = status.error_code();
  result.message = status.error_message();
  return result;
}

// The names of the services `channel`'s server registered, from server
// reflection's list_services (decoded without the reflection protos, which
// Debian does not install: ServerReflectionRequest.list_services is field
// 7, ServerReflectionResponse.list_services_response field 6, its
// ServiceResponse list field 1 and a service's name field 1).
std::vector<std::string> ListServices(
    const std::shared_ptr<grpc::Channel>& channel) {
  grpc::GenericStub stub(channel);
  grpc::CompletionQueue cq;
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + kCallDeadline));
  auto call = stub.PrepareCall(&ctx, kReflection, &cq);
  call->StartCall(nullptr);
  EXPECT_TRUE(Next(&cq));
  const grpc::Slice list{std::string("\x3a\x01*", 3)};
  call->Write(grpc::ByteBuffer(&list, 1), nullptr);
  EXPECT_TRUE(Next(&cq));
  call->WritesDone(nullptr);
  Next(&cq);
  grpc::ByteBuffer response;
  call->Read(&response, nullptr);
  const bool read = Next(&cq);
  grpc::Status status;
  call->Finish(&status, nullptr);
  Next(&cq);
  EXPECT_TRUE(read && status.ok()) << status.error_message();
  std::vector<grpc::Slice> slices;
  std::string bytes;
  if (read && response.Dump(&slices).ok()) {
    for (const grpc::Slice& s : slices) {
      bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
    }
  }
  std::vector<std::string> names;
  google::protobuf::UnknownFieldSet outer;
  outer.ParseFromString(bytes);
  for (int i = 0; i < outer.field_count(); ++i) {
    if (outer.field(i).number() != 6) continue;
    google::protobuf::UnknownFieldSet listed;
    listed.ParseFromString(outer.field(i).length_delimited());
    for (int j = 0; j < listed.field_count(); ++j) {
      google::protobuf::UnknownFieldSet service;
      service.ParseFromString(listed.field(j).length_delimited());
      if (service.field_count() > 0) {
        names.push_back(service.field(0).length_delimited());
      }
    }
  }
  return names;
}

// The full method names of a service (from the descriptors linked into
// this process, which server reflection serves too); empty when unknown.
std::vector<std::string> MethodsOf(const std::string& service) {
  const google::protobuf::ServiceDescriptor* d =
      google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
          service);
  std::vector<std::string> out;
  for (int i = 0; d != nullptr && i < d->method_count(); ++i) {
    out.push_back(absl::StrCat("/", service, "/", d->method(i)->name()));
  }
  return out;
}

// The enforcer's denial of `method` to a role (server/security/
// authorizer.cc): a service's own PERMISSION_DENIED reads differently.
std::string EnforcerDenial(const Caller& caller, const std::string& name,
                           const std::string& method) {
  return absl::StrCat(security::IdentityUri({caller.role, name}), " (role ",
                      security::RoleName(caller.role), ") may not call ",
                      method);
}

// The servers, certificates and callers are made once for the suite
// (SetUpTestSuite) and owned by it; the tests only call. Not thread-safe:
// gtest runs the tests one at a time.
class AuthzMatrixTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite();
  static void TearDownTestSuite();

  // Every method the servers serve, with the address of its server.
  static std::map<std::string, std::string> ServedMethods();
  std::shared_ptr<grpc::Channel> Dial(const std::string& address,
                                      const Caller& caller) const {
    return grpc::CreateChannel(address, caller.creds);
  }

  static TestCerts* certs_;
  static std::vector<Caller>* callers_;
  static std::unique_ptr<CoordinatorServer>* coordinator_;
  static std::unique_ptr<PsServer>* shard_;
  static cnn::FcServiceHost* fc_host_;
  static cnn::StanzaServer* fc_;
};

TestCerts* AuthzMatrixTest::certs_ = nullptr;
std::vector<Caller>* AuthzMatrixTest::callers_ = nullptr;
std::unique_ptr<CoordinatorServer>* AuthzMatrixTest::coordinator_ = nullptr;
std::unique_ptr<PsServer>* AuthzMatrixTest::shard_ = nullptr;
cnn::FcServiceHost* AuthzMatrixTest::fc_host_ = nullptr;
cnn::StanzaServer* AuthzMatrixTest::fc_ = nullptr;

// What the table says of one call's result: it passed the policy as the
// table allows, it was refused as the table says, or neither.
enum class Verdict { kAllowed, kDenied, kUnexpected };

// The name each role's certificate holds.
const std::map<Role, std::string>& RoleHolders() {
  static const auto* holders = new std::map<Role, std::string>{
      {Role::kAdmin, "alice"}, {Role::kOperator, "olga"},
      {Role::kReader, "rita"}, {Role::kCoordinator, "coordinator"},
      {Role::kShard, "ps-0"},  {Role::kWorker, "worker"},
  };
  return *holders;
}

void AuthzMatrixTest::SetUpTestSuite() {
  // A role without a certificate here would go untested.
  ASSERT_EQ(RoleHolders().size(), security::AllRoles().size());
  certs_ = new TestCerts(TestCerts::Make());
  callers_ = new std::vector<Caller>();
  callers_->push_back({Caller::Kind::kAnonymous, Role::kReader,
                       "no certificate", certs_->Anonymous()});
  callers_->push_back({Caller::Kind::kNoIdentity, Role::kReader,
                       "a cluster certificate without a Strata identity",
                       certs_->Channel(certs_->dir, "nobody")});
  callers_->push_back({Caller::Kind::kOtherCa, Role::kAdmin,
                       "an admin certificate of another CA",
                       certs_->Channel(certs_->other_dir, "mallory")});
  for (const auto& [role, name] : RoleHolders()) {
    callers_->push_back({Caller::Kind::kRole, role,
                         absl::StrCat(security::RoleName(role), " ", name),
                         certs_->Channel(certs_->dir, name)});
  }

  CoordinatorServer::Options co;
  co.listen = "127.0.0.1:0";
  co.coordinator.credentials = certs_->Process("coordinator");
  auto coordinator = CoordinatorServer::Start(co);
  ASSERT_TRUE(coordinator.ok()) << coordinator.status();
  coordinator_ =
      new std::unique_ptr<CoordinatorServer>(*std::move(coordinator));

  PsServerOptions po;
  po.listen = "127.0.0.1:0";
  po.credentials = certs_->Process("ps-0");
  auto shard = PsServer::Start(po);
  ASSERT_TRUE(shard.ok()) << shard.status();
  shard_ = new std::unique_ptr<PsServer>(*std::move(shard));

  cnn::FcServiceHost::Options fo;
  fo.session_wait = absl::Milliseconds(10);  // no FC task runs here
  fc_host_ = new cnn::FcServiceHost(fo);
  auto fc = cnn::ServeStanzaFc("127.0.0.1:0", 4 << 20, fc_host_,
                               certs_->Process("worker"));
  ASSERT_TRUE(fc.ok()) << fc.status();
  fc_ = new cnn::StanzaServer(*std::move(fc));
}

void AuthzMatrixTest::TearDownTestSuite() {
  if (fc_ != nullptr && fc_->server != nullptr) fc_->server->Shutdown();
  delete fc_;
  delete fc_host_;
  if (shard_ != nullptr) (*shard_)->Shutdown(absl::Seconds(1));
  delete shard_;
  if (coordinator_ != nullptr) (*coordinator_)->Shutdown(absl::Seconds(1));
  delete coordinator_;
  delete callers_;
  delete certs_;
}

std::map<std::string, std::string> AuthzMatrixTest::ServedMethods() {
  std::map<std::string, std::string> served;  // method -> server address
  for (const std::string& address :
       {(*coordinator_)->address(), (*shard_)->address(), fc_->address}) {
    const auto channel =
        grpc::CreateChannel(address, certs_->Channel(certs_->dir, "alice"));
    for (const std::string& service : ListServices(channel)) {
      const std::vector<std::string> methods = MethodsOf(service);
      EXPECT_FALSE(methods.empty())
          << address << " serves " << service
          << ", whose descriptor is not linked into this test";
      for (const std::string& m : methods) served.emplace(m, address);
    }
  }
  return served;
}

// The verdict on `caller`'s call of `method` that ended as `r`.
Verdict Judge(const Caller& caller, const std::string& method,
              const CallResult& r) {
  const MethodPolicy* policy = security::FindPolicy(method);
  if (policy == nullptr) return Verdict::kUnexpected;
  const bool unauthenticated =
      !r.answered && r.code == grpc::StatusCode::UNAUTHENTICATED &&
      absl::StartsWith(r.message,
                       absl::StrCat(method, " needs a Strata client"));
  const bool role_denied =
      caller.kind == Caller::Kind::kRole && !r.answered &&
      r.code == grpc::StatusCode::PERMISSION_DENIED &&
      r.message ==
          EnforcerDenial(caller, RoleHolders().at(caller.role), method);
  const bool reached =
      r.answered ||
      (r.code != grpc::StatusCode::UNAUTHENTICATED && !role_denied);
  auto expect = [](bool allowed, bool ok) {
    if (!ok) return Verdict::kUnexpected;
    return allowed ? Verdict::kAllowed : Verdict::kDenied;
  };
  switch (caller.kind) {
    case Caller::Kind::kOtherCa:
      return expect(false,
                    !r.answered && r.code == grpc::StatusCode::UNAVAILABLE);
    case Caller::Kind::kAnonymous:
    case Caller::Kind::kNoIdentity:
      if (policy->callers == MethodPolicy::Callers::kAnyone) {
        return expect(true, reached);
      }
      return expect(false, unauthenticated);
    case Caller::Kind::kRole:
      if (security::Allowed(method, caller.role)) return expect(true, reached);
      return expect(false, role_denied);
  }
  return Verdict::kUnexpected;
}

TEST_F(AuthzMatrixTest, EveryServedRpcHasARowAndEveryRowIsServed) {
  const std::map<std::string, std::string> served = ServedMethods();
  for (const auto& [method, address] : served) {
    EXPECT_NE(security::FindPolicy(method), nullptr)
        << address << " serves " << method << ", which has no policy row";
  }
  for (const MethodPolicy& row : security::PolicyTable()) {
    EXPECT_EQ(served.count(std::string(row.method)), 1)
        << "the policy row " << row.method << " names no served RPC";
  }
  // The three kinds of server each serve health and reflection.
  EXPECT_EQ(served.count("/grpc.health.v1.Health/Check"), 1);
  EXPECT_EQ(served.count(kReflection), 1);
}

TEST_F(AuthzMatrixTest, EveryCallerSeesExactlyWhatThePolicyTableAllows) {
  const std::map<std::string, std::string> served = ServedMethods();
  ASSERT_FALSE(served.empty());
  std::map<Verdict, int> counts;
  // How the services ended the allowed calls: "answered" (a response
  // message came) or the status code of their refusal of the empty request.
  std::map<std::string, int> allowed_codes;
  for (const auto& [method, address] : served) {
    for (const Caller& caller : *callers_) {
      const CallResult r = CallEmpty(Dial(address, caller), method);
      const Verdict v = Judge(caller, method, r);
      ++counts[v];
      if (v == Verdict::kAllowed) {
        ++allowed_codes[r.answered ? "answered"
                                   : absl::StrCat("code ", r.code)];
      }
      if (v != Verdict::kUnexpected) continue;
      ADD_FAILURE() << caller.label << " calling " << method << " on "
                    << address << ": " << (r.answered ? "answered, " : "")
                    << "code " << r.code << " '" << r.message << "'";
    }
  }
  std::cout << "authorization matrix: " << served.size() << " RPCs x "
            << callers_->size() << " callers: " << counts[Verdict::kAllowed]
            << " allowed, " << counts[Verdict::kDenied] << " denied, "
            << counts[Verdict::kUnexpected] << " unexpected\n"
            << "the services' answers to the allowed calls:";
  for (const auto& [code, n] : allowed_codes)
    std::cout << " " << code << " x" << n;
  std::cout << std::endl;
  EXPECT_EQ(counts[Verdict::kUnexpected], 0);
}

// Reflection answers only callers with a Strata identity; health answers
// everyone who completes the handshake, on every server.
TEST_F(AuthzMatrixTest, HealthForAnyoneReflectionForIdentities) {
  for (const std::string& address :
       {(*coordinator_)->address(), (*shard_)->address(), fc_->address}) {
    for (const Caller& caller : *callers_) {
      const auto channel = Dial(address, caller);
      const CallResult health =
          CallEmpty(channel, "/grpc.health.v1.Health/Check");
      const CallResult reflection = CallEmpty(channel, kReflection);
      if (caller.kind == Caller::Kind::kOtherCa) {
        EXPECT_EQ(health.code, grpc::StatusCode::UNAVAILABLE) << address;
        EXPECT_EQ(reflection.code, grpc::StatusCode::UNAVAILABLE) << address;
        continue;
      }
      EXPECT_TRUE(health.answered) << caller.label << " " << address;
      if (caller.kind == Caller::Kind::kRole) {
        EXPECT_TRUE(reflection.answered) << caller.label << " " << address;
      } else {
        EXPECT_FALSE(reflection.answered) << caller.label << " " << address;
        EXPECT_EQ(reflection.code, grpc::StatusCode::UNAUTHENTICATED)
            << caller.label << " " << address;
      }
    }
  }
}

}  // namespace
}  // namespace strata
