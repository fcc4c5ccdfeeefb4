// stratactl: command-line client for a Strata cluster. See docs/stratactl.md
// or `stratactl --help`. This file only defines the flags and hands over to
// //tools/internal:cli.
#include <sys/ioctl.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <memory>
#include <cstdlib>
#include <iostream>
#include <string>

#include "absl/flags/flag.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "server/security/security_flags.h"
#include "server/util/clock.h"
#include "tools/internal/cli.h"

ABSL_FLAG(std::string, coordinator, "127.0.0.1:7070",
          "Coordinator HOST:PORT (default: $STRATA_COORDINATOR if set).");
ABSL_FLAG(bool, json, false, "Print machine-readable JSON only.");
ABSL_FLAG(double, timeout_s, 10, "Deadline of each RPC in seconds.");
ABSL_FLAG(bool, watch, false, "submit: follow the job after submitting.");
ABSL_FLAG(absl::optional<uint64_t>, checkpoint_id, absl::nullopt,
          "checkpoint/load: checkpoint id.");
ABSL_FLAG(std::string, table, "", "stats/compress: one table (default all).");
ABSL_FLAG(std::string, saec, "",
          "compress: a text-format SaecConfig, e.g. 'target_ratio: 30'.");
ABSL_FLAG(bool, cluster_wide, false,
          "compress: one set of clusters per field for the whole cluster.");
ABSL_FLAG(uint64_t, samples_per_field, 0,
          "compress --cluster_wide: samples per field and shard.");

int main(int argc, char** argv) {
  if (const char* env = std::getenv("STRATA_COORDINATOR");
      env != nullptr && *env != '\0') {
    absl::SetFlag(&FLAGS_coordinator, env);
  }
  auto parsed = strata::ctl::ParseFlagArgs(argc, argv);
  if (!parsed.ok()) {
    std::cerr << "stratactl: " << parsed.status().message() << "\n\n"
              << strata::ctl::UsageText();
    return 2;
  }
  if (parsed->help) {
    std::cout << strata::ctl::UsageText();
    return 0;
  }
  strata::ctl::CliOptions options;
  options.coordinator = absl::GetFlag(FLAGS_coordinator);
  options.json = absl::GetFlag(FLAGS_json);
  options.timeout_s = absl::GetFlag(FLAGS_timeout_s);
  options.watch = absl::GetFlag(FLAGS_watch);
  options.checkpoint_id = absl::GetFlag(FLAGS_checkpoint_id);
  options.table = absl::GetFlag(FLAGS_table);
  options.saec = absl::GetFlag(FLAGS_saec);
  options.cluster_wide = absl::GetFlag(FLAGS_cluster_wide);
  options.samples_per_field = absl::GetFlag(FLAGS_samples_per_field);
  absl::StatusOr<std::shared_ptr<const strata::security::Credentials>> creds =
      strata::security::Credentials::Create(
          strata::security::TlsOptionsFromFlags());
  if (!creds.ok()) {
    std::cerr << "stratactl: " << creds.status().message() << "\n";
    return 2;
  }
  options.credentials = *creds;
  strata::ctl::CliIo io;
  io.out = &std::cout;
  io.err = &std::cerr;
  io.tty = isatty(fileno(stdout)) != 0;
  struct winsize size = {};
  if (io.tty && ioctl(fileno(stdout), TIOCGWINSZ, &size) == 0) {
    io.terminal_width = size.ws_col;
  }
  io.clock = strata::RealClock();
  io.time_zone = absl::LocalTimeZone();
  return strata::ctl::RunCli(parsed->positional, options, io);
}
