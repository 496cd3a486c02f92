// POST /v1/purge (API key): {"source": "<source URL>"} makes every variant of that source
// unreachable on every node (its purge generation is bumped through the shared tier) and answers
// the CDN cache tag to invalidate. Handle() runs on event-loop threads.
#pragma once

#include "cache/tiered_cache.h"
#include "origin/config.h"
#include "origin/server.h"

namespace imgorigin::origin {

class PurgeEndpoint {
 public:
  PurgeEndpoint(const Config& config, cache::TieredCache& tiers) : config_(config), tiers_(tiers) {}

  void Handle(const ExchangePtr& exchange);

 private:
  const Config& config_;
  cache::TieredCache& tiers_;
};

}  // namespace imgorigin::origin
