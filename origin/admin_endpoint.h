// Operations endpoints: GET /health (the process answers), /ready (503 while draining after
// SIGTERM; cache tiers reported) and /metrics (Prometheus text format, written by hand: no
// packaged library does it; origin/metrics.h). Called on event-loop threads; SetDraining() from
// any thread. A scrape that needs the job queue's depth asks it on the I/O pool (the queue may be
// across the network) and answers from the loop when it is back.
#pragma once

#include <atomic>
#include <functional>
#include <optional>
#include <string>

#include "cache/memory_tier.h"
#include "cache/tiered_cache.h"
#include "common/memory_budget.h"
#include "common/thread_pool.h"
#include "ingest/job_queue.h"
#include "origin/counters.h"
#include "origin/server.h"
#include "sources/source_cache.h"

namespace imgorigin::origin {

class AdminEndpoint {
 public:
  // `render_memory` may be null (no total budget).
  // `ns`: metrics.namespace, prefixed to the imgproxy-named metrics.
  AdminEndpoint(const cache::MemoryTier& memory, const cache::TieredCache& tiers,
                const sources::SourceCache& sources, const RequestCounters& counters,
                const common::MemoryBudget* render_memory, const common::ThreadPool& cpu,
                common::ThreadPool& io, std::string ns)
      : memory_(memory),
        tiers_(tiers),
        sources_(sources),
        counters_(counters),
        render_memory_(render_memory),
        cpu_(cpu),
        io_(io),
        namespace_(std::move(ns)) {}

  // Figures only the composition root can reach: requests in flight (the server) and the job
  // queue (ingest). Either may be empty. Set before the server starts.
  struct LiveFigures {
    std::function<int64_t()> in_flight;
    std::function<int64_t()> open_connections;
    // Blocking (the queue may be remote): called on the I/O pool. nullopt = unavailable now.
    std::function<std::optional<ingest::QueueStats>()> jobs;
    std::function<uint64_t()> access_log_dropped;
  };
  void SetLiveFigures(LiveFigures figures) { live_ = std::move(figures); }

  void Health(Exchange& exchange) const;
  void Ready(Exchange& exchange) const;
  void Metrics(const ExchangePtr& exchange) const;

  // From SIGTERM on, /ready answers 503 so load balancers stop sending new work while in-flight
  // requests finish.
  void SetDraining() { draining_.store(true); }

 private:
  const cache::MemoryTier& memory_;
  const cache::TieredCache& tiers_;
  const sources::SourceCache& sources_;
  const RequestCounters& counters_;
  const common::MemoryBudget* render_memory_;
  const common::ThreadPool& cpu_;
  common::ThreadPool& io_;
  const std::string namespace_;
  LiveFigures live_;
  std::atomic<bool> draining_{false};

  // Everything but the job queue, then the job queue's figures when there are any.
  std::string MetricsText() const;
  void AppendJobQueue(std::string& out, const std::optional<ingest::QueueStats>& stats) const;
  static void SendMetrics(Exchange& exchange, std::string text);
};

}  // namespace imgorigin::origin
