#include "common/memory_budget.h"

#include <algorithm>
#include <string>

namespace imgorigin::common {

MemoryBudget::Reservation& MemoryBudget::Reservation::operator=(Reservation&& other) noexcept {
  if (this != &other) {
    Release();
    budget_ = std::exchange(other.budget_, nullptr);
    bytes_ = other.bytes_;
  }
  return *this;
}

void MemoryBudget::Reservation::Release() {
  if (budget_ == nullptr) return;
  {
    const std::lock_guard lock(budget_->mu_);
    budget_->in_use_ -= bytes_;
  }
  budget_->freed_.notify_all();
  budget_ = nullptr;
}

Result<MemoryBudget::Reservation> MemoryBudget::Reserve(
    int64_t bytes, std::chrono::steady_clock::time_point deadline) {
  bytes = std::max<int64_t>(bytes, 0);
  std::unique_lock lock(mu_);
  if (bytes > total_) {
    ++refused_;
    return Fail(ErrorCode::kTooLarge, "needs about " + std::to_string(bytes >> 20) +
                                          " MiB, more than the whole render memory budget of " +
                                          std::to_string(total_ >> 20) + " MiB");
  }
  if (in_use_ + bytes > total_) {
    ++waited_;
    if (!freed_.wait_until(lock, deadline, [&] { return in_use_ + bytes <= total_; })) {
      ++refused_;
      return Fail(ErrorCode::kOverloaded, "render memory budget is in use, retry shortly");
    }
  }
  in_use_ += bytes;
  peak_ = std::max(peak_, in_use_);
  return Reservation(this, bytes);
}

int64_t MemoryBudget::in_use() const {
  const std::lock_guard lock(mu_);
  return in_use_;
}

int64_t MemoryBudget::peak() const {
  const std::lock_guard lock(mu_);
  return peak_;
}

uint64_t MemoryBudget::waited() const {
  const std::lock_guard lock(mu_);
  return waited_;
}

uint64_t MemoryBudget::refused() const {
  const std::lock_guard lock(mu_);
  return refused_;
}

}  // namespace imgorigin::common
