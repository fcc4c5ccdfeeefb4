// Dense pull/push throughput through the real client and one in-process
// shard on loopback (gRPC), ASYNC SGD. Prints calls/s, MB/s of float payload
// and the process's CPU time per call (client and shard together; steadier
// than wall time on a loaded machine) per tensor size. Tensors larger than one
// message (256 MiB less 64 KiB: 67,092,480 floats) travel in chunks.
// --shards=N forks N shard processes instead and spreads each tensor over
// them: N tensors of size/N floats named so that part i lives on shard i,
// pulled and pushed in parallel, one thread per part (a dense tensor lives
// whole on one shard); CPU time then counts the shards too.
//
//   bazel run -c opt //tests/bench:dense_bench -- --sizes=1048576,16777216
//   bazel run -c opt //tests/bench:dense_bench -- --sizes=16777216 --shards=2
#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
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
#include "tests/bench/forked_shards.h"

ABSL_FLAG(std::string, sizes, "1048576,16777216",
          "Tensor sizes (floats) to measure.");
ABSL_FLAG(double, seconds, 3.0, "Measurement time per (size, op).");
ABSL_FLAG(int32_t, shards, 0,
          "0: one shard in this process; N: N forked shard processes, each "
          "tensor spread over them in N parts moved in parallel.");

namespace {

void CheckOk(const absl::Status& s) { CHECK(s.ok()) << s; }

// User + system CPU seconds of this process and the forked `shards` (empty:
// the shard is in this process) so far.
double CpuSeconds(const std::vector<pid_t>& shards) {
  rusage u;
  getrusage(RUSAGE_SELF, &u);
  double s = u.ru_utime.tv_sec + u.ru_stime.tv_sec +
             (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
  for (pid_t pid : shards) s += strata::bench::CpuSeconds(pid);
  return s;
}

struct Rate {
  double calls_per_s = 0;
  double cpu_ms_per_call = 0;
};

// Calls op until `seconds` pass; CPU time counts the forked `shards` too.
template <typename Op>
Rate Measure(double seconds, const std::vector<pid_t>& shards, Op op) {
  op();  // warm-up
  const absl::Time start = absl::Now();
  const double cpu = CpuSeconds(shards);
  int64_t calls = 0;
  while (absl::Now() - start < absl::Seconds(seconds)) {
    op();
    ++calls;
  }
  return {calls / absl::ToDoubleSeconds(absl::Now() - start),
          (CpuSeconds(shards) - cpu) * 1e3 / calls};
}

// One tensor of `size` floats spread over `shards` shards: part i (size /
// shards floats, the last one the rest) is named `base`/j for the first j
// that routes to shard i.
std::vector<strata::DenseConfig> Parts(const strata::PsClient& client,
                                       const std::string& base, uint64_t size,
                                       uint32_t shards) {
  std::vector<strata::DenseConfig> parts(shards);
  uint32_t named = 0;
  for (int j = 0; named < shards; ++j) {
    CHECK_LT(j, 100000) << "no name routes to every shard";
    const std::string name = absl::StrCat(base, "/", j);
    strata::DenseConfig& p = parts[client.router().ShardForName(name)];
    if (!p.name().empty()) continue;
    p.set_name(name);
    ++named;
  }
  for (uint32_t i = 0; i < shards; ++i) {
    parts[i].set_size(i + 1 < shards ? size / shards
                                     : size - size / shards * (shards - 1));
    parts[i].mutable_optimizer()->set_learning_rate(1e-6f);
  }
  return parts;
}

// Runs op(i) for every part, in parallel when there are several.
template <typename Op>
void ForEachPart(size_t parts, Op op) {
  if (parts == 1) return op(0);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < parts; ++i) threads.emplace_back(op, i);
  for (std::thread& t : threads) t.join();
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  FLAGS_logtostderr = true;
  google::InitGoogleLogging(argv[0]);  // before the fork: the shards log too
  const int shards = absl::GetFlag(FLAGS_shards);
  std::unique_ptr<strata::bench::ForkedShards> forked;
  std::vector<std::string> addresses;
  std::vector<pid_t> pids;  // of the forked shards
  absl::StatusOr<std::unique_ptr<strata::PsServer>> server;
  if (shards > 0) {
    forked = std::make_unique<strata::bench::ForkedShards>(shards);
    addresses = forked->WaitForAddresses();
    pids = forked->pids();
  } else {
    server = strata::PsServer::Start({});
    CHECK(server.ok()) << server.status();
    addresses = {(*server)->address()};
  }
  auto client = strata::PsClient::Connect(addresses);
  CHECK(client.ok()) << client.status();
  const double seconds = absl::GetFlag(FLAGS_seconds);
  printf(
      "dense_bench: %s on loopback, ASYNC SGD, %.1fs per "
      "measurement\n%12s %-5s %10s %10s %12s\n",
      shards > 0 ? absl::StrCat(shards,
                                " forked shard processes, each "
                                "tensor spread over them")
                       .c_str()
                 : "1 in-process shard",
      seconds, "floats", "op", "calls/s", "MB/s", "cpu ms/call");
  for (absl::string_view s : absl::StrSplit(absl::GetFlag(FLAGS_sizes), ',')) {
    const uint64_t size = std::stoull(std::string(s));
    const std::vector<strata::DenseConfig> parts =
        Parts(**client, absl::StrCat("bench", size), size, std::max(shards, 1));
    for (const strata::DenseConfig& d : parts) {
      CheckOk((*client)->admin().CreateDense(d, false).status());
    }
    std::vector<std::vector<float>> values(parts.size());
    const std::vector<float> grads(parts.back().size(), 0.001f);
    const Rate pull = Measure(seconds, pids, [&] {
      ForEachPart(parts.size(), [&](size_t i) {
        CheckOk((*client)->PullDense(parts[i].name(), 0, &values[i]).status());
      });
    });
    for (size_t i = 0; i < parts.size(); ++i) {
      CHECK_EQ(values[i].size(), parts[i].size());
    }
    const Rate push = Measure(seconds, pids, [&] {
      ForEachPart(parts.size(), [&](size_t i) {
        const absl::Span<const float> g =
            absl::MakeConstSpan(grads).first(parts[i].size());
        CheckOk((*client)->PushDense(parts[i].name(), g, 0, 0).status());
      });
    });
    const double mb = size * 4 / 1e6;
    for (const auto& [op, r] : {std::pair{"pull", pull}, {"push", push}}) {
      printf("%12llu %-5s %10.2f %10.1f %12.3f\n",
             static_cast<unsigned long long>(size), op, r.calls_per_s,
             r.calls_per_s * mb, r.cpu_ms_per_call);
    }
    fflush(stdout);
    for (const strata::DenseConfig& d : parts) {
      CheckOk(strata::OkOnSomeShard((*client)->admin().DropTable(d.name())));
    }
  }
  client->reset();
  return 0;
}
