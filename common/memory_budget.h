// A total memory budget that concurrent renders reserve from before they allocate.
//
// A count of workers does not bound memory: two renders of hostile or merely large images can
// each need gigabytes. Each render estimates what it will need, then holds a Reservation for that
// many bytes while it runs; Reserve() waits (up to a deadline) while other renders hold the rest
// of the budget, so large renders queue behind each other instead of running the process out of
// memory. A request larger than the whole budget never fits and is refused at once. Thread-safe;
// the budget must outlive its reservations.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <utility>

#include "common/status.h"

namespace imgorigin::common {

class MemoryBudget {
 public:
  // Holds `bytes` of the budget until destroyed. Move-only.
  class Reservation {
   public:
    Reservation() = default;
    Reservation(Reservation&& other) noexcept
        : budget_(std::exchange(other.budget_, nullptr)), bytes_(other.bytes_) {}
    Reservation& operator=(Reservation&& other) noexcept;
    ~Reservation() { Release(); }
    int64_t bytes() const { return budget_ != nullptr ? bytes_ : 0; }

   private:
    friend class MemoryBudget;
    Reservation(MemoryBudget* budget, int64_t bytes) : budget_(budget), bytes_(bytes) {}
    void Release();
    MemoryBudget* budget_ = nullptr;
    int64_t bytes_ = 0;
  };

  explicit MemoryBudget(int64_t total_bytes) : total_(total_bytes) {}
  MemoryBudget(const MemoryBudget&) = delete;
  MemoryBudget& operator=(const MemoryBudget&) = delete;

  // Waits until `bytes` fit beside what is reserved, or until `deadline`. Errors: kTooLarge when
  // `bytes` exceeds the whole budget, kOverloaded when the deadline passed first.
  Result<Reservation> Reserve(int64_t bytes, std::chrono::steady_clock::time_point deadline);

  int64_t total() const { return total_; }
  int64_t in_use() const;
  int64_t peak() const;       // the most ever reserved at once
  uint64_t waited() const;    // reservations that had to wait for others to finish
  uint64_t refused() const;   // reservations that never got their bytes

 private:
  const int64_t total_;
  mutable std::mutex mu_;
  std::condition_variable freed_;
  int64_t in_use_ = 0;
  int64_t peak_ = 0;
  uint64_t waited_ = 0;
  uint64_t refused_ = 0;
};

}  // namespace imgorigin::common
