#include "server/jobs/device.h"

#include "gtest/gtest.h"

namespace strata {
namespace jobs {
namespace {

TEST(ParseDeviceNameTest, AcceptsCpuAndGpuIndices) {
  EXPECT_FALSE(ParseDeviceName("cpu")->gpu);
  absl::StatusOr<DeviceName> gpu = ParseDeviceName("gpu:3");
  ASSERT_TRUE(gpu.ok());
  EXPECT_TRUE(gpu->gpu);
  EXPECT_EQ(gpu->gpu_index, 3);
  EXPECT_EQ(gpu->ToString(), "gpu:3");
  EXPECT_EQ(ParseDeviceName("gpu:1023")->gpu_index, 1023);
  EXPECT_EQ(ParseDeviceName("gpu:007")->ToString(), "gpu:7");
}

TEST(ParseDeviceNameTest, RejectsSignsSpacesAndOutOfRangeIndices) {
  // "gpu:+1" was accepted by the coordinator and refused by the worker
  // before both used this parser.
  for (const char* bad : {"gpu:+1", "gpu:-1", "gpu: 1", "gpu:", "gpu",
                          "GPU:0", "cpu:0", "tpu:0", "gpu:1024", "gpu:99999",
                          "gpu:1x", "", " cpu"}) {
    absl::StatusOr<DeviceName> d = ParseDeviceName(bad);
    EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_EQ(ParseDeviceName("tpu:0").status().message(),
            "bad device \"tpu:0\": expected \"cpu\" or \"gpu:N\" "
            "(0 <= N <= 1023)");
}

}  // namespace
}  // namespace jobs
}  // namespace strata
