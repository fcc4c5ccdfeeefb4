// What every stratactl subcommand shares: the exit-code contract, the
// environment a command runs in (client, output streams, clock), and helpers
// for printing errors, JSON and job fields. --json output is always one
// protobuf message (proto/ctl.proto for what is not a protocol message).
#ifndef STRATA_TOOLS_INTERNAL_COMMAND_UTIL_H_
#define STRATA_TOOLS_INTERNAL_COMMAND_UTIL_H_

#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "google/protobuf/map.h"
#include "google/protobuf/message.h"
#include "proto/coordinator.pb.h"
#include "proto/ctl.pb.h"
#include "server/client/per_shard.h"
#include "server/util/clock.h"
#include "tools/internal/ctl_client.h"

namespace strata {
namespace ctl {

// Process exit codes (documented in docs/stratactl.md and --help).
enum ExitCode : int {
  kExitOk = 0,         // success; for a watched job: SUCCEEDED
  kExitJobFailed = 1,  // the watched job ended FAILED or CANCELLED
  kExitUsage = 2,      // bad command line or invalid spec file
  kExitRpc = 3,        // an RPC failed or the cluster is not healthy
};

// Where a command runs. Borrowed pointers; they outlive the command.
struct CommandEnv {
  CtlClient* client = nullptr;
  std::ostream* out = nullptr;   // results only (with --json: JSON only)
  std::ostream* err = nullptr;   // errors and diagnostics
  const Clock* clock = nullptr;  // ages, default checkpoint ids, throttling
  absl::TimeZone time_zone = absl::UTCTimeZone();  // for timestamps
  bool json = false;          // machine-readable output on `out`
  bool tty = false;           // `out` is a terminal: draw progress in place
  size_t terminal_width = 0;  // columns of that terminal; 0 = unknown
};

// Prints "<CODE>: <message>" (e.g. "UNAVAILABLE: coordinator ...
// unreachable: ...") to env.err and returns kExitRpc.
int ReportRpcError(const CommandEnv& env, const absl::Status& status);

// Compact single-line protobuf JSON with proto field names
// ("node_id", not "nodeId") and fields at their default values included, so
// scripts see every field. 64-bit integers are strings, as protobuf's JSON
// mapping requires. The one way stratactl prints JSON.
std::string ToJson(const google::protobuf::Message& message);

// The code name and message of `status` ({"code":"NOT_FOUND",...} in JSON).
ErrorInfo ToErrorInfo(const absl::Status& status);

// Prints each failed shard's error like ReportRpcError; returns how many
// shards succeeded.
template <typename T>
size_t ReportShardErrors(const CommandEnv& env, const PerShard<T>& results) {
  for (const ShardResult<T>& r : results) {
    if (!r.ok()) ReportRpcError(env, r.status());
  }
  return CountOk(results);
}

// Appends the failed shards of `results` to a report's failed_shards.
template <typename T>
void AddFailedShards(const PerShard<T>& results,
                     google::protobuf::RepeatedPtrField<ShardError>* out) {
  for (const ShardResult<T>& r : results) {
    if (r.ok()) continue;
    ShardError* failed = out->Add();
    failed->set_shard_id(r.shard);
    failed->set_address(r.address);
    *failed->mutable_error() = ToErrorInfo(r.status());
  }
}

// The job state's enum name ("RUNNING"); "UNKNOWN(<n>)" for values this
// build does not know.
std::string StateName(JobState state);
bool IsTerminal(JobState state);
// kExitOk for SUCCEEDED, kExitJobFailed for FAILED/CANCELLED, kExitRpc
// otherwise (the job did not finish).
int ExitCodeForState(JobState state);

// Metrics sorted by name.
std::vector<std::pair<std::string, double>> SortedMetrics(
    const google::protobuf::Map<std::string, double>& metrics);

// "2024-05-01 12:00:00" in `time_zone`, or "-" for 0 (unset).
std::string FormatUnixMs(int64_t unix_ms, absl::TimeZone time_zone);
// now - unix_ms as HumanDuration, or "-" for 0 (unset).
std::string AgeOf(int64_t unix_ms, absl::Time now);
// Calls fn(0) ... fn(n-1) on n threads and waits for all of them: used to
// ask every shard at once, so one slow shard does not add to the others.
// `fn` must be safe to call concurrently.
void ForEachInParallel(size_t n, const std::function<void(size_t)>& fn);

// "450/1,000", "450/?" when the total is unknown.
std::string StepsOf(int64_t step, int64_t total_steps);

}  // namespace ctl
}  // namespace strata

#endif  // STRATA_TOOLS_INTERNAL_COMMAND_UTIL_H_
