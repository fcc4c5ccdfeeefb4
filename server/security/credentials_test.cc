#include "server/security/credentials.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "proto/grpc/health/v1/health.grpc.pb.h"
#include "proto/ps.grpc.pb.h"
#include "server/security/identity.h"
#include "server/security/testing/test_certs.h"

namespace strata {
namespace security {
namespace {

using testing::CertFiles;

// Answers DropTable and ListTables, recording who called.
class FakeAdmin final : public AdminService::Service {
 public:
  grpc::Status DropTable(grpc::ServerContext* ctx, const DropTableRequest*,
                         DropTableResponse*) override {
    Record(*ctx);
    return grpc::Status::OK;
  }
  grpc::Status ListTables(grpc::ServerContext* ctx, const ListTablesRequest*,
                          ListTablesResponse*) override {
    Record(*ctx);
    return grpc::Status::OK;
  }
  std::string last_caller() {
    absl::MutexLock l(&mu_);
    return last_;
  }

 private:
  void Record(const grpc::ServerContext& ctx) {
    absl::StatusOr<Identity> id = PeerIdentity(*ctx.auth_context());
    absl::MutexLock l(&mu_);
    last_ = id.ok() ? IdentityUri(*id) : id.status().ToString();
  }
  absl::Mutex mu_;
  std::string last_ ABSL_GUARDED_BY(mu_);
};

class CredentialsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(
        testing::MakeCluster("certs", 1, "alice:admin bob:reader"));
    other_ =
        new std::string(testing::MakeCluster("other-ca", 0, "mallory:admin"));
    ASSERT_FALSE(dir_->empty());
    ASSERT_FALSE(other_->empty());
  }
  void SetUp() override {
    grpc::EnableDefaultHealthCheckService(true);
    grpc::ServerBuilder b;
    absl::StatusOr<std::shared_ptr<const Credentials>> creds =
        Credentials::Create(CertFiles(*dir_, "ps-0"));
    ASSERT_TRUE(creds.ok()) << creds.status();
    ASSERT_TRUE((*creds)->tls());
    ASSERT_TRUE((*creds)->ConfigureServer("127.0.0.1:0", &b, &port_).ok());
    b.RegisterService(&admin_);
    server_ = b.BuildAndStart();
    ASSERT_NE(server_, nullptr);
  }
  void TearDown() override { server_->Shutdown(); }

  std::shared_ptr<grpc::Channel> Channel(
      std::shared_ptr<grpc::ChannelCredentials> creds) {
    return grpc::CreateChannel(absl::StrCat("127.0.0.1:", port_), creds);
  }
  std::shared_ptr<grpc::Channel> As(const std::string& dir,
                                    const std::string& name) {
    absl::StatusOr<std::shared_ptr<const Credentials>> c =
        Credentials::Create(CertFiles(dir, name));
    EXPECT_TRUE(c.ok()) << c.status();
    return Channel(ChannelCredentialsOf(*c));
  }
  static grpc::StatusCode Drop(const std::shared_ptr<grpc::Channel>& ch) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::seconds(10));
    DropTableResponse resp;
    return AdminService::NewStub(ch)
        ->DropTable(&ctx, DropTableRequest(), &resp)
        .error_code();
  }
  static grpc::StatusCode List(const std::shared_ptr<grpc::Channel>& ch) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::seconds(10));
    ListTablesResponse resp;
    return AdminService::NewStub(ch)
        ->ListTables(&ctx, ListTablesRequest(), &resp)
        .error_code();
  }
  static grpc::StatusCode Health(const std::shared_ptr<grpc::Channel>& ch) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::seconds(10));
    grpc::health::v1::HealthCheckResponse resp;
    return grpc::health::v1::Health::NewStub(ch)
        ->Check(&ctx, grpc::health::v1::HealthCheckRequest(), &resp)
        .error_code();
  }

  static std::string* dir_;
  static std::string* other_;
  FakeAdmin admin_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};
std::string* CredentialsTest::dir_ = nullptr;
std::string* CredentialsTest::other_ = nullptr;

TEST_F(CredentialsTest, AnAdminCertificateMayDropAndIsKnownByName) {
  EXPECT_EQ(Drop(As(*dir_, "alice")), grpc::StatusCode::OK);
  EXPECT_EQ(admin_.last_caller(), "spiffe://strata/admin/alice");
}

TEST_F(CredentialsTest, OtherRolesAreDeniedWhatThePolicyDoesNotGrant) {
  EXPECT_EQ(Drop(As(*dir_, "bob")), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(List(As(*dir_, "bob")), grpc::StatusCode::OK);
  EXPECT_EQ(admin_.last_caller(), "spiffe://strata/reader/bob");
  // Workers pass the policy for DropTable; the shard lets them drop only
  // job-scoped tensors (ps_service_test).
  EXPECT_EQ(Drop(As(*dir_, "worker")), grpc::StatusCode::OK);
  EXPECT_EQ(Drop(As(*dir_, "coordinator")), grpc::StatusCode::OK);
}

TEST_F(CredentialsTest, WithoutACertificateOnlyHealthChecksPass) {
  grpc::experimental::TlsChannelCredentialsOptions o;
  o.set_certificate_provider(
      std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
          *dir_ + "/ca.crt", 1));
  o.watch_root_certs();
  auto anonymous = Channel(grpc::experimental::TlsCredentials(o));
  EXPECT_EQ(Health(anonymous), grpc::StatusCode::OK);
  EXPECT_EQ(List(anonymous), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Drop(anonymous), grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(CredentialsTest, ACertificateOfAnotherCaOrPlaintextCannotConnect) {
  EXPECT_EQ(Drop(As(*other_, "mallory")), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(Health(Channel(grpc::InsecureChannelCredentials())),
            grpc::StatusCode::UNAVAILABLE);
}

TEST(TlsOptionsTest, AllThreeFilesOrNone) {
  EXPECT_TRUE(CheckTlsOptions(TlsOptions()).ok());
  TlsOptions partial;
  partial.cert_file = "/etc/hostname";
  EXPECT_EQ(CheckTlsOptions(partial).code(),
            absl::StatusCode::kInvalidArgument);
  TlsOptions missing;
  missing.ca_file = "/nonexistent/ca.crt";
  missing.cert_file = "/nonexistent/x.crt";
  missing.key_file = "/nonexistent/x.key";
  const absl::Status s = CheckTlsOptions(missing);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("--tls_ca=/nonexistent/ca.crt"), std::string::npos)
      << s;
  TlsOptions not_pem;
  not_pem.ca_file = not_pem.cert_file = not_pem.key_file = "/etc/hostname";
  EXPECT_EQ(CheckTlsOptions(not_pem).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(TlsOptionsTest, APlaintextServerStillRefusesNonLoopbackAddresses) {
  absl::StatusOr<std::shared_ptr<const Credentials>> plain =
      Credentials::Create(TlsOptions());
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_FALSE((*plain)->tls());
  grpc::ServerBuilder b;
  int port = 0;
  EXPECT_EQ((*plain)->ConfigureServer("0.0.0.0:0", &b, &port).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE((*plain)->ConfigureServer("127.0.0.1:0", &b, &port).ok());
}

TEST(TlsOptionsTest, PlaintextOnlyOnLoopbackUnlessInsecure) {
  const TlsOptions plain;
  for (const char* ok :
       {"127.0.0.1:7070", "127.1.2.3:0", "localhost:7070", "[::1]:7070"}) {
    EXPECT_TRUE(CheckListenAddress(ok, plain).ok()) << ok;
  }
  for (const char* bad : {"0.0.0.0:7070", "[::]:7070", "10.0.0.5:7070",
                          "example.com:7070", "128.0.0.1:1"}) {
    EXPECT_EQ(CheckListenAddress(bad, plain).code(),
              absl::StatusCode::kFailedPrecondition)
        << bad;
  }
  TlsOptions insecure;
  insecure.insecure = true;
  EXPECT_TRUE(CheckListenAddress("0.0.0.0:7070", insecure).ok());
  TlsOptions tls;
  tls.cert_file = "x";
  EXPECT_TRUE(CheckListenAddress("0.0.0.0:7070", tls).ok());
}

// What a daemon reports as strata_insecure: plaintext off loopback, which
// only --insecure allows (and --insecure alone does not make it so).
TEST(TlsOptionsTest, PlaintextOffLoopbackIsWhatInsecureAllows) {
  TlsOptions insecure;
  insecure.insecure = true;
  EXPECT_TRUE(PlaintextOffLoopback("0.0.0.0:7070", insecure));
  EXPECT_TRUE(PlaintextOffLoopback("10.0.0.5:7070", TlsOptions()));
  EXPECT_FALSE(PlaintextOffLoopback("127.0.0.1:7070", insecure));
  EXPECT_FALSE(PlaintextOffLoopback("[::1]:7070", insecure));
  TlsOptions tls;
  tls.cert_file = "x";
  tls.insecure = true;
  EXPECT_FALSE(PlaintextOffLoopback("0.0.0.0:7070", tls));
}

}  // namespace
}  // namespace security
}  // namespace strata
