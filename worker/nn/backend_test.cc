#include "worker/nn/backend.h"

#include "gtest/gtest.h"

namespace strata {
namespace nn {
namespace {

TEST(ParseDeviceTest, AcceptsCpuAndGpuIndex) {
  auto cpu = ParseDevice("cpu");
  ASSERT_TRUE(cpu.ok());
  EXPECT_EQ(cpu->kind, DeviceSpec::Kind::kCpu);
  EXPECT_EQ(cpu->ToString(), "cpu");
  auto gpu = ParseDevice("gpu:3");
  ASSERT_TRUE(gpu.ok());
  EXPECT_EQ(gpu->kind, DeviceSpec::Kind::kGpu);
  EXPECT_EQ(gpu->gpu_index, 3);
  EXPECT_EQ(gpu->ToString(), "gpu:3");
}

TEST(ParseDeviceTest, RejectsMalformedStringsWithInvalidArgument) {
  for (const char* bad : {"", "CPU", "gpu", "gpu:", "gpu:-1", "gpu:+1",
                          "gpu:x", "gpu:1.5", "cuda:0", "cpu:0"}) {
    auto s = ParseDevice(bad);
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(ConvGeometryTest, OutputSizeAccountsForStrideAndPadding) {
  ConvGeometry g;
  g.h = 7;
  g.w = 6;
  g.kh = g.kw = 3;
  g.stride = 2;
  g.pad = 1;
  EXPECT_EQ(g.OutH(), 4);
  EXPECT_EQ(g.OutW(), 3);
}

}  // namespace
}  // namespace nn
}  // namespace strata
