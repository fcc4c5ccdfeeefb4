// The step plan, the data and batch order, and DenseSync against
// parameter-server shards in this process (real gRPC on 127.0.0.1).
#include "worker/cnn/cnn_job.h"

#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/jobs/job_types.h"
#include "server/ps/testing/local_shards.h"
#include "worker/cnn/internal/cifar_testing.h"
#include "worker/nn/cpu_backend.h"
#include "worker/nn/data.h"
#include "worker/nn/layers.h"
#include "worker/nn/sgd.h"

namespace strata {
namespace cnn {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// A prepared lenet5 spec of `conv` workers and `fc` FC nodes (PS mode when
// fc is 0), `batch` images per worker, `epochs` epochs.
CnnTrainSpec Prepared(uint32_t conv, uint32_t fc, int64_t batch,
                      uint32_t epochs = 1) {
  JobSpec job;
  CnnTrainSpec* c = job.mutable_cnn_train();
  c->set_model("lenet5");
  c->set_mode(fc > 0 ? CnnTrainSpec::STANZA : CnnTrainSpec::PS);
  c->set_num_conv_workers(conv);
  c->set_num_fc_nodes(fc);
  c->set_batch_size(batch);
  c->set_epochs(epochs);
  c->set_learning_rate(0.1f);
  c->set_lr_epoch_decay(0.5f);
  c->mutable_data()->set_synthetic_train(256);
  c->mutable_data()->set_synthetic_test(32);
  const absl::Status prepared = jobs::PrepareJobSpec({}, &job);
  EXPECT_TRUE(prepared.ok()) << prepared;
  return job.cnn_train();
}

TEST(CnnPlanTest, StepsPerEpochCountWholeGlobalBatches) {
  absl::StatusOr<CnnPlan> plan = CnnPlan::Make(Prepared(2, 1, 16, 3), 100);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->conv_workers, 2u);
  EXPECT_EQ(plan->fc_nodes, 1u);
  EXPECT_EQ(plan->batch, 16);
  EXPECT_EQ(plan->train_size, 100);
  EXPECT_EQ(plan->steps_per_epoch, 3);  // 100 / 32; the last 4 images unused
  EXPECT_EQ(plan->total_steps, 9);      // 3 epochs
}

TEST(CnnPlanTest, StepsOverrideEpochs) {
  CnnTrainSpec spec = Prepared(2, 1, 16, 3);
  spec.set_steps(5);
  absl::StatusOr<CnnPlan> plan = CnnPlan::Make(spec, 100);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->total_steps, 5);
}

TEST(CnnPlanTest, TheLearningRateDecaysOncePerEpoch) {
  absl::StatusOr<CnnPlan> plan = CnnPlan::Make(Prepared(2, 1, 16, 3), 100);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->Epoch(1), 0);
  EXPECT_EQ(plan->Epoch(3), 0);
  EXPECT_EQ(plan->Epoch(4), 1);
  EXPECT_EQ(plan->Epoch(7), 2);
  EXPECT_FLOAT_EQ(plan->LearningRate(1), 0.1f);
  EXPECT_FLOAT_EQ(plan->LearningRate(3), 0.1f);
  EXPECT_FLOAT_EQ(plan->LearningRate(4), 0.05f);
  EXPECT_FLOAT_EQ(plan->LearningRate(9), 0.025f);
}

TEST(CnnPlanTest, FcNodeFServesTheConvRanksCongruentToF) {
  absl::StatusOr<CnnPlan> plan = CnnPlan::Make(Prepared(5, 2, 16), 256);
  ASSERT_TRUE(plan.ok()) << plan.status();
  std::vector<uint32_t> fc_of;
  for (uint32_t r = 0; r < 5; ++r) fc_of.push_back(plan->FcOf(r));
  EXPECT_THAT(fc_of, ElementsAre(0, 1, 0, 1, 0));
  EXPECT_THAT(plan->ConvRanksOf(0), ElementsAre(0, 2, 4));
  EXPECT_THAT(plan->ConvRanksOf(1), ElementsAre(1, 3));
}

TEST(CnnPlanTest, FcNodesAverageEveryKthAndAfterTheLastStep) {
  CnnTrainSpec spec = Prepared(2, 2, 16);
  spec.set_steps(7);
  spec.set_fc_average_every(3);
  absl::StatusOr<CnnPlan> plan = CnnPlan::Make(spec, 256);
  ASSERT_TRUE(plan.ok()) << plan.status();
  std::vector<int64_t> rounds;
  for (int64_t t = 0; t <= 8; ++t) {
    if (plan->AveragesAfter(t)) rounds.push_back(t);
  }
  EXPECT_THAT(rounds, ElementsAre(3, 6, 7));
  EXPECT_EQ(plan->NextAveragingStep(0), 3);
  EXPECT_EQ(plan->NextAveragingStep(3), 6);
  EXPECT_EQ(plan->NextAveragingStep(6), 7);
  EXPECT_EQ(plan->NextAveragingStep(7), 0);  // none left
  EXPECT_EQ(plan->NextAveragingStep(-5), 0);
  // One FC node never averages.
  spec.set_num_fc_nodes(1);
  EXPECT_FALSE(CnnPlan::Make(spec, 256)->AveragesAfter(3));
}

TEST(CnnPlanTest, AnUnpreparedSpecIsInvalidArgument) {
  CnnTrainSpec no_batch = Prepared(2, 1, 16);
  no_batch.clear_batch_size();
  CnnTrainSpec stanza_without_fc = Prepared(2, 1, 16);
  stanza_without_fc.clear_num_fc_nodes();
  CnnTrainSpec no_length = Prepared(2, 1, 16);
  no_length.clear_epochs();
  for (const CnnTrainSpec& spec :
       {CnnTrainSpec(), no_batch, stanza_without_fc, no_length}) {
    absl::StatusOr<CnnPlan> plan = CnnPlan::Make(spec, 256);
    EXPECT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument)
        << spec.ShortDebugString();
    EXPECT_THAT(std::string(plan.status().message()),
                HasSubstr("was not prepared"));
  }
}

TEST(CnnPlanTest, DataSmallerThanOneGlobalBatchIsInvalidArgument) {
  absl::StatusOr<CnnPlan> plan = CnnPlan::Make(Prepared(2, 1, 16), 31);
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(plan.status().message()),
              HasSubstr("31 training images hold no global batch of 2 x 16"));
  plan = CnnPlan::Make(Prepared(2, 1, 16), 32);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->steps_per_epoch, 1);
}

TEST(LoadCnnDataTest, SyntheticImagesHaveTheModelsShapeAndAreNormalised) {
  CnnTrainSpec spec = Prepared(1, 0, 16);
  spec.mutable_data()->set_max_train(200);
  absl::StatusOr<CnnData> data = LoadCnnData(spec, {1, 28, 28});
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->train.size(), 200);  // 256, truncated to max_train
  EXPECT_EQ(data->test.size(), 32);
  EXPECT_EQ(data->train.ImageSize(), 28 * 28);
  double sum = 0, squares = 0;
  for (float x : data->train.images) {
    sum += x;
    squares += x * x;
  }
  const double n = data->train.images.size();
  EXPECT_NEAR(sum / n, 0.0, 0.05);
  EXPECT_NEAR(squares / n, 1.0, 0.1);
}

// A tiny generated CIFAR-10 directory under the test's temp dir.
std::string TinyCifar(const std::string& name, int batches, int per_batch,
                      int test) {
  const std::string dir = absl::StrCat(getenv("TEST_TMPDIR"), "/", name);
  const absl::Status written =
      internal::WriteCifar10Dir(dir, batches, per_batch, test);
  EXPECT_TRUE(written.ok()) << written;
  return dir;
}

// Prepared(conv, fc, batch) training alexnet on the CIFAR-10 directory.
CnnTrainSpec PreparedCifar(const std::string& dir, uint32_t conv, uint32_t fc,
                           int64_t batch) {
  JobSpec job;
  *job.mutable_cnn_train() = Prepared(conv, fc, batch);
  job.mutable_cnn_train()->set_model("alexnet");
  job.mutable_cnn_train()->mutable_data()->set_cifar10_dir(dir);
  const absl::Status prepared = jobs::PrepareJobSpec({}, &job);
  EXPECT_TRUE(prepared.ok()) << prepared;
  return job.cnn_train();
}

TEST(LoadCnnDataTest, Cifar10DirectoryIsReadWholeAndNormalisedPerChannel) {
  const std::string dir = TinyCifar("load_cifar", 3, 20, 12);
  absl::StatusOr<CnnData> data =
      LoadCnnData(PreparedCifar(dir, 1, 0, 8), {3, 32, 32});
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->train.size(), 60);  // every data_batch_N.bin
  EXPECT_EQ(data->test.size(), 12);
  EXPECT_EQ(data->train.labels[21], 1);  // batch 2, record 1
  absl::StatusOr<nn::ChannelStats> stats =
      nn::ComputeChannelStats(data->train);
  ASSERT_TRUE(stats.ok()) << stats.status();
  for (int c = 0; c < 3; ++c) {
    EXPECT_NEAR(stats->mean[c], 0.0, 1e-4) << c;
    EXPECT_NEAR(stats->stddev[c], 1.0, 1e-3) << c;
  }
  absl::StatusOr<CnnData> wrong =
      LoadCnnData(PreparedCifar(dir, 1, 0, 8), {1, 28, 28});
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(wrong.status().message(), HasSubstr("images are 3x32x32"));
}

// Debian's dataset-fashion-mnist (tools/setup.sh), when installed: the
// MNIST layout, gzipped, for any 1x28x28 model.
TEST(LoadCnnDataTest, ReadsFashionMnistWhenInstalled) {
  const std::string dir = "/usr/share/datasets/fashion-mnist";
  if (!std::ifstream(dir + "/train-labels-idx1-ubyte.gz")) {
    GTEST_SKIP() << "no Fashion-MNIST at " << dir;
  }
  CnnTrainSpec spec = Prepared(1, 0, 16);
  spec.mutable_data()->set_mnist_dir(dir);
  spec.mutable_data()->set_max_train(1000);
  absl::StatusOr<CnnData> data = LoadCnnData(spec, {1, 28, 28});
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->train.size(), 1000);
  EXPECT_EQ(data->test.size(), 10000);
  std::vector<int> per_class(10, 0);
  for (int32_t l : data->test.labels) ++per_class[l];
  EXPECT_EQ(per_class, std::vector<int>(10, 1000));  // balanced test set
}

TEST(LoadCnnDataTest, Cifar10OverTheReadCapIsResourceExhausted) {
  const std::string dir = TinyCifar("cap_cifar", 2, 10, 4);
  nn::ReadOptions read;
  read.max_dataset_bytes = 15 * 3073 * sizeof(float);
  absl::StatusOr<CnnData> data =
      LoadCnnData(PreparedCifar(dir, 1, 0, 8), {3, 32, 32}, read);
  ASSERT_EQ(data.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(data.status().message(), HasSubstr("data_batch_2.bin"));
}

TEST(BatchSourceTest, CifarBatchesAreAugmentedAlikeInEveryWorkerSplit) {
  const std::string dir = TinyCifar("augment_cifar", 1, 40, 4);
  absl::StatusOr<CnnData> data =
      LoadCnnData(PreparedCifar(dir, 1, 0, 8), {3, 32, 32});
  ASSERT_TRUE(data.ok()) << data.status();
  // One worker of 6 images and two of 3: the same global batches.
  CnnTrainSpec one_spec = PreparedCifar(dir, 1, 0, 6);
  absl::StatusOr<CnnPlan> one = CnnPlan::Make(one_spec, 40);
  absl::StatusOr<CnnPlan> two = CnnPlan::Make(PreparedCifar(dir, 2, 1, 3), 40);
  one_spec.mutable_data()->clear_cifar10_dir();  // same plan, no augmentation
  absl::StatusOr<CnnPlan> plain = CnnPlan::Make(one_spec, 40);
  ASSERT_TRUE(one.ok() && two.ok() && plain.ok());
  BatchSource a(&*one, &data->train), b(&*two, &data->train),
      c(&*plain, &data->train), again(&*one, &data->train);
  std::vector<float> whole, first, second, raw, repeat;
  std::vector<int32_t> labels, l0, l1, raw_labels;
  for (int64_t t : {1, 5, 9}) {
    ASSERT_TRUE(a.Get(t, 0, &whole, &labels).ok());
    ASSERT_TRUE(again.Get(t, 0, &repeat, &labels).ok());
    ASSERT_TRUE(b.Get(t, 0, &first, &l0).ok());
    ASSERT_TRUE(b.Get(t, 1, &second, &l1).ok());
    ASSERT_TRUE(c.Get(t, 0, &raw, &raw_labels).ok());
    EXPECT_EQ(whole, repeat) << t;  // seeded
    first.insert(first.end(), second.begin(), second.end());
    l0.insert(l0.end(), l1.begin(), l1.end());
    EXPECT_EQ(whole, first) << t;
    EXPECT_EQ(labels, l0) << t;
    EXPECT_EQ(labels, raw_labels) << t;  // the same images...
    EXPECT_NE(whole, raw) << t;          // ...cropped and flipped
  }
}

// Images of one pixel holding their own index, so a batch shows which
// examples it took.
nn::Dataset Indexed(int64_t n) {
  nn::Dataset d;
  d.channels = d.height = d.width = 1;
  for (int64_t i = 0; i < n; ++i) {
    d.images.push_back(i);
    d.labels.push_back(i % 10);
  }
  return d;
}

// The example indices rank `rank` trains on at `step`.
std::vector<int64_t> Take(BatchSource* source, int64_t step, uint32_t rank) {
  std::vector<float> images;
  std::vector<int32_t> labels;
  EXPECT_TRUE(source->Get(step, rank, &images, &labels).ok());
  std::vector<int64_t> out;
  for (size_t i = 0; i < images.size(); ++i) {
    out.push_back(static_cast<int64_t>(images[i]));
    EXPECT_EQ(labels[i], out.back() % 10);
  }
  return out;
}

TEST(BatchSourceTest, RanksSplitEachGlobalBatchOfTheEpochsShuffle) {
  const nn::Dataset data = Indexed(20);
  absl::StatusOr<CnnPlan> plan = CnnPlan::Make(Prepared(2, 1, 3, 2), 20);
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ(plan->steps_per_epoch, 3);  // 20 / (2 x 3)
  BatchSource source(&*plan, &data);
  for (int64_t epoch = 0; epoch < 2; ++epoch) {
    const std::vector<int64_t> order =
        nn::ShuffledIndices(20, plan->spec.seed() + epoch);
    std::vector<int64_t> taken;
    for (int64_t t = 1; t <= 3; ++t) {
      for (uint32_t r = 0; r < 2; ++r) {
        const std::vector<int64_t> rows = Take(&source, epoch * 3 + t, r);
        taken.insert(taken.end(), rows.begin(), rows.end());
      }
    }
    EXPECT_EQ(taken, std::vector<int64_t>(order.begin(), order.begin() + 18))
        << "epoch " << epoch;
  }
}

TEST(BatchSourceTest, IsDeterministicAndRevisitsEarlierEpochs) {
  const nn::Dataset data = Indexed(20);
  absl::StatusOr<CnnPlan> plan = CnnPlan::Make(Prepared(2, 1, 3, 2), 20);
  ASSERT_TRUE(plan.ok()) << plan.status();
  BatchSource a(&*plan, &data), b(&*plan, &data);
  const std::vector<int64_t> first = Take(&a, 1, 1);
  EXPECT_EQ(Take(&b, 1, 1), first);
  EXPECT_NE(Take(&a, 4, 1), first);  // epoch 1 reshuffles
  EXPECT_EQ(Take(&a, 1, 1), first);  // back in epoch 0
}

// One worker's copy of a small model: a Linear layer on the CPU backend,
// initialised from a fixed seed (equal in every copy).
struct Worker {
  explicit Worker(int64_t in = 3, int64_t out = 2)
      : layer("fc", nn::Linear::Options{in, out, nn::InitKind::kHe}) {
    EXPECT_TRUE(layer.Init(&cpu, 5).ok());
  }
  std::vector<float> Value(size_t i) {
    return *layer.Params()[i]->value.ToHost();
  }
  void SetGrads(float scale) {
    for (nn::Parameter* p : layer.Params()) {
      std::vector<float> g(p->grad.size());
      for (size_t k = 0; k < g.size(); ++k) g[k] = scale * (k + 1.0f);
      EXPECT_TRUE(p->grad.CopyFromHost(g).ok());
    }
  }
  nn::CpuBackend cpu;
  nn::Linear layer;
  Traffic traffic;
};

class DenseSyncTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto shards = testing::LocalShards::Start(2);
    ASSERT_TRUE(shards.ok()) << shards.status();
    shards_ = std::move(*shards);
  }
  DenseSync::Options Options(uint32_t rank, uint32_t workers = 2) const {
    DenseSync::Options o;
    o.prefix = "job-1/all";
    o.num_workers = workers;
    o.rank = rank;
    o.momentum = 0.9f;
    o.weight_decay = 0.01f;
    return o;
  }
  DenseSync Sync(Worker* w, const DenseSync::Options& o) {
    return DenseSync(shards_->client(), w->layer.Params(), o, &w->traffic);
  }
  std::unique_ptr<testing::LocalShards> shards_;
};

void ExpectNear(const std::vector<float>& got, const std::vector<float>& want,
                const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_NEAR(got[i], want[i], 1e-5f) << what << "[" << i << "]";
  }
}

TEST_F(DenseSyncTest, BspMeanOfTwoWorkersEqualsSgdOnTheMeanGradient) {
  Worker w0, w1, reference;
  nn::Sgd sgd(reference.layer.Params(), {0.1f, 0.9f, 0.01f});
  DenseSync s0 = Sync(&w0, Options(0)), s1 = Sync(&w1, Options(1));
  ASSERT_TRUE(s0.Init().ok());
  ASSERT_TRUE(s1.Init().ok());
  const float lr[] = {0.1f, 0.05f, 0.05f};
  for (int64_t t = 1; t <= 4; ++t) {
    ASSERT_TRUE(s0.Pull(t).ok());
    ASSERT_TRUE(s1.Pull(t).ok());
    for (size_t i = 0; i < 2; ++i) {
      const std::string what = absl::StrCat("param ", i, " at step ", t);
      ExpectNear(w0.Value(i), reference.Value(i), what);
      ExpectNear(w1.Value(i), reference.Value(i), what);
    }
    if (t == 4) break;
    w0.SetGrads(1.0f * t);
    w1.SetGrads(-3.0f);
    ASSERT_TRUE(s0.Push(t, lr[t - 1]).ok());
    ASSERT_TRUE(s1.Push(t, lr[t - 1]).ok());
    reference.SetGrads((1.0f * t - 3.0f) / 2);
    sgd.set_learning_rate(lr[t - 1]);
    ASSERT_TRUE(sgd.Step().ok());
  }
  EXPECT_NE(w0.Value(0), Worker().Value(0));  // it did train
}

TEST_F(DenseSyncTest, InitIsAlreadyExistsForAnotherShapeOrWorkerCount) {
  Worker small, big(4, 2), same;
  ASSERT_TRUE(Sync(&small, Options(0)).Init().ok());
  EXPECT_EQ(Sync(&big, Options(0)).Init().code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(Sync(&same, Options(0, 3)).Init().code(),
            absl::StatusCode::kAlreadyExists);
}

TEST_F(DenseSyncTest, AsyncRanksStartFromRankZerosInitialValues) {
  Worker w0, w1;
  DenseSync::Options o0 = Options(0), o1 = Options(1);
  o0.bsp = o1.bsp = false;
  o1.init_timeout = absl::Milliseconds(50);
  EXPECT_EQ(Sync(&w1, o1).Init().code(), absl::StatusCode::kDeadlineExceeded);
  ASSERT_TRUE(Sync(&w0, o0).Init().ok());
  DenseSync s1 = Sync(&w1, o1);
  ASSERT_TRUE(s1.Init().ok());
  for (nn::Parameter* p : w1.layer.Params()) {
    ASSERT_TRUE(
        p->value.CopyFromHost(std::vector<float>(p->value.size(), 7)).ok());
  }
  ASSERT_TRUE(s1.Pull(1).ok());
  EXPECT_EQ(w1.Value(0), w0.Value(0));
  EXPECT_EQ(w1.Value(1), w0.Value(1));
}

TEST_F(DenseSyncTest, PushLayerAsyncPushesWhatPushPushes) {
  Worker a, b;
  DenseSync::Options oa = Options(0, 1), ob = Options(0, 1);
  oa.prefix = "job-a/all";
  ob.prefix = "job-b/all";
  DenseSync sa = Sync(&a, oa), sb = Sync(&b, ob);
  ASSERT_TRUE(sa.Init().ok());
  ASSERT_TRUE(sb.Init().ok());
  ASSERT_TRUE(sa.Pull(1).ok());
  ASSERT_TRUE(sb.Pull(1).ok());
  a.SetGrads(2.0f);
  b.SetGrads(2.0f);
  ASSERT_TRUE(sa.Push(1, 0.1f).ok());
  ASSERT_TRUE(sb.PushLayerAsync(b.layer, 1, 0.1f).ok());
  ASSERT_TRUE(sb.WaitPushes().ok());
  ASSERT_TRUE(sa.Pull(2).ok());
  ASSERT_TRUE(sb.Pull(2).ok());
  EXPECT_EQ(a.Value(0), b.Value(0));
  EXPECT_EQ(a.Value(1), b.Value(1));
  EXPECT_EQ(a.traffic.ps_sent, b.traffic.ps_sent);
  Worker unsynced;
  EXPECT_EQ(sb.PushLayerAsync(unsynced.layer, 2, 0.1f).code(),
            absl::StatusCode::kInternal);
}

TEST_F(DenseSyncTest, AResumedBspJobStartsAtTheLeastTensorStep) {
  Worker w0, w1;
  DenseSync s0 = Sync(&w0, Options(0)), s1 = Sync(&w1, Options(1));
  ASSERT_TRUE(s0.Init().ok());
  ASSERT_TRUE(s1.Init().ok());
  EXPECT_EQ(s0.first_step(), 1);
  for (int64_t t = 1; t <= 2; ++t) {
    ASSERT_TRUE(s0.Pull(t).ok());
    ASSERT_TRUE(s1.Pull(t).ok());
    w0.SetGrads(1.0f);
    w1.SetGrads(2.0f);
    ASSERT_TRUE(s0.Push(t, 0.1f).ok());
    ASSERT_TRUE(s1.Push(t, 0.1f).ok());
  }
  // The job died in step 3 after both ranks pushed parameter 0 only: it
  // completed step 3, parameter 1 did not (no partial pushes are left, as
  // after the coordinator's ResetDenseSteps).
  const std::string name0 = "job-1/all/" + w0.layer.Params()[0]->name;
  const std::vector<float> g(w0.Value(0).size(), 0.5f);
  ASSERT_TRUE(shards_->client()->PushDense(name0, g, 3, 0).ok());
  ASSERT_TRUE(shards_->client()->PushDense(name0, g, 3, 1).ok());
  std::vector<float> after3;
  ASSERT_EQ(*shards_->client()->PullDense(name0, 4, &after3), 4);

  Worker r0, r1;  // the restarted attempt: fresh processes
  DenseSync::Options o0 = Options(0), o1 = Options(1);
  o0.resume = o1.resume = true;
  DenseSync q0 = Sync(&r0, o0), q1 = Sync(&r1, o1);
  ASSERT_TRUE(q0.Init().ok());  // pushes no initial values
  ASSERT_TRUE(q1.Init().ok());
  EXPECT_EQ(q0.first_step(), 3);
  EXPECT_EQ(q1.first_step(), 3);
  ASSERT_TRUE(q0.Pull(3).ok());
  ASSERT_TRUE(q1.Pull(3).ok());
  EXPECT_EQ(r0.Value(0), after3);
  r0.SetGrads(1.0f);
  r1.SetGrads(1.0f);
  ASSERT_TRUE(q0.Push(3, 0.1f).ok());  // parameter 0 is skipped
  ASSERT_TRUE(q1.Push(3, 0.1f).ok());
  std::vector<float> v;
  EXPECT_EQ(*shards_->client()->PullDense(name0, 0, &v), 4);
  EXPECT_EQ(v, after3);
  const std::string name1 = "job-1/all/" + w0.layer.Params()[1]->name;
  EXPECT_EQ(*shards_->client()->PullDense(name1, 4, &v), 4);  // completed
}

}  // namespace
}  // namespace cnn
}  // namespace strata
