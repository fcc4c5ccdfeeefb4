// The binary format of one checkpoint shard file, version 4: the constants
// and rules the writer (checkpoint_writer.h) and the reader
// (checkpoint_reader.h) share. docs/checkpoint.md specifies it byte by byte;
// checkpoint_format_test.cc pins that specification.
//
//   file    = header | section* | end marker | footer
//   header  = magic "STRATACK" (8 bytes, no NUL) | u32 version | u32 shard id
//             | u32 shard count | u64 checkpoint id              (28 bytes)
//   section = u8 kind (CheckpointSection) | kind-specific body
//   end     = u8 0xFF | u32 sections before it | u64 sparse rows in the file
//   footer  = u32 CRC-32C of every byte before it (crc32c::Extend from 0)
//
// All integers are little-endian, floats IEEE-754 binary32 little-endian, no
// padding. Sections are written sparse tables (by name), compressed tables,
// dense tensors (by name), then the push windows; readers do not rely on
// the order (except that a compressed table's growth section follows its
// compressed section, 0x03 or 0x05). A reader checks the CRC before it
// interprets anything else, and bounds-checks every length. Version 2 added
// the push-window section, version 3 the compressed section with a
// serialized key index (0x05) and the compressed-growth section (0x06),
// version 4 the stored-cluster list of compressed fields (a cluster-wide
// table's shard stores only the clusters it homes); older files are read
// as before.
#ifndef STRATA_SERVER_STORAGE_CHECKPOINT_FORMAT_H_
#define STRATA_SERVER_STORAGE_CHECKPOINT_FORMAT_H_

#include <cstddef>
#include <cstdint>

#include "absl/base/config.h"

#ifdef ABSL_IS_BIG_ENDIAN
#error "checkpoint files are little-endian; big-endian hosts are not supported"
#endif

namespace strata {

inline constexpr char kCheckpointMagic[] = "STRATACK";  // 8 bytes, no NUL
inline constexpr size_t kCheckpointMagicBytes = 8;
// The version the writer writes. A reader accepts every version from
// kOldestCheckpointFormatVersion to this one and rejects others with
// FAILED_PRECONDITION; a version that adds section kinds bumps this number.
inline constexpr uint32_t kCheckpointFormatVersion = 4;
inline constexpr uint32_t kOldestCheckpointFormatVersion = 1;

// The kind byte that starts each section.
enum class CheckpointSection : uint8_t {
  // TableConfig | u32 dim | u32 state floats per row | u32 blocks, then per
  // block a u64 row count and its rows (key, frequency, step, values,
  // state).
  kSparse = 0x01,
  // DenseConfig | i64 step | u64 n, n values | u64 m, m state floats.
  kDense = 0x02,
  // TableConfig | SaecConfig | u32 dim | u32 state floats | u32 fields, then
  // per field: id, FieldStats, k, n, (version 4) u32 r stored clusters and,
  // when r < k (cluster-wide tables only), their r increasing u32 ids; r
  // centroids, fallback, per-row state and steps (the fallback's last), n
  // (u64 key, u32 cluster) pairs. Before version 4, r = k.
  kCompressed = 0x03,
  // Version 2. The shard's push windows (push_dedup.h), at most one
  // section: u32 words per window W | u32 clients C, then per client u64
  // client id | u64 highest sequence | W u64 words (bit b of word w:
  // sequence highest - (64 w + b) was applied).
  kPushWindows = 0x04,
  // Version 3. A compressed table whose key index stores no keys (SaecConfig
  // MPH): as kCompressed, but each field ends with u64 L and L bytes of its
  // serialized index (compression::KeyIndex::Serialize) instead of the n
  // (key, cluster) pairs.
  kCompressedMph = 0x05,
  // Version 3. The growth of the compressed table of the kCompressed
  // section just before it (compressed_table.h, CompressedGrowth), at most
  // one per table: table name | u32 dim | u32 state floats | u32 fields,
  // then per field u32 id | u32 slots (stored clusters + 1) | slots u64
  // frequencies | u64 n | n (u64 key, u32 cluster) folded keys; then u64
  // overflow rows and the rows as in kSparse (key, frequency, step, values,
  // state).
  kCompressedGrowth = 0x06,
  kEnd = 0xFF,
};

// magic + version + shard id + shard count + checkpoint id.
inline constexpr size_t kShardFileHeaderBytes =
    kCheckpointMagicBytes + 4 + 4 + 4 + 8;
inline constexpr size_t kShardFileFooterBytes = 4;  // CRC-32C
// The fixed part of a sparse row: key + frequency + step.
inline constexpr size_t kSparseRowPrefixBytes = 8 + 8 + 8;
// One index entry of a compressed field: u64 key + u32 cluster.
inline constexpr size_t kCompressedIndexEntryBytes = 8 + 4;

// Identifies one shard file; stored in its header and checked on reading
// against the identity its path names (checkpoint_filename.h).
struct ShardFileHeader {
  uint32_t shard_id = 0;
  uint32_t num_shards = 1;
  uint64_t checkpoint_id = 0;
};

}  // namespace strata

#endif  // STRATA_SERVER_STORAGE_CHECKPOINT_FORMAT_H_
