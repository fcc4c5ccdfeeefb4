#include "worker/worker_daemon.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "glog/logging.h"
#include "proto/base/status_macros.h"
#include "server/jobs/job_type.h"
#include "server/metrics/metrics_flags.h"
#include "server/metrics/metrics_registry.h"
#include "server/security/credentials.h"
#include "server/security/security_flags.h"
#include "server/util/port_file.h"
#include "server/util/signals.h"
#include "worker/cnn/cnn_task.h"
#include "worker/cnn/fc_proxy.h"
#include "worker/data_roots.h"
#include "worker/internal/device_query.h"
#include "worker/internal/task_outcomes.h"
#include "worker/nn/cpu_backend.h"
#include "worker/task_process.h"
#include "worker/worker_agent.h"

ABSL_FLAG(std::string, coordinator, "127.0.0.1:7070",
          "Coordinator address HOST:PORT.");
ABSL_FLAG(std::string, role, "general",
          "Role the coordinator schedules this worker by (general, conv, fc).");
ABSL_FLAG(std::string, listen, "",
          "Serve the StanzaFc service (FC nodes of CNN_TRAIN jobs) on "
          "HOST:PORT (port 0 = a free port) and register that address with "
          "the coordinator; empty serves nothing.");
ABSL_FLAG(std::string, port_file, "",
          "With --listen: write the bound HOST:PORT to this file.");
ABSL_FLAG(int32_t, blas_threads, 1,
          "OpenBLAS threads for NN tasks (several workers share a machine).");
ABSL_FLAG(int32_t, cpus, 0, "CPUs to advertise; 0 = this machine's count.");
ABSL_FLAG(int32_t, gpus, -1,
          "GPUs to advertise; -1 = the number of CUDA devices found.");
ABSL_FLAG(bool, list_devices, false,
          "Print the CUDA devices this worker can use and exit.");
ABSL_FLAG(uint64_t, max_task_dataset_mb,
          strata::jobs::JobLimits().max_dataset_bytes >> 20,
          "most MiB of images a CNN_TRAIN task on this worker may synthesise "
          "or read from files (train + test, float32); an assignment asking "
          "for more fails its task (synthetic: the coordinator's "
          "--max_job_dataset_mb refuses it earlier)");
ABSL_FLAG(std::vector<std::string>, data_root, {},
          "Comma-separated directories jobs may read input files under "
          "(ctr data_path/eval_path, cnn mnist_dir); a path outside them "
          "fails its task with PERMISSION_DENIED. Empty (the default): jobs "
          "may name no file (generators and synthetic data only). Each must "
          "exist; symlinks are resolved at start-up. Given twice, the last "
          "list wins. See docs/security.md, \"Data paths\".");
ABSL_FLAG(std::string, task_isolation, "process",
          "process: each task runs in a child process of this daemon, so a "
          "crash, an uncaught exception or a signal in a task fails the task "
          "and the daemon runs the next one (FC nodes relay StanzaFc to the "
          "task's process: one more local hop per message). thread: tasks "
          "run on threads of the daemon (no hop, easier to debug; a crashing "
          "task takes the daemon down). See docs/worker.md.");
ABSL_FLAG(absl::Duration, task_cancel_grace, absl::Seconds(10),
          "How long a cancelled task's process may take to stop before it is "
          "killed (--task_isolation=process).");
ABSL_FLAG(int32_t, task_child_fd, -1,
          "Internal: set by the daemon on its task processes.");
ABSL_FLAG(std::string, fc_listen, "",
          "Internal: the unix: address an FC task's process serves on.");

namespace strata {
namespace {

constexpr int kFcMaxMessageBytes = 256 << 20;

int ListDevices() {
  auto devices = ListCudaDevices();
  if (!devices.ok()) {
    std::cerr << "worker: " << devices.status().message() << "\n";
    return 1;
  }
  if (devices->empty()) std::cout << "CUDA works, but no device is visible\n";
  for (const GpuInfo& g : *devices) {
    std::cout << absl::StrFormat(
        "gpu:%d  %s  sm_%d%d  %.1f GiB  %d SMs\n", g.index, g.name,
        g.compute_major, g.compute_minor,
        g.total_memory_bytes / double(1 << 30), g.multiprocessors);
  }
  return 0;
}

uint32_t DetectGpus() {
  auto devices = ListCudaDevices();
  return devices.ok() ? devices->size() : 0;
}

// One task's process: serves StanzaFc on --fc_listen when the daemon asked
// (an FC task), runs the task, reports its outcome.
int RunTaskProcess(int fd, const TaskRegistryFactory& make_registry) {
  absl::StatusOr<std::unique_ptr<TaskChild>> child = TaskChild::Open(fd);
  if (!child.ok()) {
    LOG(ERROR) << "task process: " << child.status();
    return 1;
  }
  absl::StatusOr<std::shared_ptr<const security::Credentials>> creds =
      security::Credentials::Create(security::TlsOptionsFromFlags());
  if (!creds.ok()) return (*child)->Fail(creds.status());
  SetTaskCredentials(*creds);
  std::optional<cnn::FcServer> fc;
  const std::string fc_listen = absl::GetFlag(FLAGS_fc_listen);
  if (!fc_listen.empty()) {
    absl::StatusOr<cnn::FcServer> started =
        cnn::StartFcServer(fc_listen, kFcMaxMessageBytes);
    if (!started.ok()) return (*child)->Fail(started.status());
    fc = std::move(*started);
  }
  const int rc = (*child)->Run(make_registry(fc ? fc->host.get() : nullptr));
  if (fc) {
    fc->server->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(2)));
  }
  return rc;
}

// A private directory for the task processes' Unix sockets; removed with
// the daemon. Short, since a socket path may hold 107 bytes at most.
class SocketDir {
 public:
  SocketDir() {
    std::string tmpl = "/tmp/strata-worker-XXXXXX";
    if (mkdtemp(tmpl.data()) != nullptr) path_ = tmpl;
  }
  ~SocketDir() {
    if (!path_.empty()) rmdir(path_.c_str());
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A task in a process, counted. An FC task's process serves its own
// StanzaFc on a Unix socket, and the daemon's FcProxy routes the job's
// calls there.
class IsolatedTask final : public Task {
 public:
  // `proxy` and `dir` are both null where the daemon serves no StanzaFc.
  IsolatedTask(TaskProcessOptions options, cnn::FcProxy* proxy,
               const SocketDir* dir, internal::TaskOutcomes* outcomes)
      : process_(std::move(options)),
        proxy_(proxy),
        dir_(dir),
        outcomes_(outcomes) {}

  absl::StatusOr<TaskMetrics> Run(const TaskAssignment& a,
                                  TaskContext* context) override {
    absl::StatusOr<TaskMetrics> result = RunProcess(a, context);
    outcomes_->Count(result, process_.crashed());
    return result;
  }

 private:
  absl::StatusOr<TaskMetrics> RunProcess(const TaskAssignment& a,
                                         TaskContext* context) {
    if (!cnn::ServesFc(a) || proxy_ == nullptr) return process_.Run(a, context);
    if (dir_->path().empty()) {
      return absl::InternalError("no directory for the FC task's socket");
    }
    static std::atomic<int> next{0};
    const std::string path =
        absl::StrCat(dir_->path(), "/fc-", next.fetch_add(1), ".sock");
    const std::string address = absl::StrCat("unix:", path);
    if (absl::Status s = proxy_->AddRoute(a.job_id(), address); !s.ok()) {
      return s;
    }
    absl::StatusOr<TaskMetrics> result =
        process_.RunWithArgs(a, context, {"--fc_listen=" + address});
    proxy_->RemoveRoute(a.job_id());
    unlink(path.c_str());
    return result;
  }

  ChildProcessTask process_;
  cnn::FcProxy* const proxy_;
  const SocketDir* const dir_;
  internal::TaskOutcomes* const outcomes_;
};

// The daemon's StanzaFc server (--listen): FcServiceHost itself with
// thread isolation, else an FcProxy in front of the FC tasks' processes.
struct FcFrontDoor {
  std::unique_ptr<cnn::FcServiceHost> host;  // thread isolation
  std::unique_ptr<cnn::FcProxy> proxy;       // process isolation
  std::unique_ptr<SocketDir> sockets;        // process isolation
  cnn::StanzaServer server;
};

absl::StatusOr<FcFrontDoor> ServeFc(
    const std::string& listen, bool process,
    std::shared_ptr<const security::Credentials> credentials) {
  FcFrontDoor door;
  StanzaFc::Service* service;
  if (process) {
    door.proxy = std::make_unique<cnn::FcProxy>();
    door.sockets = std::make_unique<SocketDir>();
    service = door.proxy.get();
  } else {
    door.host = std::make_unique<cnn::FcServiceHost>();
    service = door.host.get();
  }
  absl::StatusOr<cnn::StanzaServer> served =
      cnn::ServeStanzaFc(listen, kFcMaxMessageBytes, service, credentials);
  if (!served.ok()) return served.status();
  door.server = std::move(*served);
  return door;
}

// INVALID_ARGUMENT, NOT_FOUND or FAILED_PRECONDITION for a bad --data_root.
absl::StatusOr<WorkerOptions> AgentOptions() {
  WorkerOptions options;
  STRATA_ASSIGN_OR_RETURN(options.data_roots,
                          DataRoots::Create(absl::GetFlag(FLAGS_data_root)));
  if (options.data_roots.roots().empty()) {
    LOG(INFO) << "no --data_root: jobs may name no input file";
  } else {
    LOG(INFO) << "jobs may read files under "
              << absl::StrJoin(options.data_roots.roots(), ", ");
  }
  options.coordinator = absl::GetFlag(FLAGS_coordinator);
  options.role = absl::GetFlag(FLAGS_role);
  options.limits.max_dataset_bytes = absl::GetFlag(FLAGS_max_task_dataset_mb)
                                     << 20;
  char host[256] = {0};
  gethostname(host, sizeof(host) - 1);
  options.hostname = host;
  const int cpus = absl::GetFlag(FLAGS_cpus);
  options.cpus = cpus > 0 ? cpus : std::thread::hardware_concurrency();
  const int gpus = absl::GetFlag(FLAGS_gpus);
  options.gpus = gpus >= 0 ? gpus : DetectGpus();
  return options;
}

// The registry the agent runs: the tasks themselves (thread isolation) or
// their processes, FC tasks behind the proxy.
TaskRegistry AgentRegistry(const TaskRegistryFactory& make_registry,
                           FcFrontDoor* door,
                           internal::TaskOutcomes* outcomes) {
  if (absl::GetFlag(FLAGS_task_isolation) == "thread") {
    return make_registry(door != nullptr ? door->host.get() : nullptr);
  }
  TaskProcessOptions o;
  o.args = {absl::StrCat("--blas_threads=", absl::GetFlag(FLAGS_blas_threads)),
            absl::StrCat("--max_task_dataset_mb=",
                         absl::GetFlag(FLAGS_max_task_dataset_mb))};
  // The task process dials the shards and FC nodes with the daemon's
  // certificate (it reads the same files).
  const std::shared_ptr<const security::Credentials> creds = TaskCredentials();
  if (creds != nullptr && creds->tls()) {
    o.args.push_back(absl::StrCat("--tls_ca=", creds->options().ca_file));
    o.args.push_back(absl::StrCat("--tls_cert=", creds->options().cert_file));
    o.args.push_back(absl::StrCat("--tls_key=", creds->options().key_file));
  }
  o.cancel_grace = absl::GetFlag(FLAGS_task_cancel_grace);
  cnn::FcProxy* proxy = door != nullptr ? door->proxy.get() : nullptr;
  const SocketDir* dir = door != nullptr ? door->sockets.get() : nullptr;
  TaskRegistry registry;
  for (JobSpec::JobCase c : make_registry(nullptr).job_cases()) {
    registry.Register(c, [o, proxy, dir, outcomes] {
      return std::make_unique<IsolatedTask>(o, proxy, dir, outcomes);
    });
  }
  return registry;
}

int RunDaemon(const TaskRegistryFactory& make_registry) {
  InstallTerminationHandlers();
  absl::StatusOr<DaemonMetrics> metrics = StartDaemonMetricsFromFlags();
  if (!metrics.ok()) {
    LOG(ERROR) << metrics.status();
    return absl::IsInvalidArgument(metrics.status()) ? 2 : 1;
  }
  const std::string isolation = absl::GetFlag(FLAGS_task_isolation);
  if (isolation != "process" && isolation != "thread") {
    LOG(ERROR) << "--task_isolation must be process or thread, not '"
               << isolation << "'";
    return 2;
  }
  absl::StatusOr<std::shared_ptr<const security::Credentials>> creds =
      security::Credentials::Create(security::TlsOptionsFromFlags());
  if (!creds.ok()) {
    LOG(ERROR) << creds.status();
    return 2;
  }
  SetTaskCredentials(*creds);  // thread isolation, and the child's flags
  const std::string listen = absl::GetFlag(FLAGS_listen);
  ExportInsecure(metrics->registry.get(),
                 !listen.empty() && security::PlaintextOffLoopback(
                                        listen, (*creds)->options()));
  absl::StatusOr<WorkerOptions> options = AgentOptions();
  if (!options.ok()) {
    LOG(ERROR) << options.status();
    return 2;
  }
  options->credentials = *creds;
  std::optional<FcFrontDoor> door;
  if (!absl::GetFlag(FLAGS_listen).empty()) {
    absl::StatusOr<FcFrontDoor> started =
        ServeFc(absl::GetFlag(FLAGS_listen), isolation == "process", *creds);
    if (!started.ok()) {
      LOG(ERROR) << started.status();
      return 1;
    }
    door = std::move(*started);
    options->address = door->server.address;
    LOG(INFO) << "serving StanzaFc on " << options->address;
    if (!absl::GetFlag(FLAGS_port_file).empty()) {
      absl::Status w =
          WritePortFile(absl::GetFlag(FLAGS_port_file), options->address);
      if (!w.ok()) {
        LOG(ERROR) << w;
        return 1;
      }
    }
  }
  LOG(INFO) << "tasks run in "
            << (isolation == "process" ? "processes" : "threads");
  internal::TaskOutcomes outcomes(metrics->registry.get());
  WorkerAgent agent(
      *options,
      AgentRegistry(make_registry, door ? &*door : nullptr, &outcomes));
  OnTerminationSignal([&agent](int) { agent.Stop(); });
  absl::Status s = agent.Run();
  if (!s.ok()) {
    LOG(ERROR) << "worker stopped: " << s;
    return 1;
  }
  if (door) {
    door->server.server->Shutdown(
        absl::ToChronoTime(absl::Now() + absl::Seconds(2)));
  }
  LOG(INFO) << "worker stopped cleanly";
  return 0;
}

}  // namespace

int RunWorkerDaemon(int argc, char** argv,
                    const TaskRegistryFactory& make_registry) {
  absl::SetProgramUsageMessage(
      "Strata worker daemon: worker --coordinator=HOST:PORT [--role=ROLE]");
  absl::ParseCommandLine(argc, argv);
  FLAGS_logtostderr = true;
  google::InitGoogleLogging(argv[0]);
  if (absl::GetFlag(FLAGS_list_devices)) return ListDevices();
  nn::SetBlasThreads(absl::GetFlag(FLAGS_blas_threads));
  cnn::SetTaskDatasetCap(absl::GetFlag(FLAGS_max_task_dataset_mb) << 20);
  const int child_fd = absl::GetFlag(FLAGS_task_child_fd);
  if (child_fd >= 0) return RunTaskProcess(child_fd, make_registry);
  return RunDaemon(make_registry);
}

}  // namespace strata
