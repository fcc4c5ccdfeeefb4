// Dense pull/push throughput through the real client and one in-process
// shard on loopback (gRPC), ASYNC SGD. Prints calls/s, MB/s of float payload
// and the process's CPU time per call (client and shard together; steadier
// than wall time on a loaded machine) per tensor size. Tensors larger than one
// message (256 MiB less 64 KiB: 67,092,480 floats) travel in chunks.
//
//   bazel run -c opt //tests/bench:dense_bench -- --sizes=1048576,16777216
#include <sys/resource.h>

#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "glog/logging.h"
#include "server/client/ps_client.h"
#include "server/ps/ps_server.h"

ABSL_FLAG(std::string, sizes, "1048576,16777216",
          "Tensor sizes (floats) to measure.");
ABSL_FLAG(double, seconds, 3.0, "Measurement time per (size, op).");

namespace {

void CheckOk(const absl::Status& s) { CHECK(s.ok()) << s; }

// User + system CPU seconds of this process so far.
double CpuSeconds() {
  rusage u;
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_stime.tv_sec +
         (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

struct Rate {
  double calls_per_s = 0;
  double cpu_ms_per_call = 0;
};

// Calls op until `seconds` pass.
template <typename Op>
Rate Measure(double seconds, Op op) {
  op();  // warm-up
  const absl::Time start = absl::Now();
  const double cpu = CpuSeconds();
  int64_t calls = 0;
  while (absl::Now() - start < absl::Seconds(seconds)) {
    op();
    ++calls;
  }
  return {calls / absl::ToDoubleSeconds(absl::Now() - start),
          (CpuSeconds() - cpu) * 1e3 / calls};
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  FLAGS_logtostderr = true;
  google::InitGoogleLogging(argv[0]);
  auto server = strata::PsServer::Start({});
  CHECK(server.ok()) << server.status();
  auto client = strata::PsClient::Connect({(*server)->address()});
  CHECK(client.ok()) << client.status();
  const double seconds = absl::GetFlag(FLAGS_seconds);
  printf(
      "dense_bench: 1 in-process shard on loopback, ASYNC SGD, %.1fs per "
      "measurement\n%12s %-5s %10s %10s %12s\n",
      seconds, "floats", "op", "calls/s", "MB/s", "cpu ms/call");
  for (absl::string_view s : absl::StrSplit(absl::GetFlag(FLAGS_sizes), ',')) {
    const uint64_t size = std::stoull(std::string(s));
    strata::DenseConfig d;
    d.set_name(absl::StrCat("bench", size));
    d.set_size(size);
    d.mutable_optimizer()->set_learning_rate(1e-6f);
    CheckOk((*client)->admin().CreateDense(d, false).status());
    std::vector<float> values;
    const std::vector<float> grads(size, 0.001f);
    const Rate pull = Measure(seconds, [&] {
      CheckOk((*client)->PullDense(d.name(), 0, &values).status());
    });
    CHECK_EQ(values.size(), size);
    const Rate push = Measure(seconds, [&] {
      CheckOk((*client)->PushDense(d.name(), grads, 0, 0).status());
    });
    const double mb = size * 4 / 1e6;
    for (const auto& [op, r] : {std::pair{"pull", pull}, {"push", push}}) {
      printf("%12llu %-5s %10.2f %10.1f %12.3f\n",
             static_cast<unsigned long long>(size), op, r.calls_per_s,
             r.calls_per_s * mb, r.cpu_ms_per_call);
    }
    fflush(stdout);
    CheckOk(strata::OkOnSomeShard((*client)->admin().DropTable(d.name())));
  }
  client->reset();
  return 0;
}
