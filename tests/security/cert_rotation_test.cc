// Certificate rotation without a restart (docs/security.md, "Rotation"):
// the certificate files a process was started with are re-read every
// refresh interval (TlsOptions::refresh_interval, --tls_refresh_s) by
// gRPC's FileWatcherCertificateProvider, so replacing them changes what
// NEW connections present, on the server's side and on the client's, while
// the same server keeps serving.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "proto/ps.grpc.pb.h"
#include "server/security/credentials.h"
#include "server/security/identity.h"
#include "tests/security/test_certs.h"

namespace strata {
namespace {

constexpr absl::Duration kRefresh = absl::Seconds(1);
// How long a rotation may take to show: a few refresh intervals.
constexpr absl::Duration kRotationWait = absl::Seconds(15);

// How one call ended, and whom the client's TLS connection verified.
struct Seen {
  grpc::StatusCode code = grpc::StatusCode::UNKNOWN;
  std::string message;
  std::string server;  // the server certificate's identity URI, or ""
};

// A channel with its own subchannel pool: its connection is new, shared
// with no earlier channel.
std::shared_ptr<grpc::Channel> NewConnection(
    const std::string& address,
    const std::shared_ptr<grpc::ChannelCredentials>& c) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(address, c, args);
}

// One unary call of `method` (empty request) on `channel`.
Seen Call(const std::shared_ptr<grpc::Channel>& channel,
          const std::string& method) {
  grpc::GenericStub stub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
  const grpc::Slice empty{std::string()};
  grpc::ByteBuffer request(&empty, 1);
  grpc::ByteBuffer response;
  Seen seen;
  absl::Notification done;
  stub.UnaryCall(&ctx, method, grpc::StubOptions(), &request, &response,
                 [&](grpc::Status s) {
                   seen.code = s.error_code();
                   seen.message = s.error_message();
                   done.Notify();
                 });
  done.WaitForNotification();
  absl::StatusOr<security::Identity> id =
      security::PeerIdentity(*ctx.auth_context());
  if (id.ok()) seen.server = security::IdentityUri(*id);
  return seen;
}

Seen CallOnNewConnection(const std::string& address,
                         const std::shared_ptr<grpc::ChannelCredentials>& c,
                         const std::string& method) {
  return Call(NewConnection(address, c), method);
}

// Replaces `name`'s certificate and key in `dir` by `from`'s, each file by
// an atomic rename (a reader sees the old file or the new one).
void Replace(const std::string& dir, const std::string& name,
             const std::string& from) {
  for (const char* ext : {".key", ".crt"}) {
    RunShell(absl::StrCat("cp ", dir, "/", from, ext, " ", dir, "/", name, ext,
                          ".new && mv ", dir, "/", name, ext, ".new ", dir, "/",
                          name, ext));
  }
}

class CertRotationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    certs_ = TestCerts::Make("rotation");
    const std::string& d = certs_.dir;
    RunShell(
        absl::StrCat("bash ", CertsScript(), " issue ", d, " shard ps-1 && cp ",
                     d, "/ps-0.crt ", d, "/serving.crt && cp ", d, "/ps-0.key ",
                     d, "/serving.key && cp ", d, "/rita.crt ", d,
                     "/client.crt && cp ", d, "/rita.key ", d, "/client.key"));
    security::TlsOptions server = TestCerts::Files(d, "serving");
    server.refresh_interval = kRefresh;
    absl::StatusOr<std::shared_ptr<const security::Credentials>> creds =
        security::Credentials::Create(server);
    ASSERT_TRUE(creds.ok()) << creds.status();
    grpc::EnableDefaultHealthCheckService(true);
    grpc::ServerBuilder b;
    int port = 0;
    ASSERT_TRUE((*creds)->ConfigureServer("127.0.0.1:0", &b, &port).ok());
    b.RegisterService(&admin_);
    server_ = b.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    address_ = absl::StrCat("127.0.0.1:", port);
  }
  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown();
  }

  // Calls `method` on new connections until `done` holds for what it saw,
  // or kRotationWait passed; the last sight.
  template <typename Done>
  Seen Await(const std::shared_ptr<grpc::ChannelCredentials>& creds,
             const std::string& method, Done done) {
    const absl::Time deadline = absl::Now() + kRotationWait;
    Seen seen = CallOnNewConnection(address_, creds, method);
    while (!done(seen) && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(200));
      seen = CallOnNewConnection(address_, creds, method);
    }
    return seen;
  }

  TestCerts certs_;
  // Every method UNIMPLEMENTED: a call the policy admits ends there.
  AdminService::Service admin_;
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
};

constexpr char kHealth[] = "/grpc.health.v1.Health/Check";
// A caller the policy admits gets the service's UNIMPLEMENTED, one it does
// not the enforcer's PERMISSION_DENIED.
constexpr char kDrop[] = "/strata.AdminService/DropTable";

TEST_F(CertRotationTest, NewConnectionsSeeTheServersNewCertificate) {
  const auto alice = TestCerts::Channel(certs_.dir, "alice");
  const auto open = NewConnection(address_, alice);
  const Seen before = Call(open, kHealth);
  ASSERT_EQ(before.code, grpc::StatusCode::OK) << before.message;
  EXPECT_EQ(before.server, "spiffe://strata/shard/ps-0");
  grpc::Server* const same_server = server_.get();

  Replace(certs_.dir, "serving", "ps-1");
  const Seen after = Await(alice, kHealth, [](const Seen& s) {
    return s.server == "spiffe://strata/shard/ps-1";
  });
  EXPECT_EQ(after.code, grpc::StatusCode::OK) << after.message;
  EXPECT_EQ(after.server, "spiffe://strata/shard/ps-1");
  EXPECT_EQ(server_.get(), same_server);  // still the server started above
  // A connection made before keeps its session (and the old certificate).
  const Seen still_open = Call(open, kHealth);
  EXPECT_EQ(still_open.code, grpc::StatusCode::OK) << still_open.message;
  EXPECT_EQ(still_open.server, "spiffe://strata/shard/ps-0");
}

TEST_F(CertRotationTest, AClientsRotatedCertificateChangesWhoItIs) {
  security::TlsOptions client = TestCerts::Files(certs_.dir, "client");
  client.refresh_interval = kRefresh;
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> creds =
      security::ChannelCredentials(client);
  ASSERT_TRUE(creds.ok()) << creds.status();
  const Seen reader = CallOnNewConnection(address_, *creds, kDrop);
  EXPECT_EQ(reader.code, grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(reader.message,
            "spiffe://strata/reader/rita (role reader) may not call "
            "/strata.AdminService/DropTable");

  Replace(certs_.dir, "client", "alice");  // the same credentials object
  const Seen admin = Await(*creds, kDrop, [](const Seen& s) {
    return s.code == grpc::StatusCode::UNIMPLEMENTED;
  });
  EXPECT_EQ(admin.code, grpc::StatusCode::UNIMPLEMENTED) << admin.message;
}

TEST_F(CertRotationTest, ARotationToAnotherCasCertificateFailsUntilFixed) {
  // The watcher does not check a new certificate against the CA: one the
  // clients' CA did not sign is picked up, and new connections fail the
  // handshake until a good one is put back (no restart either way).
  const auto alice = TestCerts::Channel(certs_.dir, "alice");
  Replace(certs_.dir, "serving", "../rotation-other-ca/mallory");
  const Seen broken = Await(alice, kHealth, [](const Seen& s) {
    return s.code == grpc::StatusCode::UNAVAILABLE;
  });
  EXPECT_EQ(broken.code, grpc::StatusCode::UNAVAILABLE);
  Replace(certs_.dir, "serving", "ps-1");
  const Seen healed = Await(alice, kHealth, [](const Seen& s) {
    return s.code == grpc::StatusCode::OK;
  });
  EXPECT_EQ(healed.code, grpc::StatusCode::OK) << healed.message;
  EXPECT_EQ(healed.server, "spiffe://strata/shard/ps-1");
}

}  // namespace
}  // namespace strata
