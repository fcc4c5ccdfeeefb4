// Writes the seed corpus of //server/storage:checkpoint_reader_fuzz: real
// shard files from the writer (sparse SGD and Adagrad tables, a dense Adam
// tensor, push windows, compressed tables with the compact (0x03) and MPH
// (0x05) key index, one with growth after compression (0x06), a
// cluster-wide one that stores only its homed clusters (format 4), an empty
// file), as the fuzz target's input (flag byte 3, then the body between
// header and footer), plus a truncated and a bit-flipped one.
//   bazel run //server/storage:checkpoint_reader_fuzz_seeds --
//   $PWD/server/storage/testdata/checkpoint_reader_fuzz_corpus
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "compression/compressed_field.h"
#include "glog/logging.h"
#include "server/router/router.h"
#include "server/storage/checkpoint_format.h"
#include "server/storage/checkpoint_writer.h"
#include "server/storage/compressed_table.h"
#include "server/storage/dense_table.h"
#include "server/storage/push_dedup.h"
#include "server/storage/sparse_table.h"
#include "server/util/env.h"

namespace strata {
namespace {

std::unique_ptr<SparseTable> Sparse(const std::string& name,
                                    OptimizerConfig::Type type, int rows) {
  TableConfig c;
  c.set_name(name);
  c.set_dim(3);
  c.mutable_optimizer()->set_type(type);
  c.mutable_optimizer()->set_learning_rate(0.1f);
  auto t = SparseTable::Create(c);
  CHECK(t.ok()) << t.status();
  const size_t state = (*t)->state_floats_per_row();
  for (int i = 0; i < rows; ++i) {
    const float v = 0.5f * i;
    CHECK((*t)->InsertRow(i + 1, {v, -v, 1.0f}, std::vector<float>(state, 0.25f),
                          i, i + 2)
              .ok());
  }
  return *std::move(t);
}

// A 2-dim SGD compressed table of one field (field 1) with 300 keys in 3
// clusters, indexed with `layout`.
std::unique_ptr<CompressedTable> Compressed(compression::IndexLayout layout) {
  TableConfig c;
  c.set_name("cmp");
  c.set_dim(2);
  c.mutable_optimizer()->set_learning_rate(0.1f);
  std::vector<uint64_t> keys;
  std::vector<uint32_t> clusters;
  for (uint64_t i = 0; i < 300; ++i) {
    keys.push_back((uint64_t{1} << 56) | i);
    clusters.push_back(static_cast<uint32_t>(i % 3));
  }
  compression::KeyIndexOptions index;
  index.layout = layout;
  auto field = compression::CompressedField::Create(
      2, {1, 2, 3, 4, 5, 6}, {0, 0}, keys, clusters, index);
  CHECK(field.ok()) << field.status();
  std::vector<CompressedFieldState> fields;
  fields.push_back(
      CompressedFieldState{1, *std::move(field), {}, {0, 0, 0, 0}, {}});
  SaecConfig saec;
  saec.set_index_layout(layout == compression::IndexLayout::kMph
                            ? SaecConfig::MPH
                            : SaecConfig::COMPACT);
  auto t = CompressedTable::Restore(c, saec, std::move(fields), {});
  CHECK(t.ok()) << t.status();
  return *std::move(t);
}

// Cluster-wide: 2 shards, the half of 300 field-1 keys shard 0 owns,
// assigned to 4 given centroids; shard 0 stores only the clusters it
// homes (a trimmed field: format 4's stored-cluster ids).
std::unique_ptr<CompressedTable> ClusterWide(const ShardRouter* router) {
  TableConfig c;
  c.set_name("cw");
  c.set_dim(2);
  c.mutable_optimizer()->set_learning_rate(0.1f);
  auto plain = SparseTable::Create(c, SparseTable::Options());
  CHECK(plain.ok()) << plain.status();
  for (uint64_t i = 0; i < 300; ++i) {
    const uint64_t key = (uint64_t{1} << 56) | i;
    if (router->ShardForKey(key) != 0) continue;
    const float v = static_cast<float>(i % 4);
    CHECK((*plain)->InsertRow(key, {v, -v}, {}, 0, 1 + i % 3).ok());
  }
  SaecConfig saec;
  saec.set_clusters(4);
  saec.set_index_layout(SaecConfig::COMPACT);
  CompressedTable::Options o;
  o.router = router;
  FieldCentroidMap centroids;
  centroids[1] = {0, 0, 1, -1, 2, -2, 3, -3};
  auto t = CompressedTable::Compress(**plain, saec, o, centroids);
  CHECK(t.ok()) << t.status();
  bool trimmed = false;
  (*t)->VisitFields([&](const CompressedFieldState& f) {
    trimmed = trimmed || f.vectors.trimmed();
  });
  CHECK(trimmed) << "the seed must hold a field storing some clusters";
  return *std::move(t);
}

std::string Body(const std::string& path,
                 const std::vector<const SparseTable*>& sparse,
                 const std::vector<const DenseTable*>& dense,
                 PushDedup* dedup = nullptr,
                 const std::vector<const CompressedTable*>& compressed = {}) {
  ShardFileHeader header;
  header.shard_id = 0;
  header.num_shards = 1;
  header.checkpoint_id = 7;
  auto stats = WriteShardFile(DefaultEnv(), path, header, sparse, dense, 4096,
                              compressed, dedup);
  CHECK(stats.ok()) << stats.status();
  std::ifstream in(path, std::ios::binary);
  const std::string file((std::istreambuf_iterator<char>(in)),
                         std::istreambuf_iterator<char>());
  return file.substr(kShardFileHeaderBytes,
                     file.size() - kShardFileHeaderBytes - kShardFileFooterBytes);
}

void Seed(const std::string& dir, const std::string& name,
          const std::string& input) {
  std::ofstream(dir + "/" + name, std::ios::binary) << input;
}

}  // namespace
}  // namespace strata

int main(int argc, char** argv) {
  using namespace strata;
  CHECK_EQ(argc, 2) << "usage: checkpoint_reader_fuzz_seeds OUT_DIR";
  const std::string dir = argv[1];
  const std::string tmp = dir + "/.tmp.ckpt";
  auto sgd = Sparse("emb", OptimizerConfig::SGD, 3);
  auto ada = Sparse("ada", OptimizerConfig::ADAGRAD, 2);
  DenseConfig dc;
  dc.set_name("w");
  dc.set_size(4);
  dc.mutable_optimizer()->set_type(OptimizerConfig::ADAM);
  dc.mutable_optimizer()->set_learning_rate(0.01f);
  auto dense = DenseTable::Create(dc);
  CHECK(dense.ok()) << dense.status();
  const std::string flags(1, '\x03');
  const std::string all = Body(tmp, {sgd.get(), ada.get()}, {dense->get()});
  Seed(dir, "sparse_and_dense", flags + all);
  Seed(dir, "sparse_only", flags + Body(tmp, {sgd.get()}, {}));
  Seed(dir, "dense_only", flags + Body(tmp, {}, {dense->get()}));
  Seed(dir, "empty", flags + Body(tmp, {}, {}));
  PushDedup dedup({});
  for (uint64_t client : {1, 2}) {
    for (uint64_t s : {1, 2, 9}) {
      CHECK(dedup.ApplyOnce({client, s}, true, [] { return absl::OkStatus(); })
                .ok());
    }
  }
  Seed(dir, "push_windows", flags + Body(tmp, {sgd.get()}, {}, &dedup));
  Seed(dir, "truncated", flags + all.substr(0, all.size() / 2));
  std::string flipped = all;
  flipped[flipped.size() / 3] ^= 0x40;
  Seed(dir, "bit_flipped", flags + flipped);
  Seed(dir, "bad_crc", std::string(1, '\x01') + all);
  for (auto [layout, name] :
       {std::pair{compression::IndexLayout::kCompact, "compressed_compact"},
        std::pair{compression::IndexLayout::kMph, "compressed_mph"}}) {
    auto table = Compressed(layout);
    Seed(dir, name, flags + Body(tmp, {}, {}, nullptr, {table.get()}));
  }
  // Growth after compression (section 0x06): counted frequencies, keys
  // folded into the clusters and overflow rows of new keys.
  auto grown = Compressed(compression::IndexLayout::kMph);
  const auto fresh = [](uint64_t first) {
    return std::vector<uint64_t>{(uint64_t{1} << 56) | first,
                                 (uint64_t{1} << 56) | (first + 1)};
  };
  const std::vector<float> grads = {0.5f, -0.5f, 1.0f, 2.0f};
  CHECK(grown->Push(fresh(1000), grads).ok());
  CHECK(grown->Fold(1).ok());
  CHECK(grown->Push(fresh(2000), grads).ok());
  CHECK(grown->HasGrowth());
  Seed(dir, "compressed_grown",
       flags + Body(tmp, {}, {}, nullptr, {grown.get()}));
  const auto router = MakeHashRouter(2);
  auto cw = ClusterWide(router.get());
  const uint64_t home =
      ClusterKey(8, 1, cw->HomedCentroids().homed(0).ids(0));
  CHECK(cw->PushResolved({&home, 1}, {0.5f, 0.5f}).ok());
  Seed(dir, "compressed_cluster_wide",
       flags + Body(tmp, {}, {}, nullptr, {cw.get()}));
  std::remove(tmp.c_str());
  std::cout << "wrote 12 seeds to " << dir << "\n";
  return 0;
}
