// Builds the TieredCache from the configuration: the shared tier (Redis or memcached) and the
// disk tier, in lookup order. Called once on the main thread at start; the cache it returns
// borrows `memory`, which must outlive it.
#pragma once

#include <memory>

#include "cache/memory_tier.h"
#include "cache/tiered_cache.h"
#include "common/status.h"
#include "origin/config.h"

namespace imgorigin::origin {

// Fails (with a message naming the setting) on a bad memcached server list or an unusable disk
// cache directory. A Redis or memcached that is down is not an error: the tier starts skipped
// and is retried.
common::Result<std::unique_ptr<cache::TieredCache>> OpenTieredCache(const Config& config,
                                                                    cache::MemoryTier& memory);

}  // namespace imgorigin::origin
