// The origin's request handlers: routing, /health, and the image endpoint.
//
// Routes: /health, /metrics (Prometheus text), and images.
// Image requests flow: verify signature → parse options → cache key → If-None-Match → memory
// tier (all on the loop) → coalesced render on the CPU pool (fetch source, transform, store) →
// reply posted back to the loop. Handlers owns the coalescer; everything else it is given lives
// longer than it. Handle() runs on event-loop threads; Render() on CPU pool threads.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "cache/coalescer.h"
#include "cache/memory_tier.h"
#include "common/status.h"
#include "common/thread_pool.h"
#include "origin/config.h"
#include "origin/server.h"
#include "origin/source.h"
#include "signing/signer.h"
#include "transforms/parser.h"

namespace imgorigin::origin {

class Handlers {
 public:
  Handlers(const Config& config, const signing::Signer& signer, cache::MemoryTier& memory,
           common::ThreadPool& cpu, const SourceRouter& sources);

  void Handle(const ExchangePtr& exchange);

 private:
  // What a finished render hands to every request that waited for it.
  struct Rendered {
    common::Result<cache::CachedImagePtr> image;
    double fetch_ms = 0;
    double transform_ms = 0;
  };
  using RenderedPtr = std::shared_ptr<const Rendered>;

  // Everything about one image request that the reply needs, fixed before any rendering.
  struct Plan {
    transforms::ImageRequest request;
    std::string key;
    std::string etag;
    std::string cache_control;
  };

  // Counters for /metrics; relaxed atomics, written from loops and workers.
  struct Counters {
    std::atomic<uint64_t> memory_hits{0};
    std::atomic<uint64_t> memory_misses{0};
    std::atomic<uint64_t> not_modified{0};
    std::atomic<uint64_t> coalesced{0};
    std::atomic<uint64_t> renders{0};
    std::atomic<uint64_t> render_errors{0};
    std::atomic<uint64_t> overloaded{0};
  };

  void HandleImage(const ExchangePtr& exchange);
  void HandleMetrics(Exchange& exchange) const;
  common::Result<Plan> MakePlan(const Exchange& exchange) const;
  void Render(const Plan& plan);
  void ReplyImage(Exchange& exchange, const Plan& plan, const cache::CachedImage& image,
                  const std::string& x_cache, const std::string& timing) const;
  void ReplyError(Exchange& exchange, const common::Error& error) const;

  const Config& config_;
  const signing::Signer& signer_;
  cache::MemoryTier& memory_;
  common::ThreadPool& cpu_;
  const SourceRouter& sources_;
  std::optional<int64_t> max_age_;  // the max-age in config_.cache_control, if any
  cache::Coalescer<RenderedPtr> renders_;
  Counters counters_;
};

}  // namespace imgorigin::origin
