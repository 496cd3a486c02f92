// A consecutive-failure circuit breaker for one cache tier.
//
// Closed: every call goes through. After `failures` failures in a row it opens for `cooldown`,
// during which calls are refused at once (a down tier costs nothing, not a timeout per
// request). When the cooldown ends one probe call is let through; its success closes the
// breaker, its failure opens it for another cooldown. Lock-free; any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace imgorigin::cache {

class CircuitBreaker {
 public:
  using Clock = std::chrono::steady_clock;

  CircuitBreaker(int failures, std::chrono::milliseconds cooldown)
      : threshold_(failures < 1 ? 1 : failures), cooldown_(cooldown) {}

  // True when the caller may try the tier now.
  bool Allow() {
    int64_t until = open_until_.load(std::memory_order_acquire);
    if (until == 0) return true;
    const int64_t now = Now();
    if (now < until) return false;
    // One probe per cooldown: whoever moves the deadline forward makes the call.
    return open_until_.compare_exchange_strong(until, now + cooldown_.count(),
                                               std::memory_order_acq_rel);
  }

  void Success() {
    failures_.store(0, std::memory_order_relaxed);
    open_until_.store(0, std::memory_order_release);
  }

  void Failure() {
    if (failures_.fetch_add(1, std::memory_order_relaxed) + 1 >= threshold_) {
      open_until_.store(Now() + cooldown_.count(), std::memory_order_release);
    }
  }

  bool open() const { return open_until_.load(std::memory_order_acquire) != 0; }

 private:
  static int64_t Now() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch())
        .count();
  }

  const int threshold_;
  const std::chrono::milliseconds cooldown_;
  std::atomic<int> failures_{0};
  std::atomic<int64_t> open_until_{0};  // steady ms; 0 = closed
};

}  // namespace imgorigin::cache
