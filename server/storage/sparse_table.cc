#include "server/storage/sparse_table.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <new>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "proto/base/status_macros.h"
#include "server/storage/initializer.h"
#include "server/storage/internal/key_index.h"
#include "server/storage/internal/validation.h"

namespace strata {

namespace {

// The rows of one stripe as fixed-size records in one growing, 64-byte
// aligned buffer: row r's `dim` values, its optimizer state floats, then
// (8-byte aligned) its update count and its frequency. One record per row,
// so that a push or a counting pull misses the cache on one or two adjacent
// lines of a row rather than on a line in each of four arrays. Not
// thread-safe (the stripe's mutex guards it); owns its buffer.
class RowRecords {
 public:
  RowRecords(uint32_t dim, size_t state_floats)
      : dim_(dim),
        counters_offset_(((dim + state_floats) * sizeof(float) + 7) / 8 * 8),
        record_bytes_(counters_offset_ + sizeof(int64_t) + sizeof(uint64_t)) {}
  RowRecords(const RowRecords&) = delete;
  RowRecords& operator=(const RowRecords&) = delete;

  size_t record_bytes() const { return record_bytes_; }
  size_t capacity_bytes() const { return capacity_ * record_bytes_; }

  // Row r's record, values first.
  char* record(size_t r) { return buffer_.get() + r * record_bytes_; }
  const char* record(size_t r) const {
    return buffer_.get() + r * record_bytes_;
  }
  float* values(size_t r) { return reinterpret_cast<float*>(record(r)); }
  const float* values(size_t r) const {
    return reinterpret_cast<const float*>(record(r));
  }
  float* state(size_t r) { return values(r) + dim_; }
  const float* state(size_t r) const { return values(r) + dim_; }
  int64_t* mutable_step(size_t r) {
    return reinterpret_cast<int64_t*>(record(r) + counters_offset_);
  }
  int64_t step(size_t r) const {
    return *reinterpret_cast<const int64_t*>(record(r) + counters_offset_);
  }
  uint64_t* mutable_frequency(size_t r) {
    return reinterpret_cast<uint64_t*>(record(r) + counters_offset_ +
                                       sizeof(int64_t));
  }
  uint64_t frequency(size_t r) const {
    return *reinterpret_cast<const uint64_t*>(record(r) + counters_offset_ +
                                              sizeof(int64_t));
  }

  // Appends a record (values and state uninitialized, counters 0) and
  // returns its row; doubles the buffer when full (records move).
  size_t Append() {
    if (size_ == capacity_) Grow();
    const size_t r = size_++;
    *mutable_step(r) = 0;
    *mutable_frequency(r) = 0;
    return r;
  }

 private:
  struct Free {
    void operator()(char* p) const {
      ::operator delete[](p, std::align_val_t{64});
    }
  };

  void Grow() {
    const size_t capacity = std::max<size_t>(16, capacity_ * 2);
    std::unique_ptr<char[], Free> grown(static_cast<char*>(
        ::operator new[](record_bytes_* capacity, std::align_val_t{64})));
    if (size_ != 0) {
      std::memcpy(grown.get(), buffer_.get(), size_ * record_bytes_);
    }
    buffer_ = std::move(grown);
    capacity_ = capacity;
  }

  const uint32_t dim_;
  const size_t counters_offset_;
  const size_t record_bytes_;
  std::unique_ptr<char[], Free> buffer_;
  size_t size_ = 0;
  size_t capacity_ = 0;
};

}  // namespace

// One lock domain. Aligned to a cache line so neighbouring stripes' mutexes
// do not false-share.
struct alignas(64) SparseTable::Stripe {
  Stripe(uint32_t dim, size_t state_floats, uint64_t seed)
      : index(seed), rows(dim, state_floats) {}

  mutable absl::Mutex mu;
  // key -> row index into the arrays below.
  internal::KeyIndex index ABSL_GUARDED_BY(mu);
  std::vector<uint64_t> keys ABSL_GUARDED_BY(mu);  // row -> key
  RowRecords rows ABSL_GUARDED_BY(mu);
};

namespace {

// Per-thread scratch for bucketing a batch by stripe, reused across calls so
// the hot path does not allocate. Each key is hashed once, in Bucket.
// `order` holds the batch's keys grouped by stripe, in batch order within a
// stripe (so duplicates keep their order, and rows, gradients and output are
// walked forwards); stripe s owns order[begin[s], begin[s + 1]).
struct BatchScratch {
  // One key of the batch in stripe order: what the passes over a stripe
  // read and write about it, in one 16-byte entry (one scattered store per
  // key in Bucket, one line per four keys after).
  struct Entry {
    uint64_t slot_hash;
    uint32_t index;  // in the batch
    uint32_t row;    // set by ResolveRows; kNoRow: missing
  };
  std::vector<uint32_t> stripe_of;  // by batch index i
  std::vector<uint64_t> hash_of;    // by i: the key's slot hash
  std::vector<Entry> order;
  std::vector<uint32_t> begin;
  std::vector<uint32_t> cursor;  // stripe scatter cursors
};
thread_local BatchScratch tls_scratch;

constexpr uint32_t kNoRow = internal::KeyIndex::kNoRow;
// A row's share of the index, as the budget counts it: two 17-byte slots
// (the figure of the flat_hash_map this index replaced, kept so budgets do
// not change). A KeyIndex slot is 16 bytes and the index holds between 4/3
// and 8/3 slots per row.
constexpr size_t kIndexBytesPerRow = 2 * 17;
// How many keys ahead the batch loops prefetch hash slots and rows: enough to
// overlap several cache misses, small enough to stay in L1.
constexpr uint32_t kPrefetchDistance = 8;
// The index lookups are cheaper per key than a row's work: prefetch further.
constexpr uint32_t kIndexPrefetchDistance = 16;

// Every cache line of [p, p + bytes).
inline void PrefetchBytes(const void* p, size_t bytes) {
  const uintptr_t end = reinterpret_cast<uintptr_t>(p) + bytes;
  for (uintptr_t a = reinterpret_cast<uintptr_t>(p) & ~uintptr_t{63}; a < end;
       a += 64) {
    __builtin_prefetch(reinterpret_cast<const void*>(a));
  }
}
inline void PrefetchBytesForWrite(void* p, size_t bytes) {
  const uintptr_t end = reinterpret_cast<uintptr_t>(p) + bytes;
  for (uintptr_t a = reinterpret_cast<uintptr_t>(p) & ~uintptr_t{63}; a < end;
       a += 64) {
    __builtin_prefetch(reinterpret_cast<void*>(a), 1);
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<SparseTable>> SparseTable::Create(
    const TableConfig& config, const Options& options) {
  if (config.name().empty()) {
    return absl::InvalidArgumentError("sparse table name must not be empty");
  }
  if (config.dim() == 0 || config.dim() > kMaxSparseDim) {
    return absl::InvalidArgumentError(
        absl::StrCat("table ", config.name(), ": dim must be in [1, ",
                     kMaxSparseDim, "], got ", config.dim()));
  }
  if (options.num_stripes == 0 || options.max_batch_keys == 0 ||
      options.max_batch_keys > kMaxBatchKeysLimit) {
    return absl::InvalidArgumentError(
        absl::StrCat("table ", config.name(),
                     ": num_stripes must be > 0 and "
                     "max_batch_keys in [1, ",
                     kMaxBatchKeysLimit, "]"));
  }
  if (options.router != nullptr &&
      options.shard_id >= options.router->num_shards()) {
    return absl::InvalidArgumentError(
        absl::StrCat("table ", config.name(), ": shard_id ", options.shard_id,
                     " is outside [0, ", options.router->num_shards(), ")"));
  }
  if (absl::Status s = ValidateInitializer(config.initializer()); !s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("table ", config.name(), ": ", s.message()));
  }
  absl::StatusOr<std::unique_ptr<Optimizer>> optimizer =
      Optimizer::Create(config.optimizer());
  if (!optimizer.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "table ", config.name(), ": ", optimizer.status().message()));
  }
  return std::unique_ptr<SparseTable>(
      new SparseTable(config, options, *std::move(optimizer)));
}

SparseTable::SparseTable(const TableConfig& config, const Options& options,
                         std::unique_ptr<Optimizer> optimizer)
    : config_(config),
      options_(options),
      dim_(config.dim()),
      num_stripes_(options.num_stripes),
      optimizer_(std::move(optimizer)),
      state_floats_(static_cast<size_t>(optimizer_->state_per_element()) *
                    config.dim()),
      bytes_per_row_((dim_ + state_floats_) * sizeof(float) +
                     sizeof(uint64_t) /* key */ + sizeof(int64_t) /* step */ +
                     sizeof(uint64_t) /* frequency */ + kIndexBytesPerRow),
      budget_(options.budget),
      seed_(absl::Uniform<uint64_t>(absl::BitGen())) {
  stripes_.reserve(num_stripes_);
  for (uint32_t si = 0; si < num_stripes_; ++si) {
    stripes_.push_back(std::make_unique<Stripe>(dim_, state_floats_, seed_));
  }
}

SparseTable::~SparseTable() {
  if (budget_ != nullptr) budget_->Release(BudgetBytes());
}

void SparseTable::AdoptBudget(MemoryBudget* budget) { budget_ = budget; }

SparseTable::Place SparseTable::PlaceOf(uint64_t key) const {
  const uint64_t h = KeyHash(key);
  return {internal::StripeOfHash(h, num_stripes_),
          internal::SlotHash(h, seed_)};
}

absl::Status SparseTable::Bucket(absl::Span<const uint64_t> keys) const {
  STRATA_RETURN_IF_ERROR(internal::CheckBatchSize(
      keys.size(), options_.max_batch_keys, config_.name()));
  const size_t n = keys.size();
  BatchScratch& b = tls_scratch;
  b.stripe_of.resize(n);
  b.hash_of.resize(n);
  b.order.resize(n);
  b.begin.assign(num_stripes_ + 1, 0);
  const ShardRouter* router = options_.router;
  // The default router's check inlined (HashRouter is final), not a virtual
  // call per key.
  const HashRouter* const hash_router = dynamic_cast<const HashRouter*>(router);
  // Raw pointers: the thread-local vectors' internals are not reloaded
  // through TLS in the loops.
  uint32_t* const stripe_of = b.stripe_of.data();
  uint64_t* const hash_of = b.hash_of.data();
  uint32_t* const begin = b.begin.data();
  for (size_t i = 0; i < n; ++i) {
    const uint64_t h = KeyHash(keys[i]);  // the only hash of the key
    const bool owned =
        hash_router != nullptr
            ? hash_router->ShardForHashedKey(keys[i], h) == options_.shard_id
            : router == nullptr ||
                  router->ShardForHashedKey(keys[i], h) == options_.shard_id;
    if (!owned) {
      return internal::CheckOwner(keys[i], router, options_.shard_id,
                                  config_.name());
    }
    const uint32_t stripe = internal::StripeOfHash(h, num_stripes_);
    stripe_of[i] = stripe;
    hash_of[i] = internal::SlotHash(h, seed_);
    ++begin[stripe + 1];
  }
  // One stable counting sort by stripe.
  for (uint32_t s = 0; s < num_stripes_; ++s) begin[s + 1] += begin[s];
  b.cursor.assign(b.begin.begin(), b.begin.end() - 1);
  uint32_t* const cursor = b.cursor.data();
  BatchScratch::Entry* const order = b.order.data();
  for (size_t i = 0; i < n; ++i) {
    order[cursor[stripe_of[i]]++] = {hash_of[i], static_cast<uint32_t>(i),
                                     kNoRow};
  }
  return absl::OkStatus();
}

absl::StatusOr<MemoryReservation> SparseTable::ReserveRows(
    absl::Span<const uint64_t> keys) const {
  if (budget_ == nullptr) return MemoryReservation();
  const uint64_t worst = keys.size() * bytes_per_row_;
  if (budget_->TryCharge(worst)) {
    return MemoryReservation::Adopt(budget_, worst);
  }
  const size_t missing = CountMissing(keys);
  return MemoryReservation::Make(
      budget_, missing * bytes_per_row_,
      absl::StrCat("table ", config_.name(), ": ", missing, " new rows"));
}

size_t SparseTable::CountMissing(absl::Span<const uint64_t> keys) const {
  const BatchScratch& b = tls_scratch;
  size_t missing = 0;
  for (uint32_t si = 0; si < num_stripes_; ++si) {
    if (b.begin[si] == b.begin[si + 1]) continue;
    const Stripe& s = *stripes_[si];
    absl::ReaderMutexLock lock(&s.mu);
    for (uint32_t k = b.begin[si]; k < b.begin[si + 1]; ++k) {
      missing +=
          !s.index.contains(keys[b.order[k].index], b.order[k].slot_hash);
    }
  }
  return missing;
}

// Requires s.mu held exclusively.
uint32_t SparseTable::FindOrCreate(Stripe& s, uint64_t key,
                                   uint64_t slot_hash) {
  const auto [row, inserted] = s.index.FindOrInsert(
      key, slot_hash, static_cast<uint32_t>(s.keys.size()));
  if (!inserted) return row;
  s.keys.push_back(key);
  s.rows.Append();
  InitializeRow(config_.initializer(), key, dim_, s.rows.values(row));
  optimizer_->InitState(s.rows.state(row), dim_);
  rows_.fetch_add(1, std::memory_order_relaxed);
  return row;
}

size_t SparseTable::ResolveRows(Stripe& s, absl::Span<const uint64_t> keys,
                                uint32_t lo, uint32_t hi, bool create) {
  BatchScratch& b = tls_scratch;
  const size_t rows_before = s.keys.size();
  // In batch order, so missing rows are created in the order the batch
  // reads them, and duplicates find the row their first occurrence made.
  for (uint32_t j = lo; j < hi; ++j) {
    if (j + kIndexPrefetchDistance < hi) {
      s.index.Prefetch(b.order[j + kIndexPrefetchDistance].slot_hash);
    }
    BatchScratch::Entry& e = b.order[j];
    const uint64_t key = keys[e.index];
    uint32_t row = s.index.Find(key, e.slot_hash);
    if (row == kNoRow && create) row = FindOrCreate(s, key, e.slot_hash);
    e.row = row;
  }
  return s.keys.size() - rows_before;
}

void SparseTable::CopyRows(Stripe& s, absl::Span<const uint64_t> keys,
                           uint32_t lo, uint32_t hi, bool count_frequency,
                           float* out) {
  const BatchScratch& b = tls_scratch;
  const size_t row_bytes = dim_ * sizeof(float);
  for (uint32_t j = lo; j < hi; ++j) {
    if (j + kPrefetchDistance < hi) {
      const uint32_t ahead = b.order[j + kPrefetchDistance].row;
      if (ahead == kNoRow) {
      } else if (count_frequency) {  // the record's tail is written too
        PrefetchBytesForWrite(s.rows.record(ahead), s.rows.record_bytes());
      } else {
        PrefetchBytes(s.rows.record(ahead), row_bytes);
      }
      // The batch's rows are interleaved over the stripes: no stream the
      // hardware prefetcher would follow.
      PrefetchBytesForWrite(
          out + size_t{b.order[j + kPrefetchDistance].index} * dim_, row_bytes);
    }
    const uint32_t i = b.order[j].index;
    float* dst = out + static_cast<size_t>(i) * dim_;
    const uint32_t row = b.order[j].row;
    if (row == kNoRow) {  // read-only pull of a missing key
      InitializeRow(config_.initializer(), keys[i], dim_, dst);
      continue;
    }
    std::memcpy(dst, s.rows.values(row), row_bytes);
    if (count_frequency) ++*s.rows.mutable_frequency(row);
  }
}

absl::Status SparseTable::Pull(absl::Span<const uint64_t> keys,
                               bool count_frequency, bool read_only,
                               float* out) {
  STRATA_RETURN_IF_ERROR(Bucket(keys));
  MemoryReservation reserved;
  if (!read_only) {
    STRATA_ASSIGN_OR_RETURN(reserved, ReserveRows(keys));
  }
  const BatchScratch& b = tls_scratch;
  size_t created = 0;
  for (uint32_t si = 0; si < num_stripes_; ++si) {
    const uint32_t lo = b.begin[si];
    const uint32_t hi = b.begin[si + 1];
    if (lo == hi) continue;
    Stripe& s = *stripes_[si];
    if (read_only && !count_frequency) {
      // Nothing is written: share the stripe with other readers.
      absl::ReaderMutexLock lock(&s.mu);
      ResolveRows(s, keys, lo, hi, /*create=*/false);
      CopyRows(s, keys, lo, hi, /*count_frequency=*/false, out);
    } else {
      absl::MutexLock lock(&s.mu);
      created += ResolveRows(s, keys, lo, hi, /*create=*/!read_only);
      CopyRows(s, keys, lo, hi, count_frequency, out);
    }
  }
  KeepCreated(reserved, created);
  return absl::OkStatus();
}

absl::Status SparseTable::Push(absl::Span<const uint64_t> keys,
                               const GradientRows& grads) {
  STRATA_RETURN_IF_ERROR(internal::CheckBatchSize(
      keys.size(), options_.max_batch_keys, config_.name()));
  STRATA_RETURN_IF_ERROR(internal::CheckGradients(
      grads, keys.size(), dim_, options_.max_abs_gradient, config_.name()));
  STRATA_RETURN_IF_ERROR(Bucket(keys));
  STRATA_ASSIGN_OR_RETURN(MemoryReservation reserved, ReserveRows(keys));
  const BatchScratch& b = tls_scratch;
  const size_t row_bytes = dim_ * sizeof(float);
  // A row read in place but not 4-byte aligned is copied here first.
  thread_local std::vector<float> unaligned_row;
  unaligned_row.resize(dim_);
  size_t created = 0;
  for (uint32_t si = 0; si < num_stripes_; ++si) {
    const uint32_t lo = b.begin[si];
    const uint32_t hi = b.begin[si + 1];
    if (lo == hi) continue;
    Stripe& s = *stripes_[si];
    absl::MutexLock lock(&s.mu);
    created += ResolveRows(s, keys, lo, hi, /*create=*/true);
    for (uint32_t j = lo; j < hi; ++j) {
      if (j + kPrefetchDistance < hi) {
        PrefetchBytesForWrite(s.rows.record(b.order[j + kPrefetchDistance].row),
                              s.rows.record_bytes());
        PrefetchBytes(grads.RowBytes(b.order[j + kPrefetchDistance].index),
                      row_bytes);  // interleaved over the stripes
      }
      const uint32_t row = b.order[j].row;
      optimizer_->Apply(s.rows.values(row),
                        grads.Row(b.order[j].index, unaligned_row.data()),
                        s.rows.state(row), s.rows.mutable_step(row), dim_);
      ++*s.rows.mutable_frequency(row);
    }
  }
  KeepCreated(reserved, created);
  return absl::OkStatus();
}

void SparseTable::KeepCreated(MemoryReservation& reserved,
                              size_t created) const {
  reserved.ShrinkTo(created * bytes_per_row_);
  reserved.Commit();  // released by the destructor, with BudgetBytes()
}

size_t SparseTable::MemoryBytes() const {
  size_t bytes = sizeof(*this) + num_stripes_ * sizeof(Stripe);
  for (uint32_t si = 0; si < num_stripes_; ++si) {
    const Stripe& s = *stripes_[si];
    absl::ReaderMutexLock lock(&s.mu);
    bytes += s.index.capacity() * internal::KeyIndex::kSlotBytes;
    bytes += s.keys.capacity() * sizeof(uint64_t);
    bytes += s.rows.capacity_bytes();
  }
  return bytes;
}

uint64_t SparseTable::Frequency(uint64_t key) const {
  const Place p = PlaceOf(key);
  const Stripe& s = *stripes_[p.stripe];
  absl::ReaderMutexLock lock(&s.mu);
  const uint32_t row = s.index.Find(key, p.slot_hash);
  return row == kNoRow ? 0 : s.rows.frequency(row);
}

void SparseTable::VisitStripe(uint32_t stripe,
                              const std::function<void(size_t)>& begin,
                              const RowVisitor& row) const {
  const Stripe& s = *stripes_[stripe];
  absl::ReaderMutexLock lock(&s.mu);
  const size_t n = s.keys.size();
  if (begin) begin(n);
  for (size_t r = 0; r < n; ++r) {
    row(s.keys[r], s.rows.values(r), s.rows.state(r), s.rows.step(r),
        s.rows.frequency(r));
  }
}

void SparseTable::ForEachRow(const RowVisitor& row) const {
  for (uint32_t si = 0; si < num_stripes_; ++si) VisitStripe(si, nullptr, row);
}

absl::Status SparseTable::InsertRow(uint64_t key,
                                    absl::Span<const float> values,
                                    absl::Span<const float> state, int64_t step,
                                    uint64_t frequency) {
  if (values.size() != dim_ || state.size() != state_floats_) {
    return absl::InvalidArgumentError(
        absl::StrCat("table ", config_.name(), ": row ", key, " has ",
                     values.size(), " values and ", state.size(),
                     " state floats, expected ", dim_, " and ", state_floats_));
  }
  absl::Status finite = internal::CheckFinite(values, "value");
  if (finite.ok()) {
    finite = internal::CheckFinite(state, "optimizer state float");
  }
  if (!finite.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "table ", config_.name(), ": row ", key, ": ", finite.message()));
  }
  STRATA_RETURN_IF_ERROR(internal::CheckOwner(
      key, options_.router, options_.shard_id, config_.name()));
  const Place p = PlaceOf(key);
  Stripe& s = *stripes_[p.stripe];
  absl::MutexLock lock(&s.mu);
  if (budget_ != nullptr && !s.index.contains(key, p.slot_hash)) {
    STRATA_RETURN_IF_ERROR(budget_->Charge(
        bytes_per_row_, absl::StrCat("table ", config_.name(), ": row ", key)));
  }
  const uint32_t row = FindOrCreate(s, key, p.slot_hash);
  std::copy(values.begin(), values.end(), s.rows.values(row));
  std::copy(state.begin(), state.end(), s.rows.state(row));
  *s.rows.mutable_step(row) = step;
  *s.rows.mutable_frequency(row) = frequency;
  return absl::OkStatus();
}

}  // namespace strata
