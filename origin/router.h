// The router: one handler for every request the server accepts, dispatching by path to one
// endpoint per family: images, /info, /v1/purge, and the admin endpoints (/health, /ready,
// /metrics). Requests the server found malformed and over-long URLs are refused before any
// endpoint sees them. Owns the endpoints, the plan maker they share and the request counters;
// everything it is given lives longer than it. Handle() runs on event-loop threads.
#pragma once

#include "cache/memory_tier.h"
#include "cache/tiered_cache.h"
#include "common/thread_pool.h"
#include "origin/admin_endpoint.h"
#include "origin/config.h"
#include "origin/counters.h"
#include "origin/image_endpoint.h"
#include "origin/image_plan.h"
#include "origin/info_endpoint.h"
#include "origin/purge_endpoint.h"
#include "origin/server.h"
#include "signing/signer.h"
#include "sources/source_cache.h"

namespace imgorigin::origin {

class Router {
 public:
  Router(const Config& config, const signing::Signer& signer, cache::MemoryTier& memory,
         common::ThreadPool& cpu, sources::SourceCache& sources, cache::TieredCache& tiers);

  void Handle(const ExchangePtr& exchange);

  // See AdminEndpoint::SetDraining(). Any thread.
  void SetDraining() { admin_.SetDraining(); }

 private:
  size_t max_url_length_;
  RequestCounters counters_;
  Planner planner_;
  ImageEndpoint image_;
  InfoEndpoint info_;
  PurgeEndpoint purge_;
  AdminEndpoint admin_;
};

}  // namespace imgorigin::origin
