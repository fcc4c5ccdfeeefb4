// Prometheus export of a shard's tables, its memory budget, its checkpoint
// ledger (loaded, skipped and pruned checkpoints) and Saec compression
// statistics (docs/metrics.md). A pull collectable: every scrape reads the
// TableStore, so /metrics always shows exactly what ListTables and
// CompressionService.GetStats return.
#ifndef STRATA_SERVER_PS_PS_METRICS_H_
#define STRATA_SERVER_PS_PS_METRICS_H_

#include <cstdint>
#include <vector>

#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"
#include "server/storage/table_store.h"

namespace strata {

// Thread-safe (TableStore is). Does not own the store, which must outlive
// it; the owner registers it with MetricsRegistry::AddCollectable.
class TableStoreCollectable final : public prometheus::Collectable {
 public:
  explicit TableStoreCollectable(const TableStore* store) : store_(store) {}
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const TableStore* const store_;
};

}  // namespace strata

#endif  // STRATA_SERVER_PS_PS_METRICS_H_
