#include "server/storage/checkpoint_format.h"

#include <cstring>
#include <string>

#include "gtest/gtest.h"
#include "server/storage/checkpoint_filename.h"
#include "server/storage/checkpoint_writer.h"
#include "server/storage/internal/checkpoint_testing.h"
#include "server/storage/internal/crc32c.h"

namespace strata {
namespace {

using internal::CheckpointTestDir;
using internal::ReadRaw;

// The little-endian T at byte `at` of `f`.
template <typename T>
T At(const std::string& f, size_t at) {
  T v;
  std::memcpy(&v, f.data() + at, sizeof(T));
  return v;
}

TEST(CheckpointFormatTest, ConstantsMatchTheDocumentation) {
  EXPECT_EQ(std::string(kCheckpointMagic), "STRATACK");
  EXPECT_EQ(sizeof(kCheckpointMagic) - 1, kCheckpointMagicBytes);
  EXPECT_EQ(kCheckpointFormatVersion, 4u);
  EXPECT_EQ(kOldestCheckpointFormatVersion, 1u);
  EXPECT_EQ(kShardFileHeaderBytes, 28u);
  EXPECT_EQ(kShardFileFooterBytes, 4u);
  EXPECT_EQ(static_cast<int>(CheckpointSection::kSparse), 0x01);
  EXPECT_EQ(static_cast<int>(CheckpointSection::kDense), 0x02);
  EXPECT_EQ(static_cast<int>(CheckpointSection::kCompressed), 0x03);
  EXPECT_EQ(static_cast<int>(CheckpointSection::kPushWindows), 0x04);
  EXPECT_EQ(static_cast<int>(CheckpointSection::kCompressedMph), 0x05);
  EXPECT_EQ(static_cast<int>(CheckpointSection::kCompressedGrowth), 0x06);
  EXPECT_EQ(kPushWindowWords, 64u);
  EXPECT_EQ(static_cast<int>(CheckpointSection::kEnd), 0xFF);
}

// Pins the byte layout documented in docs/checkpoint.md.
TEST(CheckpointFormatTest, FileLayoutMatchesTheDocumentation) {
  const std::string dir = CheckpointTestDir();
  const std::string path = JoinPath(dir, ShardFileName(2, 3));
  TableConfig config;
  config.set_name("t");
  config.set_dim(2);
  config.mutable_optimizer()->set_learning_rate(1.0f);
  SparseTable::Options o;
  o.num_stripes = 1;
  auto table = *SparseTable::Create(config, o);
  ASSERT_TRUE(table->Push({7}, {-1.0f, -2.0f}).ok());  // row {1, 2}
  ShardFileHeader header{2, 3, 9};
  const SparseTable* t = table.get();
  ASSERT_TRUE(
      WriteShardFile(DefaultEnv(), path, header, {&t, 1}, {}, 4096).ok());
  const std::string f = ReadRaw(path);
  const std::string cfg = config.SerializeAsString();
  auto u32 = [&](size_t at) { return At<uint32_t>(f, at); };
  auto u64 = [&](size_t at) { return At<uint64_t>(f, at); };
  auto f32 = [&](size_t at) { return At<float>(f, at); };
  const size_t row_bytes = 8 + 8 + 8 + 2 * 4;  // SGD: no state
  ASSERT_EQ(f.size(),
            28 + (1 + 4 + cfg.size() + 12 + 8 + row_bytes) + (1 + 4 + 8) + 4);
  EXPECT_EQ(f.substr(0, 8), "STRATACK");
  EXPECT_EQ(u32(8), 4u);   // version
  EXPECT_EQ(u32(12), 2u);  // shard id
  EXPECT_EQ(u32(16), 3u);  // shard count
  EXPECT_EQ(u64(20), 9u);  // checkpoint id
  size_t at = 28;
  EXPECT_EQ(f[at], '\x01');  // sparse section
  EXPECT_EQ(u32(at + 1), cfg.size());
  EXPECT_EQ(f.substr(at + 5, cfg.size()), cfg);
  at += 5 + cfg.size();
  EXPECT_EQ(u32(at), 2u);       // dim
  EXPECT_EQ(u32(at + 4), 0u);   // state floats per row
  EXPECT_EQ(u32(at + 8), 1u);   // blocks (stripes)
  EXPECT_EQ(u64(at + 12), 1u);  // rows in block 0
  at += 20;
  EXPECT_EQ(u64(at), 7u);       // key
  EXPECT_EQ(u64(at + 8), 1u);   // frequency
  EXPECT_EQ(u64(at + 16), 1u);  // step
  EXPECT_EQ(f32(at + 24), 1.0f);
  EXPECT_EQ(f32(at + 28), 2.0f);
  at += row_bytes;
  EXPECT_EQ(f[at], '\xff');    // end marker
  EXPECT_EQ(u32(at + 1), 1u);  // sections
  EXPECT_EQ(u64(at + 5), 1u);  // rows
  EXPECT_EQ(u32(at + 13), crc32c::Extend(0, f.data(), f.size() - 4));
}

// Pins the push-window section (docs/checkpoint.md, "Push windows").
TEST(CheckpointFormatTest, PushWindowLayoutMatchesTheDocumentation) {
  const std::string dir = CheckpointTestDir();
  const std::string path = JoinPath(dir, ShardFileName(0, 1));
  PushDedup dedup({});
  for (uint64_t s : {3, 70}) {
    ASSERT_TRUE(
        dedup.ApplyOnce({0xabcd, s}, true, [] { return absl::OkStatus(); })
            .ok());
  }
  ShardFileHeader header{0, 1, 9};
  ASSERT_TRUE(
      WriteShardFile(DefaultEnv(), path, header, {}, {}, 4096, {}, &dedup)
          .ok());
  const std::string f = ReadRaw(path);
  auto u32 = [&](size_t at) { return At<uint32_t>(f, at); };
  auto u64 = [&](size_t at) { return At<uint64_t>(f, at); };
  ASSERT_EQ(f.size(), 28 + (1 + 4 + 4 + 8 + 8 + 64 * 8) + (1 + 4 + 8) + 4);
  size_t at = 28;
  EXPECT_EQ(f[at], '\x04');     // push-window section
  EXPECT_EQ(u32(at + 1), 64u);  // words per window
  EXPECT_EQ(u32(at + 5), 1u);   // clients
  EXPECT_EQ(u64(at + 9), 0xabcdu);
  EXPECT_EQ(u64(at + 17), 70u);               // highest sequence
  EXPECT_EQ(u64(at + 25), 1u);                // word 0: offset 0 (sequence 70)
  EXPECT_EQ(u64(at + 33), uint64_t{1} << 3);  // word 1: offset 67 (3)
  for (size_t w = 2; w < 64; ++w) EXPECT_EQ(u64(at + 25 + 8 * w), 0u) << w;
  at += 25 + 64 * 8;
  EXPECT_EQ(f[at], '\xff');    // end marker
  EXPECT_EQ(u32(at + 1), 1u);  // sections: the window section counts
}

// Pins the compressed section with an MPH key index (docs/checkpoint.md,
// "Compressed table section with a serialized key index", versions 3-4).
TEST(CheckpointFormatTest, MphCompressedLayoutMatchesTheDocumentation) {
  const std::string dir = CheckpointTestDir();
  const std::string path = JoinPath(dir, ShardFileName(0, 1));
  auto table =
      internal::CompressedWithState(0.5f, compression::IndexLayout::kMph);
  ASSERT_NE(table, nullptr);
  const CompressedTable* t = table.get();
  ASSERT_TRUE(WriteShardFile(DefaultEnv(), path, ShardFileHeader{0, 1, 9}, {},
                             {}, 4096, {&t, 1})
                  .ok());
  const std::string f = ReadRaw(path);
  auto u32 = [&](size_t at) { return At<uint32_t>(f, at); };
  auto u64 = [&](size_t at) { return At<uint64_t>(f, at); };
  EXPECT_EQ(u32(8), 4u);  // version
  size_t at = 28;
  EXPECT_EQ(f[at], '\x05');
  at += 1;
  at += 4 + u32(at);           // TableConfig
  at += 4 + u32(at);           // SaecConfig
  EXPECT_EQ(u32(at), 3u);      // dim
  EXPECT_EQ(u32(at + 4), 3u);  // state floats (Adagrad)
  EXPECT_EQ(u32(at + 8), 1u);  // fields
  at += 12;
  EXPECT_EQ(u32(at), 1u);  // field id
  at += 4;
  at += 4 + u32(at);           // FieldStats
  EXPECT_EQ(u32(at), 2u);       // k
  EXPECT_EQ(u64(at + 4), 2u);   // n
  EXPECT_EQ(u32(at + 12), 2u);  // stored clusters: all (no ids follow)
  at += 16;
  at += 4 * (2 * 3 + 3 + 3 * 3) + 8 * 3;  // centroids, fallback, state, steps
  const uint64_t len = u64(at);
  at += 8;
  EXPECT_EQ(u32(at), 8u);      // fingerprint bits
  EXPECT_EQ(u32(at + 4), 1u);  // value width: clusters < 2
  EXPECT_EQ(u64(at + 8), 2u);  // n
  const uint64_t mph = u64(at + 16);
  EXPECT_EQ(len, 24 + mph + 8 + 8);  // one word of values, one of prints
  at += len;
  EXPECT_EQ(f[at], '\xff');    // end marker
  EXPECT_EQ(u32(at + 1), 1u);  // sections
  EXPECT_EQ(u64(at + 5), 2u);  // rows: n per field
  EXPECT_EQ(at + 13 + 4, f.size());
}

}  // namespace
}  // namespace strata
