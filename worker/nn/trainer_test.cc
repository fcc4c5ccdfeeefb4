#include "worker/nn/trainer.h"

#include <climits>
#include <cstdlib>
#include <string>

#include "gtest/gtest.h"
#include "worker/nn/cpu_backend.h"
#include "worker/nn/model_zoo.h"

namespace strata {
namespace nn {
namespace {

// STRATA_MNIST_DIR is relative to the repository root, which is found by
// resolving the runfile testdata/anchor.txt back to the source tree.
std::string MnistDir() {
  const char* env = std::getenv("STRATA_MNIST_DIR");
  if (env == nullptr || *env == '\0') return "";
  std::string dir = env;
  if (dir[0] == '/') return dir;
  char resolved[PATH_MAX];
  if (realpath("worker/nn/testdata/anchor.txt", resolved) == nullptr) return "";
  std::string root = resolved;
  root = root.substr(0, root.size() - std::string("worker/nn/testdata/anchor.txt").size());
  return root + dir;
}

// A few hundred training images: real MNIST when available, else
// separable synthetic 28x28 images.
Dataset SmallTrainingSet(std::string* source) {
  const std::string dir = MnistDir();
  if (!dir.empty()) {
    auto d = ReadMnistSplit(dir, /*train=*/true);
    if (d.ok()) {
      d->Truncate(256);
      *source = "MNIST from " + dir;
      return *std::move(d);
    }
  }
  *source = "synthetic separable images (MNIST not found)";
  return SeparableImages(256, 1, 28, 28, 10, 3);
}

TEST(TrainerTest, LeNet5OverfitsAFewHundredImages) {
  std::string source;
  Dataset data = SmallTrainingSet(&source);
  RecordProperty("data", source);
  std::printf("training data: %s\n", source.c_str());
  CpuBackend cpu;
  Model model = LeNet5();
  ASSERT_TRUE(model.net.Init(&cpu, 1).ok());
  Trainer::Options o;
  o.batch_size = 32;
  o.sgd.learning_rate = 0.05f;
  o.sgd.momentum = 0.9f;
  Trainer trainer(&model.net, &cpu, o);
  int64_t steps = 0;
  auto first = trainer.TrainEpoch(data, 0, &steps);
  ASSERT_TRUE(first.ok()) << first.status();
  float last = *first;
  for (int epoch = 1; epoch < 30; ++epoch) {
    auto l = trainer.TrainEpoch(data, epoch, &steps);
    ASSERT_TRUE(l.ok()) << l.status();
    last = *l;
  }
  std::printf("loss %.4f -> %.4f after %lld steps\n", *first, last,
              static_cast<long long>(steps));
  EXPECT_LT(last, 0.05f);
  auto acc = trainer.Evaluate(data);
  ASSERT_TRUE(acc.ok());
  EXPECT_GE(*acc, 0.99);
}

TEST(TrainerTest, TrainingIsDeterministicForFixedSeeds) {
  Dataset data = SeparableImages(64, 1, 28, 28, 10, 4);
  float losses[2];
  for (float& out : losses) {
    CpuBackend cpu;
    Model model = LeNet5();
    ASSERT_TRUE(model.net.Init(&cpu, 7).ok());
    Trainer trainer(&model.net, &cpu, {});
    auto l = trainer.TrainEpoch(data, 0, nullptr);
    ASSERT_TRUE(l.ok());
    l = trainer.TrainEpoch(data, 1, nullptr);
    out = *l;
  }
  EXPECT_EQ(losses[0], losses[1]);
}

TEST(TrainerTest, BatchLargerThanDatasetIsInvalidArgument) {
  CpuBackend cpu;
  Model model = LeNet5();
  ASSERT_TRUE(model.net.Init(&cpu, 1).ok());
  Trainer trainer(&model.net, &cpu, {});
  Dataset tiny = SeparableImages(10, 1, 28, 28, 10, 1);
  EXPECT_EQ(trainer.TrainEpoch(tiny, 0, nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace nn
}  // namespace strata
