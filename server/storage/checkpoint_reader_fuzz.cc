// Fuzz target: the checkpoint shard-file reader (checkpoint_reader.h), the
// bytes a shard trusts most at start-up. Input: one flag byte, then the
// file's body (the sections and end marker between header and footer).
// Flag bit 0 set: the target writes a correct header (shard 0 of 1,
// checkpoint 7); bit 1 set: a correct CRC-32C footer, so the fuzzer reaches
// the section parser instead of stopping at the checksum. Checked besides
// "no crash, no sanitizer report": every refusal is DATA_LOSS or
// FAILED_PRECONDITION, and what the reader hands the visitor is consistent
// (row and tensor spans of the sizes the table configs promise).
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "server/storage/checkpoint_format.h"
#include "server/storage/checkpoint_reader.h"
#include "server/storage/internal/crc32c.h"
#include "server/util/env.h"

namespace {

using strata::CheckpointVisitor;

// Checks the spans against the current table's config.
class CheckingVisitor final : public CheckpointVisitor {
 public:
  absl::Status OnSparseTable(const strata::TableConfig& config) override {
    dim_ = config.dim();
    return absl::OkStatus();
  }
  absl::Status OnSparseRow(uint64_t, uint64_t, int64_t,
                           absl::Span<const float> values,
                           absl::Span<const float>) override {
    CHECK_EQ(values.size(), dim_) << "row values do not match the dim";
    return absl::OkStatus();
  }
  absl::Status OnDenseTensor(const strata::DenseConfig& config, int64_t,
                             absl::Span<const float> values,
                             absl::Span<const float>) override {
    CHECK_EQ(values.size(), config.size()) << "tensor size mismatch";
    return absl::OkStatus();
  }
  // Folded keys pair with clusters; the overflow rows' spans are whole rows.
  absl::Status OnCompressedGrowth(const std::string&,
                                  strata::CompressedGrowth g) override {
    for (const auto& f : g.fields) {
      CHECK_EQ(f.folded_keys.size(), f.folded_clusters.size());
    }
    CHECK_EQ(g.frequency.size(), g.keys.size());
    CHECK_EQ(g.steps.size(), g.keys.size());
    if (!g.keys.empty()) {
      CHECK_EQ(g.values.size() % g.keys.size(), 0u);
      CHECK_EQ(g.state.size() % g.keys.size(), 0u);
    }
    return absl::OkStatus();
  }
  // Compressed sections (0x03 pairs, 0x05 serialized MPH index): every
  // lookup answers a cluster in range or none, and the state sizes match.
  absl::Status OnCompressedTable(
      const strata::TableConfig&, const strata::SaecConfig&,
      std::vector<strata::CompressedFieldState> fields) override {
    for (const strata::CompressedFieldState& f : fields) {
      const uint32_t k = f.vectors.num_clusters();
      CHECK_EQ(f.steps.size(), f.vectors.num_rows() + 1) << "cluster steps";
      CHECK_LE(f.vectors.num_rows(), k) << "stored clusters";
      for (uint64_t key = 0; key < 64; ++key) {
        for (uint64_t probe : {key, key | (uint64_t{f.field} << 56)}) {
          const std::optional<uint32_t> c = f.vectors.ClusterOf(probe);
          CHECK(!c.has_value() || *c < k) << "cluster out of range";
        }
      }
    }
    return absl::OkStatus();
  }

 private:
  size_t dim_ = 0;
};

void PutU32(std::string* s, uint32_t v) {
  for (int i = 0; i < 4; ++i) s->push_back(static_cast<char>(v >> (8 * i)));
}
void PutU64(std::string* s, uint64_t v) {
  for (int i = 0; i < 8; ++i) s->push_back(static_cast<char>(v >> (8 * i)));
}

std::string ScratchPath() {
  const char* dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
  return absl::StrCat(dir, "/strata_ckpt_fuzz_", getpid(), ".ckpt");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t flags = data[0];
  std::string file;
  if (flags & 1) {
    file.append(strata::kCheckpointMagic, strata::kCheckpointMagicBytes);
    PutU32(&file, strata::kCheckpointFormatVersion);
    PutU32(&file, 0);  // shard id
    PutU32(&file, 1);  // shard count
    PutU64(&file, 7);  // checkpoint id
  }
  file.append(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (flags & 2) PutU32(&file, strata::crc32c::Value(file));
  static const std::string path = ScratchPath();
  FILE* f = std::fopen(path.c_str(), "wb");
  CHECK(f != nullptr) << path;
  CHECK_EQ(std::fwrite(file.data(), 1, file.size(), f), file.size());
  std::fclose(f);
  strata::ShardFileHeader expected;
  expected.shard_id = 0;
  expected.num_shards = 1;
  expected.checkpoint_id = 7;
  CheckingVisitor visitor;
  const absl::Status s =
      strata::ReadShardFile(strata::DefaultEnv(), path, expected, &visitor);
  CHECK(s.ok() || absl::IsDataLoss(s) || absl::IsFailedPrecondition(s)) << s;
  std::remove(path.c_str());
  return 0;
}
