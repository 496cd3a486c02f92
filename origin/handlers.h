// The origin's request handlers: routing, /health, and the image endpoint.
//
// Routes: /health, /metrics (Prometheus text), POST /v1/purge (API key), and images.
// Image requests flow: verify signature → parse options → purge generation (cached; else read
// from the shared tier off the loop) → cache key → If-None-Match → memory tier (all on the
// loop) → coalesced look-up in the slower tiers and the fleet-wide render lease (TieredCache's
// I/O pool) → on a miss, render: the original through the source cache (memory, or
// disk/network on the I/O pool), then transform and store on the CPU pool → reply posted back to
// the loop. A path seen before (hot paths) starts at the purge-generation check with the plan
// it had. No loop and no CPU pool thread ever waits on the network. Handlers owns the
// coalescer and the hot paths; everything else it is given lives longer than it. Handle() runs
// on event-loop threads; Transform() on CPU pool threads.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cache/coalescer.h"
#include "cache/memory_tier.h"
#include "cache/tiered_cache.h"
#include "common/lru_cache.h"
#include "common/status.h"
#include "common/thread_pool.h"
#include "origin/config.h"
#include "origin/server.h"
#include "signing/signer.h"
#include "sources/source.h"
#include "sources/source_cache.h"
#include "transforms/parser.h"

namespace imgorigin::origin {

class Handlers {
 public:
  Handlers(const Config& config, const signing::Signer& signer, cache::MemoryTier& memory,
           common::ThreadPool& cpu, sources::SourceCache& sources, cache::TieredCache& tiers);

  void Handle(const ExchangePtr& exchange);

  // From SIGTERM on, /ready answers 503 so load balancers stop sending new work while in-flight
  // requests finish. Any thread.
  void SetDraining() { draining_.store(true); }

 private:
  // What a finished render hands to every request that waited for it.
  struct Rendered {
    common::Result<cache::CachedImagePtr> image;
    double fetch_ms = 0;
    double transform_ms = 0;
    std::string tier;  // the cache tier below memory that answered; "" = rendered here
  };
  using RenderedPtr = std::shared_ptr<const Rendered>;

  // Everything about one image request that the reply needs, fixed before any rendering.
  struct Plan {
    transforms::ImageRequest request;
    uint64_t generation = 0;  // the source's purge generation the key was made with
    std::string key;
    std::string etag;
    std::string cache_control;
    std::string vary;  // request headers the response depends on; "" = none
  };
  using PlanPtr = std::shared_ptr<const Plan>;

  // The headers of an image reply that depend only on the plan and the image (all but X-Cache
  // and Server-Timing). Names are literals or config strings, which outlive every reply.
  using ReplyHeaders = std::vector<std::pair<const char*, std::string>>;

  // A request target seen before (with the request headers its plan depends on): its plan,
  // so a repeat skips the signature check, parsing and key hashing, and the reply headers for
  // the image it was last answered with from memory, so a repeated hit skips building them.
  struct HotPath {
    PlanPtr plan;
    // Weak, so the table never keeps an evicted image alive; compared by owner, so a new image
    // at a reused address cannot pass for it.
    std::weak_ptr<const cache::CachedImage> image;
    ReplyHeaders headers;
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
  // The hot-path key of an image request: its path, plus the values of the request headers
  // Negotiate() reads when they can change the plan. "" = not to be remembered.
  std::string HotKey(const Exchange& exchange) const;
  // The rest of HandleImage once the source's purge generation (part of the key) is known.
  // `hot`: the hot path the plan came from, if any.
  void LookUp(const ExchangePtr& exchange, PlanPtr plan, std::string hot_key,
              std::shared_ptr<const HotPath> hot);
  void SetKey(Plan& plan, uint64_t generation) const;
  void HandlePurge(const ExchangePtr& exchange);
  void HandleMetrics(Exchange& exchange) const;
  void HandleReady(Exchange& exchange) const;
  // `path` is the request path without any endpoint prefix: "/{signature}/{options}/{source}".
  common::Result<Plan> MakePlan(const Exchange& exchange, std::string_view path) const;
  // Content negotiation and client hints: fills in what the URL left open from the request
  // headers, and records those headers in plan.vary.
  void Negotiate(const Exchange& exchange, Plan& plan) const;
  void HandleInfo(const ExchangePtr& exchange);
  void Render(const std::shared_ptr<const Plan>& plan);
  void Transform(const Plan& plan, const sources::SourceImage& source, double fetch_ms);
  void Finish(const Plan& plan, Rendered rendered);
  ReplyHeaders ImageHeaders(const Plan& plan, const cache::CachedImage& image) const;
  void ReplyImage(Exchange& exchange, const ReplyHeaders& headers, const cache::CachedImage& image,
                  const std::string& x_cache, const std::string& timing) const;
  void ReplyError(Exchange& exchange, const common::Error& error) const;

  const Config& config_;
  const signing::Signer& signer_;
  cache::MemoryTier& memory_;
  common::ThreadPool& cpu_;
  sources::SourceCache& sources_;
  cache::TieredCache& tiers_;
  std::optional<int64_t> max_age_;  // the max-age in config_.cache_control, if any
  // Digest of the settings that change output bytes without being in the URL (default quality,
  // encoder flags, watermark): part of every key, so changing them never serves stale results.
  std::string output_fingerprint_;
  common::ShardedLru<HotPath> hot_paths_;
  cache::Coalescer<RenderedPtr> renders_;
  Counters counters_;
  std::atomic<bool> draining_{false};
};

}  // namespace imgorigin::origin
