#include "worker/internal/device_query.h"

#include "gtest/gtest.h"

namespace strata {
namespace {

TEST(DeviceQueryTest, CpuBuildReportsFailedPreconditionNamingTheFix) {
  if (BuiltWithCuda()) GTEST_SKIP() << "CUDA build: covered by the next test";
  auto devices = ListCudaDevices();
  ASSERT_FALSE(devices.ok());
  EXPECT_EQ(devices.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(devices.status().message().find("--config=cuda"),
            absl::string_view::npos);
}

TEST(DeviceQueryTest, CudaBuildListsDevicesWithSaneProperties) {
  if (!BuiltWithCuda()) GTEST_SKIP() << "built without CUDA (--config=cuda)";
  auto devices = ListCudaDevices();
  ASSERT_TRUE(devices.ok()) << devices.status();
  if (devices->empty()) GTEST_SKIP() << "no CUDA device on this machine";
  for (const GpuInfo& g : *devices) {
    EXPECT_FALSE(g.name.empty());
    EXPECT_GE(g.compute_major, 7);
    EXPECT_GT(g.total_memory_bytes, uint64_t{1} << 30);
    EXPECT_GT(g.multiprocessors, 0);
  }
}

}  // namespace
}  // namespace strata
