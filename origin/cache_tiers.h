// Builds the TieredCache from the configuration: the shared tier (Redis or memcached), the disk
// tier and the S3 result tier, in lookup order. Called once on the main thread at start; the
// cache it returns borrows `memory`, which must outlive it.
#pragma once

#include <memory>

#include "cache/memory_tier.h"
#include "cache/tiered_cache.h"
#include "common/status.h"
#include "origin/config.h"

namespace imgorigin::origin {

// Fails (with a message naming the setting) on a bad memcached server list or an unusable disk
// cache directory. A Redis, memcached or S3 result bucket that is down is not an error: the tier
// starts skipped and is retried. `env` supplies the AWS_* variables of the S3 result tier.
common::Result<std::unique_ptr<cache::TieredCache>> OpenTieredCache(
    const Config& config, cache::MemoryTier& memory, const EnvLookup& env = ProcessEnv);

}  // namespace imgorigin::origin
