// Worker daemon: registers with the coordinator and runs the tasks it is
// assigned. See README.md ("Running the daemons by hand").
#include <unistd.h>

#include <iostream>
#include <optional>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_format.h"
#include "glog/logging.h"
#include "server/metrics/metrics_server.h"
#include "server/util/port_file.h"
#include "server/util/signals.h"
#include "absl/time/clock.h"
#include "worker/nn/cpu_backend.h"
#include "worker/cnn/fc_service.h"
#include "worker/builtin_tasks.h"
#include "worker/internal/device_query.h"
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
          "(train + test, float32); an assignment asking for more fails its "
          "task (the coordinator's --max_job_dataset_mb refuses it earlier)");
ABSL_FLAG(int32_t, metrics_port, 0,
          "Serve Prometheus metrics at http://METRICS_ADDRESS:PORT/metrics; "
          "0 disables them. See docs/metrics.md.");
ABSL_FLAG(std::string, metrics_address, "127.0.0.1",
          "Address the metrics endpoint binds: 127.0.0.1 (this machine only) "
          "or 0.0.0.0 (all interfaces; the endpoint has no authentication).");

namespace {

int ListDevices() {
  auto devices = strata::ListCudaDevices();
  if (!devices.ok()) {
    std::cerr << "worker: " << devices.status().message() << "\n";
    return 1;
  }
  if (devices->empty()) std::cout << "CUDA works, but no device is visible\n";
  for (const strata::GpuInfo& g : *devices) {
    std::cout << absl::StrFormat("gpu:%d  %s  sm_%d%d  %.1f GiB  %d SMs\n",
                                 g.index, g.name, g.compute_major,
                                 g.compute_minor,
                                 g.total_memory_bytes / double(1 << 30),
                                 g.multiprocessors);
  }
  return 0;
}

uint32_t DetectGpus() {
  auto devices = strata::ListCudaDevices();
  return devices.ok() ? devices->size() : 0;
}

}  // namespace

int main(int argc, char** argv) {
  strata::InstallTerminationHandlers();
  absl::SetProgramUsageMessage(
      "Strata worker daemon: worker --coordinator=HOST:PORT [--role=ROLE]");
  absl::ParseCommandLine(argc, argv);
  FLAGS_logtostderr = true;
  google::InitGoogleLogging(argv[0]);
  if (absl::GetFlag(FLAGS_list_devices)) return ListDevices();

  // Metrics: only the process_* ones.
  absl::StatusOr<strata::DaemonMetrics> metrics = strata::StartDaemonMetrics(
      absl::GetFlag(FLAGS_metrics_address), absl::GetFlag(FLAGS_metrics_port));
  if (!metrics.ok()) {
    LOG(ERROR) << metrics.status();
    return absl::IsInvalidArgument(metrics.status()) ? 2 : 1;
  }

  strata::WorkerOptions options;
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

  strata::nn::SetBlasThreads(absl::GetFlag(FLAGS_blas_threads));
  // FC nodes serve the StanzaFc service inside the worker process.
  std::optional<strata::cnn::FcServer> fc_server;
  if (!absl::GetFlag(FLAGS_listen).empty()) {
    absl::StatusOr<strata::cnn::FcServer> started =
        strata::cnn::StartFcServer(absl::GetFlag(FLAGS_listen),
                                      256 << 20);
    if (!started.ok()) {
      LOG(ERROR) << started.status();
      return 1;
    }
    fc_server = std::move(*started);
    options.address = fc_server->address;
    LOG(INFO) << "serving StanzaFc on " << options.address;
    if (!absl::GetFlag(FLAGS_port_file).empty()) {
      absl::Status w = strata::WritePortFile(absl::GetFlag(FLAGS_port_file),
                                             options.address);
      if (!w.ok()) {
        LOG(ERROR) << w;
        return 1;
      }
    }
  }
  strata::WorkerAgent agent(
      options, strata::DefaultTaskRegistry(
                   fc_server ? fc_server->host.get() : nullptr));
  strata::OnTerminationSignal([&agent](int) { agent.Stop(); });
  absl::Status s = agent.Run();
  if (!s.ok()) {
    LOG(ERROR) << "worker stopped: " << s;
    return 1;
  }
  if (fc_server) fc_server->server->Shutdown(absl::ToChronoTime(
      absl::Now() + absl::Seconds(2)));
  LOG(INFO) << "worker stopped cleanly";
  return 0;
}
