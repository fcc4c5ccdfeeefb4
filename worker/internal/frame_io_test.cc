#include "worker/internal/frame_io.h"

#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "gtest/gtest.h"
#include "proto/task_process.pb.h"

namespace strata {
namespace internal {
namespace {

class FrameIoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds_), 0);
  }
  void TearDown() override {
    for (int fd : fds_) {
      if (fd >= 0) close(fd);
    }
  }
  void CloseWriter() {
    close(fds_[0]);
    fds_[0] = -1;
  }
  void WriteRaw(const std::string& bytes) {
    ASSERT_EQ(write(fds_[0], bytes.data(), bytes.size()),
              static_cast<ssize_t>(bytes.size()));
  }
  int fds_[2] = {-1, -1};
};

TaskProcessReport Progress(int64_t step) {
  TaskProcessReport r;
  r.mutable_progress()->set_step(step);
  r.mutable_progress()->set_total_steps(10);
  (*r.mutable_progress()->mutable_metrics())["loss"] = 0.5;
  return r;
}

TEST_F(FrameIoTest, FramesRoundTripInOrder) {
  ASSERT_TRUE(WriteFrame(fds_[0], Progress(1), 1 << 20).ok());
  ASSERT_TRUE(WriteFrame(fds_[0], Progress(2), 1 << 20).ok());
  TaskProcessReport got;
  ASSERT_TRUE(ReadFrame(fds_[1], 1 << 20, &got).ok());
  EXPECT_EQ(got.progress().step(), 1);
  EXPECT_EQ(got.progress().metrics().at("loss"), 0.5);
  ASSERT_TRUE(ReadFrame(fds_[1], 1 << 20, &got).ok());
  EXPECT_EQ(got.progress().step(), 2);
}

TEST_F(FrameIoTest, EmptyMessageIsAFrameOfZeroBytes) {
  ASSERT_TRUE(WriteFrame(fds_[0], TaskProcessReport(), 16).ok());
  CloseWriter();
  TaskProcessReport got = Progress(3);
  ASSERT_TRUE(ReadFrame(fds_[1], 16, &got).ok());
  EXPECT_FALSE(got.has_progress());
  EXPECT_EQ(ReadFrame(fds_[1], 16, &got).code(),
            absl::StatusCode::kOutOfRange);
}

TEST_F(FrameIoTest, CleanEndIsOutOfRange) {
  CloseWriter();
  TaskProcessReport got;
  EXPECT_EQ(ReadFrame(fds_[1], 1 << 20, &got).code(),
            absl::StatusCode::kOutOfRange);
}

TEST_F(FrameIoTest, EndInsideTheLengthIsDataLoss) {
  WriteRaw(std::string("\x05\x00", 2));
  CloseWriter();
  TaskProcessReport got;
  EXPECT_EQ(ReadFrame(fds_[1], 1 << 20, &got).code(),
            absl::StatusCode::kDataLoss);
}

TEST_F(FrameIoTest, EndInsideTheBodyIsDataLoss) {
  WriteRaw(std::string("\x05\x00\x00\x00\x08", 5));
  CloseWriter();
  TaskProcessReport got;
  absl::Status s = ReadFrame(fds_[1], 1 << 20, &got);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_NE(s.message().find("1 of 5 bytes"), std::string::npos) << s;
}

TEST_F(FrameIoTest, OversizedLengthIsDataLossBeforeReadingTheBody) {
  // Claims 4 GiB - 1; only the header is there, and nothing is allocated.
  WriteRaw(std::string("\xff\xff\xff\xff", 4));
  TaskProcessReport got;
  absl::Status s = ReadFrame(fds_[1], 1 << 20, &got);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_NE(s.message().find("exceeds the 1048576-byte limit"),
            std::string::npos)
      << s;
}

TEST_F(FrameIoTest, UnparseableBodyIsDataLoss) {
  WriteRaw(std::string("\x03\x00\x00\x00\xff\xff\xff", 7));
  TaskProcessReport got;
  EXPECT_EQ(ReadFrame(fds_[1], 1 << 20, &got).code(),
            absl::StatusCode::kDataLoss);
}

TEST_F(FrameIoTest, WritingPastTheLimitIsInvalidArgument) {
  EXPECT_EQ(WriteFrame(fds_[0], Progress(1), 4).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(FrameIoTest, WritingToAClosedPeerIsUnavailable) {
  close(fds_[1]);
  fds_[1] = -1;
  EXPECT_EQ(WriteFrame(fds_[0], Progress(1), 1 << 20).code(),
            absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace internal
}  // namespace strata
