// Request counters for /metrics, written by the endpoints on loops and workers and read by the
// admin endpoint. Relaxed atomics: each is a tally, never used to order anything. `metrics`
// holds the per-route counts and latency histograms (origin/metrics.h).
#pragma once

#include <atomic>
#include <cstdint>

#include "origin/metrics.h"

namespace imgorigin::origin {

struct RequestCounters {
  std::atomic<uint64_t> memory_hits{0};
  std::atomic<uint64_t> memory_misses{0};
  std::atomic<uint64_t> not_modified{0};
  std::atomic<uint64_t> coalesced{0};
  std::atomic<uint64_t> renders{0};
  std::atomic<uint64_t> render_errors{0};
  std::atomic<uint64_t> overloaded{0};
  RequestMetrics metrics;
};

inline void Count(std::atomic<uint64_t>& counter) {
  counter.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace imgorigin::origin
