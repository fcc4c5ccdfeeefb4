#include "tools/internal/command_util.h"

#include <algorithm>
#include <thread>

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/json_util.h"
#include "tools/internal/format.h"

namespace strata {
namespace ctl {

int ReportRpcError(const CommandEnv& env, const absl::Status& status) {
  *env.err << absl::StatusCodeToString(status.code()) << ": "
           << status.message() << "\n";
  return kExitRpc;
}

std::string ToJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = false;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = true;
  std::string out;
  // Printing a valid message cannot fail (no Any types are involved).
  (void)google::protobuf::util::MessageToJsonString(message, &out, options);
  return out;
}

std::string StateName(JobState state) {
  if (!JobState_IsValid(state)) {
    return absl::StrCat("UNKNOWN(", static_cast<int>(state), ")");
  }
  return JobState_Name(state);
}

bool IsTerminal(JobState state) {
  return state == SUCCEEDED || state == FAILED || state == CANCELLED;
}

int ExitCodeForState(JobState state) {
  switch (state) {
    case SUCCEEDED:
      return kExitOk;
    case FAILED:
    case CANCELLED:
      return kExitJobFailed;
    default:
      return kExitRpc;
  }
}

std::vector<std::pair<std::string, double>> SortedMetrics(
    const google::protobuf::Map<std::string, double>& metrics) {
  std::vector<std::pair<std::string, double>> out(metrics.begin(),
                                                  metrics.end());
  std::sort(out.begin(), out.end());
  return out;
}

std::string FormatUnixMs(int64_t unix_ms, absl::TimeZone time_zone) {
  if (unix_ms == 0) return "-";
  return absl::FormatTime("%Y-%m-%d %H:%M:%S", absl::FromUnixMillis(unix_ms),
                          time_zone);
}

std::string AgeOf(int64_t unix_ms, absl::Time now) {
  if (unix_ms == 0) return "-";
  return HumanDuration(now - absl::FromUnixMillis(unix_ms));
}

void ForEachInParallel(size_t n, const std::function<void(size_t)>& fn) {
  std::vector<std::thread> threads;
  threads.reserve(n);
  for (size_t i = 0; i < n; ++i) threads.emplace_back(fn, i);
  for (std::thread& thread : threads) thread.join();
}

ErrorInfo ToErrorInfo(const absl::Status& status) {
  ErrorInfo error;
  error.set_code(absl::StatusCodeToString(status.code()));
  error.set_message(std::string(status.message()));
  return error;
}

std::string StepsOf(int64_t step, int64_t total_steps) {
  return absl::StrCat(FormatCount(step), "/",
                      total_steps > 0 ? FormatCount(total_steps) : "?");
}

}  // namespace ctl
}  // namespace strata
