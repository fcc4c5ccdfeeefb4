// The memory budget of one parameter-server shard (ps_server
// --max_memory_bytes, docs/limits.md): what its tables may hold in all.
// Tables charge the budget before they allocate (sparse rows on first touch,
// dense tensors at creation, compressed tables when built) and release the
// charge when they are destroyed, so a request that would grow the shard past
// its budget fails with RESOURCE_EXHAUSTED and changes nothing, and the shard
// keeps serving what it already holds.
#ifndef STRATA_SERVER_STORAGE_MEMORY_BUDGET_H_
#define STRATA_SERVER_STORAGE_MEMORY_BUDGET_H_

#include <atomic>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace strata {

// Three quarters of this machine's physical memory (sysconf), leaving the
// rest to the process's other memory (request buffers, gRPC, allocator
// slack); the largest uint64 when sysconf cannot tell. A container's memory
// limit is not seen: set --max_memory_bytes there.
uint64_t DefaultMemoryBudgetBytes();

// A count of bytes in use against a fixed limit. Thread-safe and lock-free:
// a charge is one compare-and-swap loop, a release one atomic subtraction.
// Owns nothing but the count; whoever charges must release exactly what it
// charged.
class MemoryBudget {
 public:
  explicit MemoryBudget(uint64_t limit_bytes) : limit_(limit_bytes) {}
  MemoryBudget(const MemoryBudget&) = delete;
  MemoryBudget& operator=(const MemoryBudget&) = delete;

  // Adds `bytes` to what is in use and returns true if the sum stays within
  // the limit; otherwise changes nothing and returns false.
  bool TryCharge(uint64_t bytes);
  // TryCharge, or the RESOURCE_EXHAUSTED status Exhausted describes.
  absl::Status Charge(uint64_t bytes, absl::string_view what);
  // Gives back bytes charged earlier.
  void Release(uint64_t bytes);
  // RESOURCE_EXHAUSTED "<what>: <bytes> bytes do not fit the shard's memory
  // budget (<used> of <limit> bytes in use; --max_memory_bytes)".
  absl::Status Exhausted(uint64_t bytes, absl::string_view what) const;

  uint64_t used() const { return used_.load(std::memory_order_relaxed); }
  uint64_t limit() const { return limit_; }

 private:
  const uint64_t limit_;
  std::atomic<uint64_t> used_{0};
};

// Bytes charged to a budget and released when this object goes away, unless
// Commit() hands them over to a longer-lived owner (a table). A null budget
// stands for an unlimited one: nothing is charged. Move-only; not
// thread-safe (one owner).
class MemoryReservation {
 public:
  MemoryReservation() = default;
  // Charges `bytes` to `budget` (nothing when null), or the budget's
  // RESOURCE_EXHAUSTED naming `what`.
  static absl::StatusOr<MemoryReservation> Make(MemoryBudget* budget,
                                                uint64_t bytes,
                                                absl::string_view what);
  // Takes over `bytes` that the caller has already charged to `budget`.
  static MemoryReservation Adopt(MemoryBudget* budget, uint64_t bytes) {
    return MemoryReservation(budget, bytes);
  }
  MemoryReservation(MemoryReservation&& other) noexcept;
  MemoryReservation& operator=(MemoryReservation&& other) noexcept;
  ~MemoryReservation() { ShrinkTo(0); }

  uint64_t bytes() const { return bytes_; }
  // Releases all but `keep` (<= bytes()) bytes.
  void ShrinkTo(uint64_t keep);
  // Keeps the charge past this object's life and returns its size; the
  // caller now releases it (MemoryBudget::Release).
  uint64_t Commit();

 private:
  MemoryReservation(MemoryBudget* budget, uint64_t bytes)
      : budget_(budget), bytes_(budget == nullptr ? 0 : bytes) {}

  MemoryBudget* budget_ = nullptr;  // not owned
  uint64_t bytes_ = 0;
};

}  // namespace strata

#endif  // STRATA_SERVER_STORAGE_MEMORY_BUDGET_H_
