// Parameter-server shards as real processes forked from a benchmark or
// load-test binary before it creates any gRPC state (so the children are
// clean), each a PsServer on a free loopback port. They die with the
// parent (PR_SET_PDEATHSIG). With a ThrowawayCa they serve mutual TLS.
// Not thread-safe; one per binary.
#ifndef STRATA_TESTS_BENCH_FORKED_SHARDS_H_
#define STRATA_TESTS_BENCH_FORKED_SHARDS_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "server/ps/ps_server.h"
#include "tests/bench/throwaway_ca.h"

namespace strata {
namespace bench {

class ForkedShards {
 public:
  // Forks `n` shards configured by `options` (shard_id, num_shards and
  // the listen address are set per shard). Call first thing in main().
  // With `tls` (not owned; outlives the constructor) shard i serves mutual
  // TLS with tls's ShardCert(i), its credentials built in the child: gRPC
  // credentials own threads, which a fork does not carry.
  ForkedShards(int n, PsServerOptions options = {},
               const ThrowawayCa* tls = nullptr);
  // SIGTERMs the shards and waits for them.
  ~ForkedShards();
  ForkedShards(const ForkedShards&) = delete;
  ForkedShards& operator=(const ForkedShards&) = delete;

  // Blocks until every shard wrote its address (CHECK-fails after 30 s).
  std::vector<std::string> WaitForAddresses();
  const std::vector<pid_t>& pids() const { return pids_; }

 private:
  std::string dir_;
  std::vector<std::string> files_;
  std::vector<pid_t> pids_;
};

// Resident memory of a process in bytes (VmRSS), or -1.
int64_t ResidentBytes(pid_t pid);
// CPU time (user + system) a process used so far, in seconds, or -1.
double CpuSeconds(pid_t pid);

}  // namespace bench
}  // namespace strata

#endif  // STRATA_TESTS_BENCH_FORKED_SHARDS_H_
