#include "tools/internal/cli.h"

#include <cmath>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/reflection.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "proto/base/status_macros.h"
#include "tools/internal/cluster_commands.h"
#include "tools/internal/compression_commands.h"
#include "tools/internal/command_util.h"
#include "tools/internal/ctl_client.h"
#include "tools/internal/job_commands.h"

namespace strata {
namespace ctl {
namespace {

constexpr char kUsage[] =
    R"(stratactl: command-line client for a Strata cluster.

Usage: stratactl [flags] COMMAND [ARGS] [flags]

Commands:
  health                 Health-check the coordinator, then every registered
                         node that has an address (the ps shards).
  nodes                  List the nodes registered with the coordinator.
  submit SPEC_FILE       Submit a JobSpec: text format (.textproto, .pbtxt, any
                         extension but .json) or JSON (.json). Prints the job
                         id. With --watch, then follows the job like `watch`.
  model-summary SPEC_FILE
                         Check a CNN_TRAIN spec as submit would (offline) and
                         print its model per layer (output, parameters,
                         FLOPs), per part (conv, FC), and the bytes per step
                         of PS mode vs STANZA at its batch size.
  list                   List jobs: id, name, state, step/total, age, reason.
  status JOB_ID          Show one job: state, progress, times, metrics, spec.
  watch JOB_ID           Follow a job until it ends: a live progress bar on a
                         terminal, plain lines (about one per second)
                         otherwise; then its final state, reason and metrics.
  cancel JOB_ID          Cancel a job.
  tables                 List the tables of every ps shard, merged by name.
  checkpoint             Checkpoint every ps shard under one id the
                         coordinator picks (an admin action).
  load                   Load a checkpoint on every ps shard.
  stats                  Saec compression statistics per table and field,
                         merged over the shards.
  compress               Saec-compress sparse tables on every shard (an
                         admin action: pause training first), then print
                         their statistics.
  help                   Show this text.

Flags:
  --coordinator=HOST:PORT  Coordinator address. Default: $STRATA_COORDINATOR
                           if set, else 127.0.0.1:7070.
  --json                   Print machine-readable JSON on stdout and nothing
                           else (watch: one JSON object per line).
  --timeout_s=SECONDS      Deadline of each RPC (default 10). Raise it for
                           checkpoint/load of large tables.
  --watch                  submit: follow the job after submitting it.
  --checkpoint_id=N        load: the id to load (default: each shard's newest
                           complete checkpoint). checkpoint takes none: the
                           coordinator picks the id.
  --table=NAME             stats, compress: only this table (default all).
  --saec=TEXT              compress: a text-format SaecConfig (proto/ps.proto),
                           e.g. 'target_ratio: 30' or 'clusters: 1000
                           full_kmeans: true'. Empty: the defaults.
  --cluster_wide           compress: one set of clusters per field for the
                           whole cluster (docs/saec.md, "Cluster-wide
                           clusters"); needs --table. Again on a cluster-wide
                           table: folds its new rows.
  --samples_per_field=N    compress --cluster_wide: samples per field and
                           shard (default 65536, at most 1048576).
  --help, -h               Show this text.

Exit codes:
  0  Success; for `submit --watch` and `watch`: the job SUCCEEDED.
  1  The watched job ended FAILED or CANCELLED.
  2  Usage error (unknown command or flag, wrong arguments) or an unreadable
     or invalid spec file.
  3  An RPC failed (the gRPC code name and message go to stderr, e.g.
     "UNAVAILABLE: coordinator 127.0.0.1:7070 unreachable: ..."), a node is
     not serving (`health`), the shards are incomplete or disagree
     (`tables`, `checkpoint`, `load`), or a watch ended before the job did.

See docs/stratactl.md for examples.
)";

struct CommandSpec {
  const char* name;
  int num_args;          // positional arguments after the name
  const char* arg_name;  // for the error message; null if none
  bool takes_watch;
  bool takes_checkpoint_id;
  bool takes_table = false;
  bool takes_saec = false;
};

constexpr CommandSpec kCommands[] = {
    {"health", 0, nullptr, false, false},
    {"nodes", 0, nullptr, false, false},
    {"submit", 1, "SPEC_FILE", true, false},
    {"model-summary", 1, "SPEC_FILE", false, false},
    {"list", 0, nullptr, false, false},
    {"status", 1, "JOB_ID", false, false},
    {"watch", 1, "JOB_ID", false, false},
    {"cancel", 1, "JOB_ID", false, false},
    {"tables", 0, nullptr, false, false},
    {"checkpoint", 0, nullptr, false, false},
    {"load", 0, nullptr, false, true},
    {"stats", 0, nullptr, false, false, true, false},
    {"compress", 0, nullptr, false, false, true, true},
};

int UsageError(const CliIo& io, absl::string_view problem) {
  *io.err << "stratactl: " << problem << "\n\n" << kUsage;
  return kExitUsage;
}

// Empty if the invocation fits `spec`, else what is wrong.
std::string CheckInvocation(const CommandSpec& spec,
                            const std::vector<std::string>& args,
                            const CliOptions& options) {
  const int given = static_cast<int>(args.size()) - 1;
  if (given < spec.num_args) {
    return absl::StrCat(spec.name, ": missing ", spec.arg_name);
  }
  if (given > spec.num_args) {
    return absl::StrCat(spec.name, ": unexpected argument \"",
                        args[spec.num_args + 1], "\"");
  }
  if (options.watch && !spec.takes_watch) {
    return absl::StrCat(spec.name, " does not take --watch");
  }
  if (options.checkpoint_id.has_value() && !spec.takes_checkpoint_id) {
    return absl::StrCat(spec.name, " does not take --checkpoint_id");
  }
  if (!options.table.empty() && !spec.takes_table) {
    return absl::StrCat(spec.name, " does not take --table");
  }
  if (!options.saec.empty() && !spec.takes_saec) {
    return absl::StrCat(spec.name, " does not take --saec");
  }
  if ((options.cluster_wide || options.samples_per_field != 0) &&
      !spec.takes_saec) {
    return absl::StrCat(spec.name,
                        " does not take --cluster_wide or --samples_per_field");
  }
  if (options.cluster_wide && options.table.empty()) {
    return "compress --cluster_wide needs --table";
  }
  if (!std::isfinite(options.timeout_s) || options.timeout_s <= 0) {
    return absl::StrCat(
        "--timeout_s must be a positive number of seconds, "
        "got ",
        options.timeout_s);
  }
  if (options.coordinator.empty()) return "--coordinator must not be empty";
  return "";
}

int Dispatch(const std::string& command, const std::vector<std::string>& args,
             const CliOptions& options, const CommandEnv& env) {
  if (command == "health") return RunHealth(env);
  if (command == "nodes") return RunNodes(env);
  if (command == "submit") return RunSubmit(env, args[1], options.watch);
  if (command == "model-summary") return RunModelSummary(env, args[1]);
  if (command == "list") return RunList(env);
  if (command == "status") return RunStatus(env, args[1]);
  if (command == "watch") return RunWatch(env, args[1]);
  if (command == "cancel") return RunCancel(env, args[1]);
  if (command == "tables") return RunTables(env);
  if (command == "checkpoint") return RunCheckpoint(env);
  if (command == "stats") return RunStats(env, options.table);
  if (command == "compress") {
    return RunCompress(env, options.table, options.saec, options.cluster_wide,
                       options.samples_per_field);
  }
  return RunLoad(env, options.checkpoint_id);
}

}  // namespace

std::string UsageText() { return kUsage; }

namespace {

// Sets the flag `arg` ("name" or "name=value", dashes stripped); a value
// that is not inline is taken from argv[*i + 1] (advancing *i), except for
// booleans, where "name" means true and "noname" false.
absl::Status SetFlag(absl::string_view arg, int argc, const char* const* argv,
                     int* i) {
  const size_t eq = arg.find('=');
  const absl::string_view name = arg.substr(0, eq);
  const bool has_value = eq != absl::string_view::npos;
  std::string value(has_value ? arg.substr(eq + 1) : "");
  absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
  if (flag == nullptr && !has_value && absl::StartsWith(name, "no")) {
    absl::CommandLineFlag* negated = absl::FindCommandLineFlag(name.substr(2));
    if (negated != nullptr && negated->IsOfType<bool>()) {
      flag = negated;
      value = "false";
    }
  } else if (flag != nullptr && !has_value) {
    if (flag->IsOfType<bool>()) {
      value = "true";
    } else if (*i + 1 < argc) {
      value = argv[++*i];
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("flag --", name, " needs a value"));
    }
  }
  if (flag == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("unknown flag --", name));
  }
  std::string error;
  if (!flag->ParseFrom(value, &error)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid value \"", value, "\" for --", name, ": ", error));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ParsedArgs> ParseFlagArgs(int argc, const char* const* argv) {
  ParsedArgs parsed;
  bool flags_done = false;
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (flags_done || arg == "-" || !absl::StartsWith(arg, "-")) {
      parsed.positional.emplace_back(arg);
      continue;
    }
    if (arg == "--") {
      flags_done = true;
      continue;
    }
    if (!absl::ConsumePrefix(&arg, "--")) absl::ConsumePrefix(&arg, "-");
    if (arg == "help" || arg == "h") {
      parsed.help = true;
      continue;
    }
    STRATA_RETURN_IF_ERROR(SetFlag(arg, argc, argv, &i));
  }
  return parsed;
}

int RunCli(const std::vector<std::string>& args, const CliOptions& options,
           const CliIo& io) {
  if (args.empty()) return UsageError(io, "missing command");
  if (args[0] == "help") {
    *io.out << kUsage;
    return kExitOk;
  }
  const CommandSpec* spec = nullptr;
  for (const CommandSpec& candidate : kCommands) {
    if (args[0] == candidate.name) spec = &candidate;
  }
  if (spec == nullptr) {
    return UsageError(io, absl::StrCat("unknown command \"", args[0], "\""));
  }
  if (std::string problem = CheckInvocation(*spec, args, options);
      !problem.empty()) {
    return UsageError(io, problem);
  }
  CtlClientOptions client_options;
  client_options.coordinator = options.coordinator;
  client_options.rpc_timeout = absl::Seconds(options.timeout_s);
  client_options.credentials = options.credentials;
  CtlClient client(client_options);
  CommandEnv env;
  env.client = &client;
  env.out = io.out;
  env.err = io.err;
  env.clock = io.clock;
  env.time_zone = io.time_zone;
  env.json = options.json;
  env.tty = io.tty && !options.json;
  env.terminal_width = io.terminal_width;
  return Dispatch(args[0], args, options, env);
}

}  // namespace ctl
}  // namespace strata
