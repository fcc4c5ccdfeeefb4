#include "server/storage/internal/crc32c.h"

#include <string>

#include "gtest/gtest.h"

namespace strata {
namespace {

// Check values from RFC 3720 (iSCSI) appendix B.4 and the common "123456789"
// test vector.
TEST(Crc32cTest, MatchesPublishedCheckValues) {
  EXPECT_EQ(crc32c::Value(""), 0u);
  EXPECT_EQ(crc32c::Value("123456789"), 0xE3069283u);
  EXPECT_EQ(crc32c::Value(std::string(32, '\0')), 0x8A9136AAu);
  EXPECT_EQ(crc32c::Value(std::string(32, '\xff')), 0x62A8AB43u);
  std::string ascending(32, '\0');
  for (int i = 0; i < 32; ++i) ascending[i] = static_cast<char>(i);
  EXPECT_EQ(crc32c::Value(ascending), 0x46DD794Eu);
}

TEST(Crc32cTest, PortableAndHardwarePathsAgree) {
  std::string data(10007, '\0');
  uint32_t x = 1;
  for (char& c : data) {
    x = x * 1103515245u + 12345u;
    c = static_cast<char>(x >> 16);
  }
  for (size_t len : {0u, 1u, 7u, 8u, 9u, 63u, 64u, 1000u, 10007u}) {
    for (size_t offset : {0u, 1u, 3u}) {
      if (offset + len > data.size()) continue;
      EXPECT_EQ(crc32c::Extend(0, data.data() + offset, len),
                crc32c::ExtendPortable(0, data.data() + offset, len))
          << len << " " << offset;
    }
  }
}

TEST(Crc32cTest, ExtendingInPiecesEqualsOneShot) {
  const std::string data = "The quick brown fox jumps over the lazy dog";
  const uint32_t whole = crc32c::Value(data);
  for (size_t split = 0; split <= data.size(); ++split) {
    uint32_t crc = crc32c::Extend(0, data.data(), split);
    crc = crc32c::Extend(crc, data.data() + split, data.size() - split);
    EXPECT_EQ(crc, whole) << split;
  }
  EXPECT_EQ(whole, 0x22620404u);
}

TEST(Crc32cTest, DetectsASingleFlippedBit) {
  std::string data(4096, 'a');
  const uint32_t before = crc32c::Value(data);
  data[1234] ^= 0x10;
  EXPECT_NE(crc32c::Value(data), before);
}

}  // namespace
}  // namespace strata
