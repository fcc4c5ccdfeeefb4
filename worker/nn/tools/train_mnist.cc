// Trains LeNet-5 on MNIST in one process and reports test accuracy, steps
// and wall time.
//   bazel run -c opt //worker/nn:train_mnist -- \
//     --mnist_dir=/work/shared/data/mnist --device=cpu --threads=2
#include <chrono>
#include <cstdio>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "worker/nn/backend_factory.h"
#include "worker/nn/cpu_backend.h"
#include "worker/nn/data.h"
#include "worker/nn/model_zoo.h"
#include "worker/nn/trainer.h"

ABSL_FLAG(std::string, mnist_dir, "../shared/data/mnist",
          "directory with the four MNIST IDX files (gzipped or not)");
ABSL_FLAG(std::string, device, "cpu", "cpu or gpu:N");
ABSL_FLAG(int, threads, 2, "OpenBLAS threads");
ABSL_FLAG(int, epochs, 3, "passes over the 60,000 training images");
ABSL_FLAG(int, batch, 64, "batch size");
ABSL_FLAG(double, lr, 0.01, "learning rate (decayed x0.3 per epoch)");
ABSL_FLAG(double, momentum, 0.9, "SGD momentum");
ABSL_FLAG(double, weight_decay, 5e-4, "L2 weight decay");
ABSL_FLAG(uint64_t, seed, 1, "initialisation and shuffling seed");

namespace {

double Seconds(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
      .count();
}

int Fail(const absl::Status& s) {
  std::fprintf(stderr, "train_mnist: %s\n", s.ToString().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  strata::nn::SetBlasThreads(absl::GetFlag(FLAGS_threads));
  const std::string dir = absl::GetFlag(FLAGS_mnist_dir);
  auto train = strata::nn::ReadMnistSplit(dir, true);
  if (!train.ok()) return Fail(train.status());
  auto test = strata::nn::ReadMnistSplit(dir, false);
  if (!test.ok()) return Fail(test.status());
  auto stats = strata::nn::ComputeChannelStats(*train);
  if (!stats.ok()) return Fail(stats.status());
  if (auto s = strata::nn::Normalize(*stats, &*train); !s.ok()) return Fail(s);
  if (auto s = strata::nn::Normalize(*stats, &*test); !s.ok()) return Fail(s);

  auto backend = strata::nn::CreateBackend(absl::GetFlag(FLAGS_device));
  if (!backend.ok()) return Fail(backend.status());
  strata::nn::Model model = strata::nn::LeNet5();
  if (auto s = model.net.Init(backend->get(), absl::GetFlag(FLAGS_seed));
      !s.ok()) {
    return Fail(s);
  }
  strata::nn::Trainer::Options o;
  o.batch_size = absl::GetFlag(FLAGS_batch);
  o.sgd.learning_rate = absl::GetFlag(FLAGS_lr);
  o.sgd.momentum = absl::GetFlag(FLAGS_momentum);
  o.sgd.weight_decay = absl::GetFlag(FLAGS_weight_decay);
  o.shuffle_seed = absl::GetFlag(FLAGS_seed);
  strata::nn::Trainer trainer(&model.net, backend->get(), o);
  std::printf("LeNet-5 on %s: %lld train / %lld test images, batch %lld, "
              "device %s, %d BLAS threads\n",
              dir.c_str(), static_cast<long long>(train->size()),
              static_cast<long long>(test->size()),
              static_cast<long long>(o.batch_size),
              (*backend)->Name().c_str(), absl::GetFlag(FLAGS_threads));
  const auto t0 = std::chrono::steady_clock::now();
  int64_t steps = 0;
  double acc = 0;
  for (int epoch = 0; epoch < absl::GetFlag(FLAGS_epochs); ++epoch) {
    auto loss = trainer.TrainEpoch(*train, epoch, &steps);
    if (!loss.ok()) return Fail(loss.status());
    const double train_s = Seconds(t0);
    auto a = trainer.Evaluate(*test);
    if (!a.ok()) return Fail(a.status());
    acc = *a;
    std::printf("epoch %d: steps %lld, mean train loss %.4f, test accuracy "
                "%.2f%%, wall %.1f s (training %.1f s)\n",
                epoch + 1, static_cast<long long>(steps), *loss, 100 * acc,
                Seconds(t0), train_s);
    std::fflush(stdout);
    trainer.optimizer().set_learning_rate(
        trainer.optimizer().options().learning_rate * 0.3f);
  }
  std::printf("final: test accuracy %.2f%% after %lld steps in %.1f s\n",
              100 * acc, static_cast<long long>(steps), Seconds(t0));
  return acc >= 0.98 ? 0 : 2;
}
