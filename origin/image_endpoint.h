// The image endpoint: GET|HEAD /{signature}/{options}/{source}.
//
// Flow: plan (signature, options, negotiation) → purge generation (cached; else read from the
// shared tier off the loop) → cache key → If-None-Match → memory tier (all on the loop) →
// coalesced look-up in the slower tiers and the fleet-wide render lease (TieredCache's I/O pool)
// → on a miss, render (unless a format upgrade answers first, README "Format upgrade"): the original through the source cache (memory, or disk/network on the
// I/O pool), then transform and store on the CPU pool → reply posted back to the loop. A path
// seen before (hot paths) starts at the purge-generation check with the plan it had. No loop and
// no CPU pool thread ever waits on the network. An endpoint with something else to offer (a
// stand-in) may ask on the terms of an Attempt: a failure is handed back to it instead of being
// answered, or the variant is only looked up, never rendered. Owns the coalescer and the hot
// paths; everything else it is given lives longer than it. Handle() runs on event-loop threads;
// Transform() on CPU pool threads.
#pragma once

#include <functional>
#include <memory>
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
#include "origin/counters.h"
#include "origin/image_plan.h"
#include "origin/server.h"
#include "sources/source_cache.h"

namespace imgorigin::origin {

class ImageEndpoint {
 public:
  ImageEndpoint(const Config& config, const Planner& planner, cache::MemoryTier& memory,
                common::ThreadPool& cpu, sources::SourceCache& sources, cache::TieredCache& tiers,
                RequestCounters& counters);

  void Handle(const ExchangePtr& exchange);
  // An image request whose path ("/{signature}/{options}/{source}") another endpoint made (a
  // dialect): planned, cached and rendered as if the client had sent it, never remembered as a
  // hot path (the exchange's own path is not this one).
  void Handle(const ExchangePtr& exchange, std::string_view path);

  // How an endpoint that has something to offer in place of an error asks for a variant (seed
  // 002's /get_image, which serves a stand-in when the variant cannot be had now).
  struct Attempt {
    // Runs on the exchange's loop instead of the error reply when the variant cannot be had: its
    // render failed or was refused (kOverloaded: the CPU queue is full), or cached_only missed.
    // It must then answer the exchange itself. Errors of the path itself (signature, options)
    // are still answered here. Required.
    std::function<void(const common::Error&)> on_failure;
    // Never render: answer only from a cache tier, looked up without taking the render lease (so
    // no other node waits for a render that will not come); a miss is kOverloaded.
    bool cached_only = false;
    std::string cache_control;  // replaces the plan's in the answer and its 304; "" = the plan's
    ReplyHeaderList headers;    // added to the answer and its 304
  };
  using AttemptPtr = std::shared_ptr<const Attempt>;
  // Handle(exchange, path) on the terms of `attempt`.
  void Handle(const ExchangePtr& exchange, std::string_view path, AttemptPtr attempt);

 private:
  // What a finished render hands to every request that waited for it.
  struct Rendered {
    common::Result<cache::CachedImagePtr> image;
    double fetch_ms = 0;
    double transform_ms = 0;
    std::string tier;  // the cache tier below memory that answered; "" = rendered here
  };
  using RenderedPtr = std::shared_ptr<const Rendered>;
  using Priority = common::ThreadPool::Priority;

  // The headers of an image reply that depend only on the plan and the image (all but
  // Content-Type, X-Cache and Server-Timing), formatted as an Exchange header block
  // (Exchange::AppendHeader), so a reply copies them in one go.
  using ReplyHeaders = std::string;

  // A request target seen before (with the request headers its plan depends on): its plan,
  // so a repeat skips the signature check, parsing and key hashing, and the formatted reply
  // headers for the image it was last answered with from memory, so a repeated hit neither
  // builds nor formats them (evhttp gets them as one header entry: Exchange::Send()).
  struct HotPath {
    PlanPtr plan;
    // Weak, so the table never keeps an evicted image alive; compared by owner, so a new image
    // at a reused address cannot pass for it.
    std::weak_ptr<const cache::CachedImage> image;
    ReplyHeaders headers;
  };

  // The rest of Handle() once the source's purge generation (part of the key) is known.
  // `hot`: the hot path the plan came from, if any.
  // Verifies and plans `path`, then looks the plan up (remembered under `hot_key` unless empty).
  void MakePlan(const ExchangePtr& exchange, std::string_view path, std::string hot_key,
                AttemptPtr attempt);
  // `attempt` null: the ordinary terms (errors answered, misses rendered).
  void LookUp(const ExchangePtr& exchange, PlanPtr plan, std::string hot_key,
              std::shared_ptr<const HotPath> hot, AttemptPtr attempt);
  // Attempt::cached_only after a memory miss: the slower tiers, never a render.
  void LookUpCached(const ExchangePtr& exchange, PlanPtr plan, AttemptPtr attempt);
  // Format upgrade (plan->fallback_format): the negotiated format from a tier below memory if one
  // holds it; else the fallback plan's answer, as any request's, while the negotiated format
  // renders in the background.
  void Upgrade(const ExchangePtr& exchange, PlanPtr plan);
  // Coalesced on renders_ as every render is (one per key), at low priority on the CPU pool; the
  // result is stored in the tiers and answers nobody.
  void RenderInBackground(const PlanPtr& plan);
  // The leader's part of a coalesced miss: the tiers below memory and the fleet-wide lease
  // (released if the render fails), then the render; completes renders_ for plan->key.
  void FindOrRender(const PlanPtr& plan, Priority priority);
  void Render(const PlanPtr& plan, Priority priority);
  void Transform(const Plan& plan, const sources::SourceImage& source, double fetch_ms);
  void Finish(const Plan& plan, Rendered rendered);
  ReplyHeaders ImageHeaders(const Plan& plan, const cache::CachedImage& image) const;
  // Answers 304 instead when If-None-Match matches the image.
  void ReplyImage(Exchange& exchange, const Plan& plan, const ReplyHeaders& headers,
                  const cache::CachedImage& image, const std::string& x_cache,
                  const std::string& timing) const;
  void ReplyFromTier(Exchange& exchange, const Plan& plan, const cache::CachedImage& image,
                     const std::string& tier) const;
  void ReplyNotModified(Exchange& exchange, const Plan& plan) const;
  void ReplyError(Exchange& exchange, const common::Error& error) const;

  const Config& config_;
  const Planner& planner_;
  cache::MemoryTier& memory_;
  common::ThreadPool& cpu_;
  sources::SourceCache& sources_;
  cache::TieredCache& tiers_;
  RequestCounters& counters_;
  common::ShardedLru<HotPath> hot_paths_;
  cache::Coalescer<RenderedPtr> renders_;
};

}  // namespace imgorigin::origin
