// Forward+backward throughput of each model at a fixed batch on one device,
// with the achieved GFLOP/s next to the sgemm GFLOP/s (OpenBLAS on "cpu",
// cuBLAS on "gpu:N") measured in the same run.
//   bazel run //worker/nn:nn_bench -- --device=cpu --threads=2 --batch=64
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_split.h"
#include "proto/base/status_macros.h"
#include "worker/nn/backend_factory.h"
#include "worker/nn/cpu_backend.h"
#include "worker/nn/data.h"
#include "worker/nn/loss.h"
#include "worker/nn/model_zoo.h"

ABSL_FLAG(std::string, device, "cpu", "cpu or gpu:N");
ABSL_FLAG(std::string, models, "lenet5,alexnet,vgg", "comma-separated models");
ABSL_FLAG(int, threads, 2, "OpenBLAS threads");
ABSL_FLAG(int, batch, 64, "images per step");
ABSL_FLAG(int, warmup, 2, "untimed steps per model");
ABSL_FLAG(double, min_seconds, 3.0, "timed seconds per model (at least)");
ABSL_FLAG(int, sgemm_size, 1024, "M = N = K of the reference sgemm");
ABSL_FLAG(bool, csv, false, "print CSV rows instead of a table");

namespace {

using SteadyClock = std::chrono::steady_clock;
using strata::nn::Backend;

double Since(SteadyClock::time_point t0) {
  return std::chrono::duration<double>(SteadyClock::now() - t0).count();
}

int Fail(const absl::Status& s) {
  std::fprintf(stderr, "nn_bench: %s\n", s.ToString().c_str());
  return 1;
}

// GFLOP/s of square sgemm on the backend (best of several timed rounds).
absl::StatusOr<double> SgemmGflops(Backend* b, int n) {
  const int64_t nn = int64_t{n} * n;
  auto a = strata::nn::Tensor::Zeros(b, {n, n});
  auto x = strata::nn::Tensor::Zeros(b, {n, n});
  auto c = strata::nn::Tensor::Zeros(b, {n, n});
  if (!a.ok() || !x.ok() || !c.ok()) return absl::InternalError("alloc");
  std::vector<float> host(nn, 0.5f);
  STRATA_RETURN_IF_ERROR(a->CopyFromHost(host));
  STRATA_RETURN_IF_ERROR(x->CopyFromHost(host));
  double best = 0;
  for (int round = 0; round < 5; ++round) {
    const int reps = b->IsGpu() ? 20 : 2;
    const auto t0 = SteadyClock::now();
    for (int r = 0; r < reps; ++r) {
      STRATA_RETURN_IF_ERROR(b->Gemm(false, false, n, n, n, 1.0f, a->data(), n,
                                     x->data(), n, 0.0f, c->data(), n));
    }
    STRATA_RETURN_IF_ERROR(b->Synchronize());
    best = std::max(best, 2.0 * nn * n * reps / Since(t0) / 1e9);
  }
  return best;
}

struct Result {
  double images_per_s = 0, gflops = 0;
  int64_t steps = 0;
};

absl::StatusOr<Result> BenchModel(Backend* b, const std::string& name,
                                  int batch) {
  STRATA_ASSIGN_OR_RETURN(strata::nn::Model model,
                          strata::nn::BuildModel(name));
  STRATA_RETURN_IF_ERROR(model.net.Init(b, 1));
  STRATA_ASSIGN_OR_RETURN(const strata::nn::ModelSummary summary,
                          strata::nn::Summarize(model));
  const strata::nn::Shape in = model.InputShape(batch);
  strata::nn::Dataset data = strata::nn::SyntheticImages(
      batch, in[1], in[2], in[3], 10, 7);
  STRATA_ASSIGN_OR_RETURN(const strata::nn::Tensor x,
                          strata::nn::Tensor::FromHost(b, in, data.images));
  strata::nn::SoftmaxCrossEntropyLoss loss;
  auto step = [&]() -> absl::Status {
    STRATA_ASSIGN_OR_RETURN(const strata::nn::Tensor* y,
                            model.net.Forward(x, true));
    STRATA_RETURN_IF_ERROR(loss.Compute(*y, data.labels).status());
    return model.net.Backward(loss.grad(), nullptr);
  };
  for (int i = 0; i < absl::GetFlag(FLAGS_warmup); ++i) {
    STRATA_RETURN_IF_ERROR(step());
  }
  Result r;
  const auto t0 = SteadyClock::now();
  double elapsed = 0;
  while (elapsed < absl::GetFlag(FLAGS_min_seconds) || r.steps < 3) {
    STRATA_RETURN_IF_ERROR(step());
    ++r.steps;
    STRATA_RETURN_IF_ERROR(b->Synchronize());
    elapsed = Since(t0);
  }
  r.images_per_s = r.steps * batch / elapsed;
  r.gflops = r.images_per_s * summary.TrainFlops() / 1e9;
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  strata::nn::SetBlasThreads(absl::GetFlag(FLAGS_threads));
  auto backend = strata::nn::CreateBackend(absl::GetFlag(FLAGS_device));
  if (!backend.ok()) return Fail(backend.status());
  Backend* b = backend->get();
  auto sgemm = SgemmGflops(b, absl::GetFlag(FLAGS_sgemm_size));
  if (!sgemm.ok()) return Fail(sgemm.status());
  const int batch = absl::GetFlag(FLAGS_batch);
  const bool csv = absl::GetFlag(FLAGS_csv);
  if (csv) {
    std::printf("impl,model,device,batch,images_per_s,gflops,sgemm_gflops\n");
  } else {
    std::printf("device %s, %d BLAS threads, batch %d; %s sgemm %dx%dx%d: "
                "%.1f GFLOP/s\n",
                b->Name().c_str(), absl::GetFlag(FLAGS_threads), batch,
                b->IsGpu() ? "cuBLAS" : "OpenBLAS",
                absl::GetFlag(FLAGS_sgemm_size), absl::GetFlag(FLAGS_sgemm_size),
                absl::GetFlag(FLAGS_sgemm_size), *sgemm);
    std::printf("%-8s %12s %10s %12s %7s\n", "model", "images/s", "GFLOP/s",
                "% of sgemm", "steps");
  }
  for (absl::string_view name :
       absl::StrSplit(absl::GetFlag(FLAGS_models), ',', absl::SkipEmpty())) {
    auto r = BenchModel(b, std::string(name), batch);
    if (!r.ok()) return Fail(r.status());
    if (csv) {
      std::printf("strata,%s,%s,%d,%.1f,%.2f,%.2f\n", std::string(name).c_str(),
                  b->Name().c_str(), batch, r->images_per_s, r->gflops, *sgemm);
    } else {
      std::printf("%-8s %12.1f %10.2f %11.1f%% %7lld\n",
                  std::string(name).c_str(), r->images_per_s, r->gflops,
                  100.0 * r->gflops / *sgemm, static_cast<long long>(r->steps));
    }
    std::fflush(stdout);
  }
  return 0;
}
