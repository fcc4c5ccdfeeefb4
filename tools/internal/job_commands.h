// Job subcommands of stratactl: submit, model-summary, list, status, watch,
// cancel. Each
// runs against the coordinator through env.client, writes results to
// env.out (JSON only with env.json) and errors to env.err, and returns the
// process exit code (see ExitCode).
#ifndef STRATA_TOOLS_INTERNAL_JOB_COMMANDS_H_
#define STRATA_TOOLS_INTERNAL_JOB_COMMANDS_H_

#include <string>

#include "tools/internal/command_util.h"

namespace strata {
namespace ctl {

// Reads the JobSpec at `spec_path` (text format, or JSON for *.json) and
// submits it; prints the job id. kExitUsage for an unreadable or invalid
// file. With `watch`, continues as RunWatch on the new job.
int RunSubmit(const CommandEnv& env, const std::string& spec_path, bool watch);

// Offline: reads the JobSpec at `spec_path`, checks it as submit would and
// prints the summary of its CNN_TRAIN model (server/jobs/
// cnn_model_summary.h). kExitUsage for an unreadable or invalid file.
int RunModelSummary(const CommandEnv& env, const std::string& spec_path);

// Table of all jobs, oldest first: id, name, state, step/total, age, reason.
int RunList(const CommandEnv& env);

// One job's details, metrics and spec.
int RunStatus(const CommandEnv& env, const std::string& job_id);

// Follows the job until it ends: a progress line redrawn in place on a
// terminal, else one plain line per event (at most ~1/s except state
// changes); then the final state, reason and metrics. With env.json, prints
// each event and then the final JobStatus as JSON lines. Exit code from the
// final state (ExitCodeForState).
int RunWatch(const CommandEnv& env, const std::string& job_id);

// Cancels the job and prints its resulting state.
int RunCancel(const CommandEnv& env, const std::string& job_id);

}  // namespace ctl
}  // namespace strata

#endif  // STRATA_TOOLS_INTERNAL_JOB_COMMANDS_H_
