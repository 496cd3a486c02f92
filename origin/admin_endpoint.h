// Operations endpoints: GET /health (the process answers), /ready (503 while draining after
// SIGTERM; cache tiers reported) and /metrics (Prometheus text format, written by hand: no
// packaged library does it). Called on event-loop threads; SetDraining() from any thread.
#pragma once

#include <atomic>

#include "cache/memory_tier.h"
#include "cache/tiered_cache.h"
#include "common/memory_budget.h"
#include "origin/counters.h"
#include "origin/server.h"
#include "sources/source_cache.h"

namespace imgorigin::origin {

class AdminEndpoint {
 public:
  // `render_memory` may be null (no total budget).
  AdminEndpoint(const cache::MemoryTier& memory, const cache::TieredCache& tiers,
                const sources::SourceCache& sources, const RequestCounters& counters,
                const common::MemoryBudget* render_memory)
      : memory_(memory),
        tiers_(tiers),
        sources_(sources),
        counters_(counters),
        render_memory_(render_memory) {}

  void Health(Exchange& exchange) const;
  void Ready(Exchange& exchange) const;
  void Metrics(Exchange& exchange) const;

  // From SIGTERM on, /ready answers 503 so load balancers stop sending new work while in-flight
  // requests finish.
  void SetDraining() { draining_.store(true); }

 private:
  const cache::MemoryTier& memory_;
  const cache::TieredCache& tiers_;
  const sources::SourceCache& sources_;
  const RequestCounters& counters_;
  const common::MemoryBudget* render_memory_;
  std::atomic<bool> draining_{false};
};

}  // namespace imgorigin::origin
