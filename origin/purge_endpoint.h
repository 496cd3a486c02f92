// POST /v1/purge (API key): {"source": "<source URL>"} makes every variant of that source
// unreachable on every node (its purge generation is bumped through the shared tier) and answers
// the CDN cache tag to invalidate. PurgeAndReply() is the same purge for other endpoints
// (DELETE /v1/images/{id}). Both run on event-loop threads.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "cache/tiered_cache.h"
#include "origin/config.h"
#include "origin/server.h"

namespace imgorigin::origin {

class PurgeEndpoint {
 public:
  PurgeEndpoint(const Config& config, cache::TieredCache& tiers) : config_(config), tiers_(tiers) {}

  void Handle(const ExchangePtr& exchange);

  // Purges every variant of `source` (as image keys name it) and answers `status` with `body`
  // plus the purge's fields (source, generation, cache_tag …) and the cache-tag header; 503 when
  // the shared tier cannot be reached.
  void PurgeAndReply(const ExchangePtr& exchange, std::string source, int status,
                     nlohmann::json body);

 private:
  const Config& config_;
  cache::TieredCache& tiers_;
};

}  // namespace imgorigin::origin
