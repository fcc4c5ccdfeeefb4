// Threads of a Strata daemon's synchronous gRPC server (ps_server, the
// coordinator, FC nodes): how many wait idle for requests and how many may
// run at once. Plain data plus two functions; thread-compatible.
#ifndef STRATA_SERVER_UTIL_SERVER_THREADS_H_
#define STRATA_SERVER_UTIL_SERVER_THREADS_H_

#include "absl/status/status.h"
#include "grpcpp/server_builder.h"

namespace strata {

// gRPC's synchronous server runs each request on one of its own threads and
// keeps between min_pollers and max_pollers of them waiting for the next.
// Its defaults (1 and 2, no bound on threads) made a shard start and end a
// thread for nearly every request under a steady push load: 672 threads in
// 3 s, each faulting in its own scratch buffers (docs/benchmarks.md,
// "Seventh step").
struct ServerThreadOptions {
  // Idle threads kept waiting (gRPC's MIN_POLLERS / MAX_POLLERS). A request
  // that takes the last idle thread starts another; a thread that finishes
  // ends when max_pollers are already waiting, else waits too. More only
  // costs an idle thread apiece (a stack, mostly untouched).
  int min_pollers = 1;
  int max_pollers = 8;
  // Threads at most, idle and busy, all services together (a gRPC resource
  // quota). When all are busy and none is waiting, a new request is refused
  // with RESOURCE_EXHAUSTED instead of starting one more: a flood of slow
  // requests (dense pulls waiting for a step, watch streams) cannot exhaust
  // the daemon's memory with stacks. So at most max_threads - 1 requests
  // run at once. 0: no bound (gRPC's default).
  int max_threads = 512;
};

// Flag-style names, used in messages: --min_pollers, --max_pollers,
// --max_server_threads.
inline constexpr char kMinPollersFlag[] = "--min_pollers";
inline constexpr char kMaxPollersFlag[] = "--max_pollers";
inline constexpr char kMaxServerThreadsFlag[] = "--max_server_threads";

// INVALID_ARGUMENT naming the flag when min_pollers < 1, max_pollers <
// min_pollers, or max_threads is negative or, when bounded, not above
// max_pollers (a request must find a thread to run on).
absl::Status ValidateServerThreadOptions(const ServerThreadOptions& options);

// Sets the options on `builder` (before BuildAndStart). The options must be
// valid (CHECKed: a programmer error).
void ApplyServerThreadOptions(const ServerThreadOptions& options,
                              grpc::ServerBuilder* builder);

}  // namespace strata

#endif  // STRATA_SERVER_UTIL_SERVER_THREADS_H_
