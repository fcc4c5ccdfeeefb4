#include "worker/nn/tensor.h"

#include "gtest/gtest.h"
#include "worker/nn/cpu_backend.h"

namespace strata {
namespace nn {
namespace {

TEST(TensorTest, RoundTripsHostValues) {
  CpuBackend cpu;
  auto t = Tensor::FromHost(&cpu, {2, 3}, {1, 2, 3, 4, 5, 6});
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->size(), 6);
  EXPECT_EQ(ShapeToString(t->shape()), "[2,3]");
  EXPECT_EQ(*t->ToHost(), (std::vector<float>{1, 2, 3, 4, 5, 6}));
}

TEST(TensorTest, EnsureShapeReusesStorageWhenItFits) {
  CpuBackend cpu;
  auto t = Tensor::Zeros(&cpu, {4, 8});
  ASSERT_TRUE(t.ok());
  const float* before = t->data();
  ASSERT_TRUE(t->EnsureShape(&cpu, {2, 8}).ok());
  EXPECT_EQ(t->data(), before);
  EXPECT_EQ(t->size(), 16);
  ASSERT_TRUE(t->EnsureShape(&cpu, {4, 8}).ok());
  EXPECT_EQ(t->data(), before);
}

TEST(TensorTest, RejectsNegativeDimsAndSizeMismatches) {
  CpuBackend cpu;
  EXPECT_EQ(Tensor::Zeros(&cpu, {2, -1}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Tensor::FromHost(&cpu, {2, 2}, {1, 2, 3}).status().code(),
            absl::StatusCode::kInvalidArgument);
  auto a = Tensor::Zeros(&cpu, {3});
  auto b = Tensor::Zeros(&cpu, {4});
  EXPECT_EQ(a->CopyFrom(*b).code(), absl::StatusCode::kInvalidArgument);
}

TEST(TensorTest, MoveTransfersOwnership) {
  CpuBackend cpu;
  auto t = Tensor::FromHost(&cpu, {2}, {7, 8});
  Tensor moved = std::move(*t);
  EXPECT_TRUE(t->empty());
  EXPECT_EQ(*moved.ToHost(), (std::vector<float>{7, 8}));
}

}  // namespace
}  // namespace nn
}  // namespace strata
