#include "tools/internal/job_commands.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/types/optional.h"
#include "google/protobuf/text_format.h"
#include "server/jobs/cnn_model_summary.h"
#include "tools/internal/format.h"
#include "tools/internal/progress.h"
#include "tools/internal/spec_io.h"

namespace strata {
namespace ctl {
namespace {

constexpr size_t kListReasonWidth = 60;

absl::Time EventTime(const JobEvent& event, const Clock& clock) {
  return event.time_unix_ms() != 0 ? absl::FromUnixMillis(event.time_unix_ms())
                                   : clock.Now();
}

ProgressUpdate ToUpdate(const JobEvent& event, const Clock& clock) {
  ProgressUpdate update;
  update.state = StateName(event.state());
  update.done = event.step();
  update.total = event.total_steps();
  update.time = EventTime(event, clock);
  update.metrics = SortedMetrics(event.metrics());
  update.message = event.message();
  update.finished = IsTerminal(event.state());
  return update;
}

// Wall time between start and end (or now while running); nullopt before
// the job started.
absl::optional<absl::Duration> Runtime(const JobStatus& job, absl::Time now) {
  if (job.start_time_unix_ms() == 0) return absl::nullopt;
  const absl::Time end = job.end_time_unix_ms() != 0
                             ? absl::FromUnixMillis(job.end_time_unix_ms())
                             : now;
  return end - absl::FromUnixMillis(job.start_time_unix_ms());
}

// The state, with the job's restarts when it had any: "RUNNING (1 restart)".
std::string StateWithRestarts(const JobStatus& job) {
  if (job.restarts() == 0) return std::string(StateName(job.state()));
  return absl::StrCat(StateName(job.state()), " (", job.restarts(),
                      job.restarts() == 1 ? " restart)" : " restarts)");
}

void PrintFinalSummary(const CommandEnv& env, const JobStatus& job) {
  std::string line =
      absl::StrCat("job ", job.job_id(), " ", StateWithRestarts(job));
  if (auto runtime = Runtime(job, env.clock->Now())) {
    absl::StrAppend(&line, " after ", HumanRuntime(*runtime));
  }
  absl::StrAppend(&line, " (", StepsOf(job.step(), job.total_steps()),
                  " steps)");
  *env.out << line << "\n";
  if (!job.reason().empty()) *env.out << "reason: " << job.reason() << "\n";
  if (!job.metrics().empty()) {
    *env.out << "metrics: " << FormatMetrics(SortedMetrics(job.metrics()))
             << "\n";
  }
}

// Final status after the stream ended: from GetJob, or failing that, what
// the last event said.
JobStatus FinalStatus(const CommandEnv& env, const std::string& job_id,
                      const absl::optional<JobEvent>& last_event) {
  absl::StatusOr<JobStatus> job = env.client->GetJob(job_id);
  if (job.ok()) return *std::move(job);
  ReportRpcError(env, job.status());
  JobStatus fallback;
  fallback.set_job_id(job_id);
  if (last_event.has_value()) {
    fallback.set_state(last_event->state());
    fallback.set_step(last_event->step());
    fallback.set_total_steps(last_event->total_steps());
    *fallback.mutable_metrics() = last_event->metrics();
    fallback.set_reason(last_event->message());
  }
  return fallback;
}

int FinishWatch(const CommandEnv& env, const JobStatus& job) {
  if (env.json) {
    *env.out << ToJson(job) << "\n";
  } else {
    PrintFinalSummary(env, job);
  }
  if (!IsTerminal(job.state())) {
    *env.err << "UNAVAILABLE: the watch stream ended while job " << job.job_id()
             << " was still " << StateName(job.state()) << "\n";
  }
  return ExitCodeForState(job.state());
}

int WatchJson(const CommandEnv& env, const std::string& job_id) {
  absl::optional<JobEvent> last;
  const absl::Status status =
      env.client->WatchJob(job_id, [&](const JobEvent& event) {
        *env.out << ToJson(event) << "\n" << std::flush;
        last = event;
      });
  if (!status.ok()) return ReportRpcError(env, status);
  return FinishWatch(env, FinalStatus(env, job_id, last));
}

}  // namespace

int RunWatch(const CommandEnv& env, const std::string& job_id) {
  absl::StatusOr<JobStatus> initial = env.client->GetJob(job_id);
  if (!initial.ok()) return ReportRpcError(env, initial.status());
  if (env.json) return WatchJson(env, job_id);

  ProgressReporter::Options options;
  options.mode =
      env.tty ? ProgressReporter::Mode::kTty : ProgressReporter::Mode::kPlain;
  options.max_width = env.terminal_width;
  ProgressReporter reporter(env.out, env.clock, options);
  bool started = initial->start_time_unix_ms() != 0;
  if (started) {
    reporter.SetStartTime(absl::FromUnixMillis(initial->start_time_unix_ms()));
  }
  absl::optional<JobEvent> last;
  const absl::Status status =
      env.client->WatchJob(job_id, [&](const JobEvent& event) {
        if (!started && event.state() != PENDING) {
          reporter.SetStartTime(EventTime(event, *env.clock));
          started = true;
        }
        reporter.Update(ToUpdate(event, *env.clock));
        last = event;
      });
  reporter.Finish();
  if (!status.ok()) return ReportRpcError(env, status);
  return FinishWatch(env, FinalStatus(env, job_id, last));
}

int RunSubmit(const CommandEnv& env, const std::string& spec_path, bool watch) {
  absl::StatusOr<JobSpec> spec = LoadJobSpec(spec_path);
  if (!spec.ok()) {
    *env.err << absl::StatusCodeToString(spec.status().code()) << ": "
             << spec.status().message() << "\n";
    return kExitUsage;
  }
  absl::StatusOr<std::string> job_id = env.client->SubmitJob(*spec);
  if (!job_id.ok()) return ReportRpcError(env, job_id.status());
  if (env.json) {
    SubmitJobResponse response;
    response.set_job_id(*job_id);
    *env.out << ToJson(response) << "\n";
  } else {
    *env.out << *job_id << "\n";
  }
  env.out->flush();
  return watch ? RunWatch(env, *job_id) : kExitOk;
}

int RunModelSummary(const CommandEnv& env, const std::string& spec_path) {
  absl::StatusOr<JobSpec> spec = LoadJobSpec(spec_path);
  absl::StatusOr<std::string> summary =
      spec.ok() ? jobs::CnnJobSummaryText(*spec) : spec.status();
  if (!summary.ok()) {
    *env.err << absl::StatusCodeToString(summary.status().code()) << ": "
             << summary.status().message() << "\n";
    return kExitUsage;
  }
  *env.out << *summary;
  env.out->flush();
  return kExitOk;
}

int RunList(const CommandEnv& env) {
  absl::StatusOr<ListJobsResponse> jobs = env.client->ListJobs();
  if (!jobs.ok()) return ReportRpcError(env, jobs.status());
  if (env.json) {
    *env.out << ToJson(*jobs) << "\n";
    return kExitOk;
  }
  std::vector<const JobStatus*> sorted;
  for (const JobStatus& job : jobs->jobs()) sorted.push_back(&job);
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const JobStatus* a, const JobStatus* b) {
                     return a->submit_time_unix_ms() < b->submit_time_unix_ms();
                   });
  Table table({"ID", "NAME", "STATE", "STEP", "AGE", "REASON"});
  table.SetAlign(3, Table::Align::kRight);
  table.SetAlign(4, Table::Align::kRight);
  const absl::Time now = env.clock->Now();
  for (const JobStatus* job : sorted) {
    table.AddRow({job->job_id(), job->spec().name(), StateWithRestarts(*job),
                  StepsOf(job->step(), job->total_steps()),
                  AgeOf(job->submit_time_unix_ms(), now),
                  Truncate(absl::StrReplaceAll(job->reason(), {{"\n", " "}}),
                           kListReasonWidth)});
  }
  *env.out << table.Render();
  return kExitOk;
}

namespace {

std::string SpecAsText(const JobSpec& spec) {
  std::string text;
  google::protobuf::TextFormat::PrintToString(spec, &text);
  while (!text.empty() && text.back() == '\n') text.pop_back();
  if (text.empty()) return "  -";
  return "  " + absl::StrReplaceAll(text, {{"\n", "\n  "}});
}

void PrintStatusText(const CommandEnv& env, const JobStatus& job) {
  const absl::Time now = env.clock->Now();
  auto field = [&](absl::string_view name, absl::string_view value) {
    *env.out << absl::StrFormat("%-11s%s\n", absl::StrCat(name, ":"), value);
  };
  field("job", job.job_id());
  field("name", job.spec().name().empty() ? "-" : job.spec().name());
  field("owner", job.owner().empty() ? "-" : job.owner());
  field("state", StateWithRestarts(job));
  field("progress",
        absl::StrCat(StepsOf(job.step(), job.total_steps()), " (",
                     FormatPercent(job.step(), job.total_steps()), ")"));
  field("submitted",
        absl::StrCat(
            FormatUnixMs(job.submit_time_unix_ms(), env.time_zone),
            job.submit_time_unix_ms() != 0
                ? absl::StrCat(" (", AgeOf(job.submit_time_unix_ms(), now),
                               " ago)")
                : ""));
  field("started", FormatUnixMs(job.start_time_unix_ms(), env.time_zone));
  field("ended", FormatUnixMs(job.end_time_unix_ms(), env.time_zone));
  auto runtime = Runtime(job, now);
  field("runtime", runtime.has_value() ? HumanRuntime(*runtime) : "-");
  field("nodes", job.assigned_nodes().empty()
                     ? "-"
                     : absl::StrJoin(job.assigned_nodes(), ", "));
  field("reason", job.reason().empty() ? "-" : job.reason());
  *env.out << "metrics:" << (job.metrics().empty() ? "   -" : "") << "\n";
  for (const auto& [name, value] : SortedMetrics(job.metrics())) {
    *env.out << "  " << name << " = " << FormatMetricValue(value) << "\n";
  }
  *env.out << "spec:\n" << SpecAsText(job.spec()) << "\n";
}

}  // namespace

int RunStatus(const CommandEnv& env, const std::string& job_id) {
  absl::StatusOr<JobStatus> job = env.client->GetJob(job_id);
  if (!job.ok()) return ReportRpcError(env, job.status());
  if (env.json) {
    *env.out << ToJson(*job) << "\n";
  } else {
    PrintStatusText(env, *job);
  }
  return kExitOk;
}

int RunCancel(const CommandEnv& env, const std::string& job_id) {
  absl::StatusOr<JobState> state = env.client->CancelJob(job_id);
  if (!state.ok()) return ReportRpcError(env, state.status());
  if (env.json) {
    CancelJobResponse response;
    response.set_state(*state);
    *env.out << ToJson(response) << "\n";
  } else {
    *env.out << "job " << job_id << ": " << StateName(*state) << "\n";
  }
  return kExitOk;
}

}  // namespace ctl
}  // namespace strata
