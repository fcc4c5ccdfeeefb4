#include "tests/bench/forked_shards.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "glog/logging.h"

namespace strata {
namespace bench {
namespace {

[[noreturn]] void RunShard(PsServerOptions o, const ThrowawayCa* tls,
                           const std::string& port_file) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (tls != nullptr) o.credentials = tls->Credentials(ShardCert(o.shard_id));
  auto server = PsServer::Start(o);
  if (!server.ok()) {
    fprintf(stderr, "shard %u: %s\n", o.shard_id,
            server.status().ToString().c_str());
    _exit(1);
  }
  std::ofstream(port_file + ".tmp") << (*server)->address();
  rename((port_file + ".tmp").c_str(), port_file.c_str());
  (*server)->Wait();
  _exit(0);
}

}  // namespace

ForkedShards::ForkedShards(int n, PsServerOptions options,
                           const ThrowawayCa* tls)
    : dir_(absl::StrCat("/tmp/strata_shards.", getpid())) {
  mkdir(dir_.c_str(), 0755);
  for (int i = 0; i < n; ++i) {
    files_.push_back(absl::StrCat(dir_, "/shard", i));
    PsServerOptions o = options;
    o.shard_id = i;
    o.num_shards = n;
    const pid_t pid = fork();
    if (pid == 0) RunShard(o, tls, files_.back());
    pids_.push_back(pid);
  }
}

ForkedShards::~ForkedShards() {
  for (pid_t pid : pids_) kill(pid, SIGTERM);
  for (pid_t pid : pids_) waitpid(pid, nullptr, 0);
  for (const std::string& f : files_) unlink(f.c_str());
  rmdir(dir_.c_str());
}

std::vector<std::string> ForkedShards::WaitForAddresses() {
  std::vector<std::string> addrs;
  for (const std::string& f : files_) {
    for (int i = 0; i < 600 && access(f.c_str(), R_OK) != 0; ++i) {
      absl::SleepFor(absl::Milliseconds(50));
    }
    std::string a;
    std::ifstream(f) >> a;
    CHECK(!a.empty()) << "shard did not start (" << f << ")";
    addrs.push_back(a);
  }
  return addrs;
}

int64_t ResidentBytes(pid_t pid) {
  std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      std::istringstream in(line.substr(6));
      int64_t kb = -1;
      in >> kb;
      return kb < 0 ? -1 : kb * 1024;
    }
  }
  return -1;
}

double CpuSeconds(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  const std::string stat((std::istreambuf_iterator<char>(in)),
                         std::istreambuf_iterator<char>());
  const size_t paren = stat.rfind(')');  // the name may hold spaces
  if (paren == std::string::npos) return -1;
  std::istringstream fields(stat.substr(paren + 2));
  std::string skip;
  for (int i = 3; i < 14; ++i) fields >> skip;  // state .. cmajflt
  int64_t utime = -1, stime = -1;
  fields >> utime >> stime;
  if (utime < 0 || stime < 0) return -1;
  return double(utime + stime) / sysconf(_SC_CLK_TCK);
}

}  // namespace bench
}  // namespace strata
