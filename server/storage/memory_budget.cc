#include "server/storage/memory_budget.h"

#include <unistd.h>

#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"

namespace strata {

uint64_t DefaultMemoryBudgetBytes() {
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long page_bytes = sysconf(_SC_PAGE_SIZE);
  if (pages <= 0 || page_bytes <= 0) {
    return std::numeric_limits<uint64_t>::max();
  }
  return uint64_t(pages) / 4 * 3 * uint64_t(page_bytes);
}

bool MemoryBudget::TryCharge(uint64_t bytes) {
  uint64_t used = used_.load(std::memory_order_relaxed);
  do {
    if (bytes > limit_ - used) return false;  // used <= limit_ always
  } while (!used_.compare_exchange_weak(used, used + bytes,
                                        std::memory_order_relaxed));
  return true;
}

absl::Status MemoryBudget::Charge(uint64_t bytes, absl::string_view what) {
  if (TryCharge(bytes)) return absl::OkStatus();
  return Exhausted(bytes, what);
}

void MemoryBudget::Release(uint64_t bytes) {
  used_.fetch_sub(bytes, std::memory_order_relaxed);
}

absl::Status MemoryBudget::Exhausted(uint64_t bytes,
                                     absl::string_view what) const {
  return absl::ResourceExhaustedError(absl::StrCat(
      what, ": ", bytes, " bytes do not fit the shard's memory budget (",
      used(), " of ", limit_, " bytes in use; --max_memory_bytes)"));
}

absl::StatusOr<MemoryReservation> MemoryReservation::Make(
    MemoryBudget* budget, uint64_t bytes, absl::string_view what) {
  if (budget != nullptr && !budget->TryCharge(bytes)) {
    return budget->Exhausted(bytes, what);
  }
  return MemoryReservation(budget, bytes);
}

MemoryReservation::MemoryReservation(MemoryReservation&& other) noexcept
    : budget_(other.budget_), bytes_(std::exchange(other.bytes_, 0)) {}

MemoryReservation& MemoryReservation::operator=(
    MemoryReservation&& other) noexcept {
  if (this != &other) {
    ShrinkTo(0);
    budget_ = other.budget_;
    bytes_ = std::exchange(other.bytes_, 0);
  }
  return *this;
}

void MemoryReservation::ShrinkTo(uint64_t keep) {
  if (bytes_ > keep) {
    budget_->Release(bytes_ - keep);
    bytes_ = keep;
  }
}

uint64_t MemoryReservation::Commit() { return std::exchange(bytes_, 0); }

}  // namespace strata
