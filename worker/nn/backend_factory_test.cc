#include "worker/nn/backend_factory.h"

#include "gtest/gtest.h"
#include "worker/nn/cuda/cuda_backend.h"

namespace strata {
namespace nn {
namespace {

TEST(CreateBackendTest, CpuIsAlwaysAvailable) {
  auto b = CreateBackend("cpu");
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ((*b)->Name(), "cpu");
  EXPECT_FALSE((*b)->IsGpu());
}

TEST(CreateBackendTest, MalformedDeviceIsInvalidArgument) {
  EXPECT_EQ(CreateBackend("tpu:0").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(CreateBackendTest, GpuWithoutCudaBuildIsFailedPreconditionNamingTheFix) {
  if (CudaBackendBuilt()) GTEST_SKIP() << "CUDA build: covered below";
  auto b = CreateBackend("gpu:0");
  ASSERT_EQ(b.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(b.status().message().find("--config=cuda"), absl::string_view::npos);
}

TEST(CreateBackendTest, GpuWithoutDeviceOrOutOfRangeIsRejected) {
  if (!CudaBackendBuilt()) GTEST_SKIP() << "built without CUDA (--config=cuda)";
  auto count = CudaDeviceCount();
  ASSERT_TRUE(count.ok()) << count.status();
  if (*count == 0) {
    EXPECT_EQ(CreateBackend("gpu:0").status().code(),
              absl::StatusCode::kFailedPrecondition);
    return;
  }
  EXPECT_EQ(CreateBackend("gpu:" + std::to_string(*count)).status().code(),
            absl::StatusCode::kInvalidArgument);
  auto b = CreateBackend("gpu:0");
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_TRUE((*b)->IsGpu());
}

}  // namespace
}  // namespace nn
}  // namespace strata
