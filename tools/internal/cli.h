// stratactl's command line: the usage text, argument parsing onto the
// binary's Abseil flags, and dispatch of a subcommand to job_commands /
// cluster_commands. main() only defines the flags and calls these.
#ifndef STRATA_TOOLS_INTERNAL_CLI_H_
#define STRATA_TOOLS_INTERNAL_CLI_H_

#include <cstdint>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "server/security/credentials.h"
#include "server/util/clock.h"

namespace strata {
namespace ctl {

// The flag values of one invocation (see UsageText for their meaning).
struct CliOptions {
  std::string coordinator = "127.0.0.1:7070";
  bool json = false;
  double timeout_s = 10;
  bool watch = false;                      // submit only
  absl::optional<uint64_t> checkpoint_id;  // checkpoint and load only
  std::string table;                       // stats and compress only
  std::string saec;                        // compress only
  bool cluster_wide = false;               // compress only
  uint64_t samples_per_field = 0;          // compress --cluster_wide only
  // Transport security (--tls_*, docs/security.md); null: plaintext.
  std::shared_ptr<const security::Credentials> credentials;
};

// Where the command writes and how it tells time. Borrowed pointers.
struct CliIo {
  std::ostream* out = nullptr;
  std::ostream* err = nullptr;
  bool tty = false;           // `out` is a terminal
  size_t terminal_width = 0;  // its columns; 0 = unknown
  const Clock* clock = nullptr;
  absl::TimeZone time_zone = absl::UTCTimeZone();
};

// The full --help text: commands, flags and exit codes.
std::string UsageText();

struct ParsedArgs {
  std::vector<std::string> positional;  // subcommand and its arguments
  bool help = false;                    // --help or -h was given
};

// Parses argv[1..] onto the process's registered Abseil flags: "--name=v",
// "--name v", "--name" / "--noname" for booleans, one or two dashes; "--"
// ends the flags; anything else is positional, so flags may follow the
// subcommand. Unlike absl::ParseCommandLine, which exits with status 1, it
// returns INVALID_ARGUMENT for an unknown flag, a missing or a bad value, so
// the caller can keep the documented exit code 2.
absl::StatusOr<ParsedArgs> ParseFlagArgs(int argc, const char* const* argv);

// Runs the subcommand in `args` (args[0]) and returns the exit code:
// kExitUsage with the usage on io.err for a missing or unknown subcommand,
// a wrong number of arguments, a flag the subcommand does not take, or bad
// option values. "help" prints the usage on io.out.
int RunCli(const std::vector<std::string>& args, const CliOptions& options,
           const CliIo& io);

}  // namespace ctl
}  // namespace strata

#endif  // STRATA_TOOLS_INTERNAL_CLI_H_
