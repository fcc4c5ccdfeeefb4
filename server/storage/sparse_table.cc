#include "server/storage/sparse_table.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "proto/base/status_macros.h"
#include "server/storage/initializer.h"
#include "server/storage/internal/key_index.h"
#include "server/storage/internal/validation.h"

namespace strata {

// One lock domain. Aligned to a cache line so neighbouring stripes' mutexes
// do not false-share.
struct alignas(64) SparseTable::Stripe {
  mutable absl::Mutex mu;
  // key -> row index into the arrays below.
  internal::KeyIndex index ABSL_GUARDED_BY(mu);
  std::vector<uint64_t> keys ABSL_GUARDED_BY(mu);  // row -> key
  std::vector<float> values ABSL_GUARDED_BY(mu);   // row * dim
  std::vector<float> state ABSL_GUARDED_BY(mu);    // row * state_floats
  std::vector<int64_t> steps ABSL_GUARDED_BY(mu);  // updates applied
  std::vector<uint64_t> frequency ABSL_GUARDED_BY(mu);
};

namespace {

// Per-thread scratch for bucketing a batch by stripe, reused across calls so
// the hot path does not allocate. Each key is hashed once, in Bucket.
// `order` holds the batch's key indices grouped by stripe, in batch order
// within a stripe (so duplicates keep their order, and rows, gradients and
// output are walked forwards); stripe s owns order[begin[s], begin[s + 1]).
struct BatchScratch {
  std::vector<uint32_t> stripe_of;  // by batch index i
  std::vector<uint64_t> hash_of;    // by i: the key's slot hash
  std::vector<uint32_t> order;
  std::vector<uint64_t> order_hash;  // order_hash[j]: of order[j]
  std::vector<uint32_t> begin;
  std::vector<uint32_t> cursor;  // stripe scatter cursors
  std::vector<uint32_t> rows;    // rows[j]: row of key order[j], or kNoRow
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

inline void PrefetchBytes(const void* p, size_t bytes) {
  const char* c = static_cast<const char*>(p);
  for (size_t off = 0; off < bytes; off += 64) __builtin_prefetch(c + off);
}
inline void PrefetchBytesForWrite(void* p, size_t bytes) {
  char* c = static_cast<char*>(p);
  for (size_t off = 0; off < bytes; off += 64) __builtin_prefetch(c + off, 1);
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
      seed_(absl::Uniform<uint64_t>(absl::BitGen())),
      stripes_(new Stripe[options.num_stripes]) {
  for (uint32_t si = 0; si < num_stripes_; ++si) {
    absl::MutexLock lock(&stripes_[si].mu);
    stripes_[si].index = internal::KeyIndex(seed_);
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
  b.order_hash.resize(n);
  b.rows.resize(n);
  b.begin.assign(num_stripes_ + 1, 0);
  const ShardRouter* router = options_.router;
  // Raw pointers: the thread-local vectors' internals are not reloaded
  // through TLS in the loops.
  uint32_t* const stripe_of = b.stripe_of.data();
  uint64_t* const hash_of = b.hash_of.data();
  uint32_t* const begin = b.begin.data();
  for (size_t i = 0; i < n; ++i) {
    const uint64_t h = KeyHash(keys[i]);  // the only hash of the key
    if (router != nullptr &&
        router->ShardForHashedKey(keys[i], h) != options_.shard_id) {
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
  uint32_t* const order = b.order.data();
  uint64_t* const order_hash = b.order_hash.data();
  for (size_t i = 0; i < n; ++i) {
    const uint32_t j = cursor[stripe_of[i]]++;
    order[j] = static_cast<uint32_t>(i);
    order_hash[j] = hash_of[i];
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
    const Stripe& s = stripes_[si];
    absl::ReaderMutexLock lock(&s.mu);
    for (uint32_t k = b.begin[si]; k < b.begin[si + 1]; ++k) {
      missing += !s.index.contains(keys[b.order[k]], b.order_hash[k]);
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
  s.values.resize(s.values.size() + dim_);
  InitializeRow(config_.initializer(), key, dim_,
                s.values.data() + static_cast<size_t>(row) * dim_);
  s.state.resize(s.state.size() + state_floats_);
  optimizer_->InitState(
      s.state.data() + static_cast<size_t>(row) * state_floats_, dim_);
  s.steps.push_back(0);
  s.frequency.push_back(0);
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
      s.index.Prefetch(b.order_hash[j + kIndexPrefetchDistance]);
    }
    const uint64_t key = keys[b.order[j]];
    uint32_t row = s.index.Find(key, b.order_hash[j]);
    if (row == kNoRow && create) row = FindOrCreate(s, key, b.order_hash[j]);
    b.rows[j] = row;
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
      const uint32_t ahead = b.rows[j + kPrefetchDistance];
      if (ahead != kNoRow) {
        PrefetchBytes(s.values.data() + size_t{ahead} * dim_, row_bytes);
        if (count_frequency) __builtin_prefetch(&s.frequency[ahead], 1);
      }
      // The batch's rows are interleaved over the stripes: no stream the
      // hardware prefetcher would follow.
      PrefetchBytesForWrite(
          out + size_t{b.order[j + kPrefetchDistance]} * dim_, row_bytes);
    }
    const uint32_t i = b.order[j];
    float* dst = out + static_cast<size_t>(i) * dim_;
    const uint32_t row = b.rows[j];
    if (row == kNoRow) {  // read-only pull of a missing key
      InitializeRow(config_.initializer(), keys[i], dim_, dst);
      continue;
    }
    std::memcpy(dst, s.values.data() + size_t{row} * dim_, row_bytes);
    if (count_frequency) ++s.frequency[row];
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
    Stripe& s = stripes_[si];
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
                               absl::Span<const float> grads) {
  STRATA_RETURN_IF_ERROR(internal::CheckBatchSize(
      keys.size(), options_.max_batch_keys, config_.name()));
  STRATA_RETURN_IF_ERROR(internal::CheckGradients(
      grads, keys.size(), dim_, options_.max_abs_gradient, config_.name()));
  STRATA_RETURN_IF_ERROR(Bucket(keys));
  STRATA_ASSIGN_OR_RETURN(MemoryReservation reserved, ReserveRows(keys));
  const BatchScratch& b = tls_scratch;
  const size_t row_bytes = dim_ * sizeof(float);
  const size_t state_bytes = state_floats_ * sizeof(float);
  size_t created = 0;
  for (uint32_t si = 0; si < num_stripes_; ++si) {
    const uint32_t lo = b.begin[si];
    const uint32_t hi = b.begin[si + 1];
    if (lo == hi) continue;
    Stripe& s = stripes_[si];
    absl::MutexLock lock(&s.mu);
    created += ResolveRows(s, keys, lo, hi, /*create=*/true);
    for (uint32_t j = lo; j < hi; ++j) {
      if (j + kPrefetchDistance < hi) {
        const size_t ahead = b.rows[j + kPrefetchDistance];
        PrefetchBytes(s.values.data() + ahead * dim_, row_bytes);
        PrefetchBytes(s.state.data() + ahead * state_floats_, state_bytes);
        __builtin_prefetch(&s.steps[ahead], 1);
        __builtin_prefetch(&s.frequency[ahead], 1);
        PrefetchBytes(grads.data() + size_t{b.order[j + kPrefetchDistance]} *
                                         dim_,
                      row_bytes);  // interleaved over the stripes
      }
      const uint32_t row = b.rows[j];
      optimizer_->Apply(s.values.data() + size_t{row} * dim_,
                        grads.data() + static_cast<size_t>(b.order[j]) * dim_,
                        s.state.data() + size_t{row} * state_floats_,
                        &s.steps[row], dim_);
      ++s.frequency[row];
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
    const Stripe& s = stripes_[si];
    absl::ReaderMutexLock lock(&s.mu);
    bytes += s.index.capacity() * internal::KeyIndex::kSlotBytes;
    bytes += s.keys.capacity() * sizeof(uint64_t);
    bytes += (s.values.capacity() + s.state.capacity()) * sizeof(float);
    bytes += s.steps.capacity() * sizeof(int64_t);
    bytes += s.frequency.capacity() * sizeof(uint64_t);
  }
  return bytes;
}

uint64_t SparseTable::Frequency(uint64_t key) const {
  const Place p = PlaceOf(key);
  const Stripe& s = stripes_[p.stripe];
  absl::ReaderMutexLock lock(&s.mu);
  const uint32_t row = s.index.Find(key, p.slot_hash);
  return row == kNoRow ? 0 : s.frequency[row];
}

void SparseTable::VisitStripe(uint32_t stripe,
                              const std::function<void(size_t)>& begin,
                              const RowVisitor& row) const {
  const Stripe& s = stripes_[stripe];
  absl::ReaderMutexLock lock(&s.mu);
  const size_t n = s.keys.size();
  if (begin) begin(n);
  for (size_t r = 0; r < n; ++r) {
    row(s.keys[r], s.values.data() + r * dim_,
        s.state.data() + r * state_floats_, s.steps[r], s.frequency[r]);
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
  Stripe& s = stripes_[p.stripe];
  absl::MutexLock lock(&s.mu);
  if (budget_ != nullptr && !s.index.contains(key, p.slot_hash)) {
    STRATA_RETURN_IF_ERROR(budget_->Charge(
        bytes_per_row_, absl::StrCat("table ", config_.name(), ": row ", key)));
  }
  const uint32_t row = FindOrCreate(s, key, p.slot_hash);
  std::copy(values.begin(), values.end(),
            s.values.begin() + size_t{row} * dim_);
  std::copy(state.begin(), state.end(),
            s.state.begin() + size_t{row} * state_floats_);
  s.steps[row] = step;
  s.frequency[row] = frequency;
  return absl::OkStatus();
}

}  // namespace strata
