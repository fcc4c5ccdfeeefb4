#include "server/jobs/cnn_train_job.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "server/jobs/job_types.h"

namespace strata {
namespace jobs {
namespace {

absl::Status Prepare(JobSpec spec, JobLimits limits = {}) {
  return PrepareJobSpec(limits, &spec);
}

JobSpec Cnn(void (*mutate)(CnnTrainSpec*, JobSpec*) = nullptr) {
  JobSpec spec;
  spec.mutable_cnn_train();
  if (mutate != nullptr) mutate(spec.mutable_cnn_train(), &spec);
  return spec;
}

TEST(CnnTrainJobTest, AppliesDefaultsAndDerivesWorkersAndRoles) {
  JobSpec spec = Cnn([](CnnTrainSpec* c, JobSpec*) {
    c->set_num_conv_workers(2);
  });
  ASSERT_TRUE(PrepareJobSpec({}, &spec).ok());
  const CnnTrainSpec& c = spec.cnn_train();
  EXPECT_EQ(spec.num_workers(), 3u);  // 2 conv + 1 FC
  EXPECT_EQ(spec.worker_role(), "conv");
  EXPECT_EQ(c.fc_role(), "fc");
  EXPECT_EQ(c.model(), "lenet5");
  EXPECT_EQ(c.batch_size(), 64u);
  EXPECT_FLOAT_EQ(c.learning_rate(), 0.01f);
  EXPECT_FLOAT_EQ(c.momentum(), 0.9f);
  EXPECT_FLOAT_EQ(c.lr_epoch_decay(), 1.0f);
  EXPECT_EQ(c.epochs(), 1u);
  EXPECT_EQ(c.device(), "cpu");
  EXPECT_EQ(c.fc_device(), "cpu");
  EXPECT_EQ(c.sync(), CnnTrainSpec::BSP);
  EXPECT_EQ(c.fc_average_every(), 10u);
  EXPECT_EQ(c.eval_batch(), 256u);
  EXPECT_EQ(c.step_timeout_s(), 120u);
  EXPECT_EQ(c.data().synthetic_train(), 4096u);
  EXPECT_EQ(c.data().synthetic_test(), 1024u);
  EXPECT_EQ(c.data().seed(), 7u);
  const std::vector<RoleNeed> needs = RoleNeeds(spec);
  ASSERT_EQ(needs.size(), 2u);
  EXPECT_EQ(needs[0].role, "conv");
  EXPECT_EQ(needs[0].count, 2u);
  EXPECT_FALSE(needs[0].needs_address);
  EXPECT_EQ(needs[1].role, "fc");
  EXPECT_EQ(needs[1].count, 1u);
  EXPECT_TRUE(needs[1].needs_address);
}

TEST(CnnTrainJobTest, PsModeHasNoFcNodesAndOneRole) {
  JobSpec spec = Cnn([](CnnTrainSpec* c, JobSpec*) {
    c->set_mode(CnnTrainSpec::PS);
    c->set_num_conv_workers(2);
    c->set_momentum(-1);
  });
  ASSERT_TRUE(PrepareJobSpec({}, &spec).ok());
  EXPECT_EQ(spec.num_workers(), 2u);
  EXPECT_EQ(spec.cnn_train().num_fc_nodes(), 0u);
  EXPECT_FLOAT_EQ(spec.cnn_train().momentum(), 0.0f) << "negative means 0";
  ASSERT_EQ(RoleNeeds(spec).size(), 1u);
  EXPECT_EQ(RoleNeeds(spec)[0].count, 2u);
}

TEST(CnnTrainJobTest, RejectsBadSpecsWithPreciseMessages) {
  struct Case {
    void (*mutate)(CnnTrainSpec*, JobSpec*);
    const char* message;
  };
  const Case cases[] = {
      {[](CnnTrainSpec* c, JobSpec*) {
         c->set_mode(CnnTrainSpec::PS);
         c->set_num_fc_nodes(1);
       },
       "cnn_train.num_fc_nodes must be 0 in PS mode (every worker trains the "
       "whole model)"},
      {[](CnnTrainSpec*, JobSpec* j) { j->set_num_workers(5); },
       "num_workers 5 disagrees with cnn_train: 1 conv workers + 1 FC nodes "
       "= 2 (leave num_workers unset)"},
      {[](CnnTrainSpec* c, JobSpec*) { c->set_device("tpu:0"); },
       "cnn_train.device: bad device \"tpu:0\": expected \"cpu\" or "
       "\"gpu:N\" (0 <= N <= 1023)"},
      {[](CnnTrainSpec* c, JobSpec*) { c->set_device("gpu:+1"); },
       "cnn_train.device: bad device \"gpu:+1\": expected \"cpu\" or "
       "\"gpu:N\" (0 <= N <= 1023)"},
      {[](CnnTrainSpec* c, JobSpec*) { c->set_model("resnet"); },
       "cnn_train.model 'resnet' is not one of lenet5, alexnet, vgg"},
      {[](CnnTrainSpec* c, JobSpec*) { c->set_num_fc_nodes(2); },
       "cnn_train.num_fc_nodes 2 exceeds num_conv_workers 1 (every FC node "
       "needs at least one conv worker)"},
      {[](CnnTrainSpec* c, JobSpec*) {
         c->set_model("vgg");
         c->mutable_data()->set_mnist_dir("/mnist");
       },
       "cnn_train: model vgg takes 3x32x32 images but data.mnist_dir holds "
       "MNIST-layout IDX 1x28x28 images"},
      {[](CnnTrainSpec* c, JobSpec*) {
         c->mutable_data()->set_cifar10_dir("/cifar");
       },
       "cnn_train: model lenet5 takes 1x28x28 images but data.cifar10_dir "
       "holds CIFAR-10 3x32x32 images"},
      {[](CnnTrainSpec* c, JobSpec*) {
         c->set_model("alexnet");
         c->mutable_data()->set_cifar10_dir("/cifar");
         c->mutable_data()->set_mnist_dir("/mnist");
       },
       "cnn_train.data: set mnist_dir or cifar10_dir, not both"},
      {[](CnnTrainSpec* c, JobSpec*) {
         c->mutable_data()->set_eval_every_steps(2000000000u);
       },
       "cnn_train.data.eval_every_steps 2000000000 is out of range [0, "
       "1000000000]"},
      {[](CnnTrainSpec* c, JobSpec*) { c->set_momentum(1); },
       "cnn_train.momentum 1 is out of range [0, 1)"},
      {[](CnnTrainSpec* c, JobSpec*) { c->set_batch_size(70000); },
       "cnn_train.batch_size 70000 is out of range [1, 65536]"},
      {[](CnnTrainSpec* c, JobSpec*) { c->set_fc_role("conv"); },
       "cnn_train.fc_role 'conv' must differ from worker_role and from 'ps'"},
      {[](CnnTrainSpec* c, JobSpec*) {
         c->set_num_conv_workers(2);
         c->add_conv_devices("cpu");
       },
       "cnn_train.conv_devices lists 1 devices for 2 conv workers"},
      {[](CnnTrainSpec* c, JobSpec*) {
         c->mutable_data()->set_synthetic_train(100);
         c->set_batch_size(64);
         c->set_num_conv_workers(2);
       },
       "cnn_train: 100 training images hold no global batch of 2 conv "
       "workers x batch_size 64 = 128"},
      {[](CnnTrainSpec* c, JobSpec*) {
         c->mutable_data()->set_synthetic_train(4000000000u);
       },
       "cnn_train.data.synthetic_train 4000000000 is out of range [1, "
       "16777216]"},
      {[](CnnTrainSpec* c, JobSpec*) { c->set_step_timeout_s(100000); },
       "cnn_train.step_timeout_s 100000 is out of range [1, 86400]"},
  };
  for (const Case& c : cases) {
    absl::Status s = Prepare(Cnn(c.mutate));
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.message;
    EXPECT_EQ(s.message(), c.message);
  }
  EXPECT_TRUE(Prepare(Cnn([](CnnTrainSpec* c, JobSpec*) {
                c->set_model("vgg");
                c->mutable_data()->set_cifar10_dir("/cifar");
              })).ok());
  EXPECT_TRUE(Prepare(Cnn([](CnnTrainSpec* c, JobSpec*) {
                c->mutable_data()->set_mnist_dir("/fashion-mnist");
              })).ok());
  EXPECT_TRUE(Prepare(Cnn([](CnnTrainSpec* c, JobSpec*) {
                c->set_device("gpu:1");
                c->set_sync(CnnTrainSpec::ASYNC);
              })).ok());
}

// A spec-defined network for 1x28x28 images (MNIST layout).
void SmallModelSpec(CnnTrainSpec* c) {
  CnnModelSpec* m = c->mutable_model_spec();
  m->set_channels(1);
  m->set_height(28);
  m->set_width(28);
  auto add = [m](CnnLayerSpec::Type type, uint32_t out, uint32_t kernel) {
    CnnLayerSpec* l = m->add_layers();
    l->set_type(type);
    l->set_out(out);
    l->set_kernel(kernel);
  };
  add(CnnLayerSpec::CONV, 4, 5);
  add(CnnLayerSpec::RELU, 0, 0);
  add(CnnLayerSpec::MAX_POOL, 0, 2);
  add(CnnLayerSpec::FLATTEN, 0, 0);
  add(CnnLayerSpec::LINEAR, 10, 0);
}

TEST(CnnTrainJobTest, ModelSpecIsAdmittedAndCheckedAtSubmit) {
  JobSpec spec = Cnn([](CnnTrainSpec* c, JobSpec*) {
    SmallModelSpec(c);
    c->mutable_data()->set_mnist_dir("/fashion-mnist");
  });
  ASSERT_TRUE(PrepareJobSpec({}, &spec).ok());
  EXPECT_EQ(spec.cnn_train().model(), "");  // no preset default
  struct Case {
    void (*mutate)(CnnTrainSpec*, JobSpec*);
    const char* message;
  };
  const Case cases[] = {
      {[](CnnTrainSpec* c, JobSpec*) { c->set_model("lenet5"); },
       "cnn_train: set model ('lenet5') or model_spec, not both"},
      {[](CnnTrainSpec* c, JobSpec*) {
         c->mutable_model_spec()->mutable_layers(4)->set_out(84);
       },
       "cnn_train.model_spec: the model outputs 84 values per image but the "
       "data has 10 classes (end with a LINEAR of out 10)"},
      {[](CnnTrainSpec* c, JobSpec*) {
         c->mutable_model_spec()->mutable_layers(0)->set_kernel(29);
       },
       "cnn_train.model_spec.layers[0] (CONV) got 1x28x28: kernel 29 is "
       "larger than the padded 28x28 input"},
      {[](CnnTrainSpec* c, JobSpec*) {
         c->mutable_data()->set_cifar10_dir("/cifar");
         c->mutable_data()->clear_mnist_dir();
       },
       "cnn_train: model model_spec takes 1x28x28 images but "
       "data.cifar10_dir holds CIFAR-10 3x32x32 images"},
      {[](CnnTrainSpec* c, JobSpec*) { c->set_batch_size(65536); },
       "cnn_train: the model's activations take 1715470336 bytes per conv "
       "worker at batch_size 65536, eval_batch 256; the limit is 10000000"},
  };
  JobLimits limits;
  limits.cnn_model.max_activation_bytes = 10000000;  // 6.7 MB at 256
  for (const Case& c : cases) {
    JobSpec bad = spec;
    c.mutate(bad.mutable_cnn_train(), &bad);
    absl::Status s = Prepare(bad, limits);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.message;
    EXPECT_EQ(s.message(), c.message);
  }
}

TEST(CnnTrainJobTest, HugeModelIsRejectedBeforeAnythingIsAllocated) {
  // 4096x4096 image, LINEAR 65536 then 10: 1.1e12 parameters.
  JobSpec spec = Cnn([](CnnTrainSpec* c, JobSpec*) {
    CnnModelSpec* m = c->mutable_model_spec();
    m->set_channels(1);
    m->set_height(4096);
    m->set_width(4096);
    m->add_layers()->set_type(CnnLayerSpec::FLATTEN);
    m->add_layers()->set_type(CnnLayerSpec::LINEAR);
    m->mutable_layers(1)->set_out(65536);
    m->add_layers()->set_type(CnnLayerSpec::LINEAR);
    m->mutable_layers(2)->set_out(10);
  });
  absl::Status s = Prepare(spec);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(),
            "cnn_train.model_spec.layers[1] (LINEAR) got 16777216: the model "
            "reaches 1099511693312 parameters and 33619968 activation floats "
            "per image; the limits are 268435456 parameters and 1073741824 "
            "activation floats per image and part");
}

TEST(CnnTrainJobTest, SyntheticDataBytesAreBoundedByTheLimit) {
  JobSpec spec = Cnn([](CnnTrainSpec* c, JobSpec*) {
    c->mutable_data()->set_synthetic_train(1000);
    c->mutable_data()->set_synthetic_test(24);
  });
  JobLimits limits;
  limits.max_dataset_bytes = 1024 * 28 * 28 * 4;  // exactly 1024 images
  EXPECT_TRUE(Prepare(spec, limits).ok());
  limits.max_dataset_bytes -= 1;
  absl::Status s = Prepare(spec, limits);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(),
            "cnn_train.data: 1024 synthetic lenet5 images take 3211264 bytes "
            "per worker; the limit is 3211263 (coordinator flag "
            "--max_job_dataset_mb)");
}

}  // namespace
}  // namespace jobs
}  // namespace strata
