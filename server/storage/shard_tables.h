// The tables of one shard by name, as TableStore holds them and the
// checkpoint loader builds them. Sparse tables, compressed tables and dense
// tensors share one namespace.
#ifndef STRATA_SERVER_STORAGE_SHARD_TABLES_H_
#define STRATA_SERVER_STORAGE_SHARD_TABLES_H_

#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "server/storage/compressed_table.h"
#include "server/storage/dense_table.h"
#include "server/storage/sparse_table.h"

namespace strata {

// One named table; exactly one member is set. Shared so that a request can
// finish on a table that a Drop or a Load has just replaced.
struct ShardTable {
  std::shared_ptr<SparseTable> sparse;
  std::shared_ptr<DenseTable> dense;
  std::shared_ptr<CompressedTable> compressed;
};

using ShardTables = absl::flat_hash_map<std::string, ShardTable>;

}  // namespace strata

#endif  // STRATA_SERVER_STORAGE_SHARD_TABLES_H_
